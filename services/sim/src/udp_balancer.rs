//! A small UDP load balancer for clusters of transport nodes (the cluster
//! tests and the `cluster.forwarded_records` benchmark), in front of the
//! nodes like a Kubernetes Service or nginx' stream module: it picks a
//! backend by hashing the client's source address and port, and proxies
//! (the nodes see the balancer's per-client upstream socket, and answers
//! must come back from the node the client was sent to). A client whose
//! source port changes (NAT rebinding) may land on another node.
//!
//! Written here rather than using nginx because the tests need to see and
//! change which node a client lands on (`backend_for`, `set_backend`,
//! `add_backend`), and the benchmark needs to see every datagram
//! ([`Observer`]). In a deployment, nginx's `hash $remote_addr$remote_port`
//! with `proxy_responses` does the same job.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Sees every datagram the balancer passes on (e.g. to count DTLS records
/// by the node their Connection ID names). Called on the balancer's own
/// tasks: keep it cheap.
pub trait Observer: Send + Sync + 'static {
    /// A datagram from `client` on its way to backend number `backend`.
    fn upstream(&self, _client: SocketAddr, _backend: usize, _datagram: &[u8]) {}
    /// A datagram from backend number `backend` on its way back to `client`.
    fn downstream(&self, _client: SocketAddr, _backend: usize, _datagram: &[u8]) {}
}

/// A running balancer; stops when dropped.
pub struct UdpBalancer {
    /// Where clients send to.
    pub addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    /// Backends taken out (a pod failing its readiness probe): no flow
    /// goes to them.
    down: Arc<Mutex<BTreeSet<usize>>>,
    task: JoinHandle<()>,
}

/// FNV-1a over the address and port: stable across runs.
fn hash(client: SocketAddr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = client.to_string();
    for b in bytes.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The backend index of `client` among `n` backends (`None` without any).
fn pick(client: SocketAddr, n: usize) -> Option<usize> {
    let n = u64::try_from(n).ok().filter(|n| *n > 0)?;
    usize::try_from(hash(client) % n).ok()
}

/// The backend index of `client` among the `n` backends not `down`: the
/// same as [`pick`] while none is down.
fn pick_up(client: SocketAddr, n: usize, down: &BTreeSet<usize>) -> Option<usize> {
    let up: Vec<usize> = (0..n).filter(|i| !down.contains(i)).collect();
    up.get(pick(client, up.len())?).copied()
}

fn lock_down(down: &Mutex<BTreeSet<usize>>) -> MutexGuard<'_, BTreeSet<usize>> {
    down.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock(backends: &Mutex<Vec<SocketAddr>>) -> MutexGuard<'_, Vec<SocketAddr>> {
    backends.lock().unwrap_or_else(|e| e.into_inner())
}

impl UdpBalancer {
    /// Binds 127.0.0.1 on an ephemeral port and balances over `backends`.
    ///
    /// # Panics
    ///
    /// When no loopback socket can be bound (a test harness's
    /// precondition); [`UdpBalancer::bind`] returns the error instead.
    #[allow(clippy::expect_used)]
    pub async fn start(backends: Vec<SocketAddr>) -> UdpBalancer {
        Self::bind(backends, None)
            .await
            .expect("bind the balancer's loopback socket")
    }

    /// Binds 127.0.0.1 on an ephemeral port and balances over `backends`,
    /// showing every datagram to `observer`.
    pub async fn bind(
        backends: Vec<SocketAddr>,
        observer: Option<Arc<dyn Observer>>,
    ) -> std::io::Result<UdpBalancer> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let backends = Arc::new(Mutex::new(backends));
        let down = Arc::new(Mutex::new(BTreeSet::new()));
        let task = tokio::spawn(run(
            front,
            Arc::clone(&backends),
            Arc::clone(&down),
            observer,
        ));
        Ok(UdpBalancer {
            addr,
            backends,
            down,
            task,
        })
    }

    /// The backend a client lands on (0 when there is none).
    pub fn backend_for(&self, client: SocketAddr) -> usize {
        let n = lock(&self.backends).len();
        pick_up(client, n, &lock_down(&self.down)).unwrap_or(0)
    }

    /// Takes a backend out (`true`) or back in: flows to a backend taken
    /// out move to another at their next datagram, as a Service drops a
    /// pod that fails its readiness probe.
    pub fn set_down(&self, index: usize, down: bool) {
        let mut set = lock_down(&self.down);
        if down {
            set.insert(index);
        } else {
            set.remove(&index);
        }
    }

    /// Adds a backend (a node joined); new flows may hash to it.
    pub fn add_backend(&self, addr: SocketAddr) {
        lock(&self.backends).push(addr);
    }

    /// Replaces a backend (a node restarted on another address); existing
    /// flows keep their upstream. An index out of range is ignored.
    pub fn set_backend(&self, index: usize, addr: SocketAddr) {
        if let Some(slot) = lock(&self.backends).get_mut(index) {
            *slot = addr;
        }
    }
}

impl Drop for UdpBalancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client's flow: its upstream socket, the backend it was sent to, and
/// the task carrying the answers back.
struct Flow {
    upstream: Arc<UdpSocket>,
    backend: usize,
    back: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.back.abort();
    }
}

async fn run(
    front: Arc<UdpSocket>,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    down: Arc<Mutex<BTreeSet<usize>>>,
    observer: Option<Arc<dyn Observer>>,
) {
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let datagram = buf.get(..len).unwrap_or_default();
        // A flow to a backend taken out moves at its next datagram.
        let moved = flows
            .get(&client)
            .is_some_and(|flow| lock_down(&down).contains(&flow.backend));
        if moved {
            flows.remove(&client);
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = flows.entry(client) {
            let picked = {
                let backends = lock(&backends);
                pick_up(client, backends.len(), &lock_down(&down))
                    .and_then(|i| Some((i, *backends.get(i)?)))
            };
            let Some((index, backend)) = picked else {
                continue; // no backend: dropped, as a Service without endpoints does
            };
            match open_flow(&front, client, index, backend, observer.clone()).await {
                Ok(flow) => {
                    slot.insert(flow);
                }
                Err(e) => {
                    tracing::warn!(%client, %backend, error = %e, "balancer: no upstream socket");
                    continue;
                }
            }
        }
        if let Some(flow) = flows.get(&client) {
            if let Some(observer) = &observer {
                observer.upstream(client, flow.backend, datagram);
            }
            let _ = flow.upstream.send(datagram).await;
        }
    }
}

async fn open_flow(
    front: &Arc<UdpSocket>,
    client: SocketAddr,
    index: usize,
    backend: SocketAddr,
    observer: Option<Arc<dyn Observer>>,
) -> std::io::Result<Flow> {
    let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    upstream.connect(backend).await?;
    let (up, front) = (Arc::clone(&upstream), Arc::clone(front));
    let back = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match up.recv(&mut buf).await {
                Ok(len) => {
                    let datagram = buf.get(..len).unwrap_or_default();
                    if let Some(observer) = &observer {
                        observer.downstream(client, index, datagram);
                    }
                    let _ = front.send_to(datagram, client).await;
                }
                // ICMP unreachable while a node restarts: the
                // flow stays, the next datagram may get through.
                Err(_) => tokio::task::yield_now().await,
            }
        }
    });
    Ok(Flow {
        upstream,
        backend: index,
        back,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    struct Count {
        up: AtomicU64,
        down: AtomicU64,
    }

    impl Observer for Count {
        fn upstream(&self, _: SocketAddr, _: usize, _: &[u8]) {
            self.up.fetch_add(1, Ordering::Relaxed);
        }
        fn downstream(&self, _: SocketAddr, _: usize, _: &[u8]) {
            self.down.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn proxies_to_the_hashed_backend_and_back() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                let _ = echo.send_to(&buf[..n], from).await;
            }
        });
        let count = Arc::new(Count::default());
        let observer: Arc<dyn Observer> = count.clone();
        let balancer = UdpBalancer::bind(vec![echo_addr], Some(observer))
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(balancer.backend_for(client.local_addr().unwrap()), 0);
        client.send_to(b"ping", balancer.addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], balancer.addr));
        assert_eq!(count.up.load(Ordering::Relaxed), 1);
        assert_eq!(count.down.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn backends_taken_out_get_no_client() {
        let client = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let none = BTreeSet::new();
        let down: BTreeSet<usize> = [1].into();
        for port in 40_000..40_030 {
            let before = pick_up(client(port), 3, &none).unwrap();
            assert_eq!(Some(before), pick(client(port), 3));
            let after = pick_up(client(port), 3, &down).unwrap();
            assert_ne!(after, 1);
        }
        assert_eq!(pick_up(client(1), 1, &[0].into()), None);
    }

    #[test]
    fn the_hash_spreads_ports_and_never_divides_by_zero() {
        let backend_of = |port: u16| pick(SocketAddr::from(([127, 0, 0, 1], port)), 3);
        let mut seen = [false; 3];
        for port in 40_000..40_030 {
            seen[backend_of(port).unwrap()] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(pick(SocketAddr::from(([127, 0, 0, 1], 1)), 0), None);
    }
}
