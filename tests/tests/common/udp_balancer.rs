//! A small UDP load balancer for the cluster tests, in front of the
//! transport nodes like a Kubernetes Service or nginx' stream module: it
//! picks a backend by hashing the client's source address and port, and
//! proxies (the nodes see the balancer's per-client upstream socket, and
//! answers must come back from the node the client was sent to). A client
//! whose source port changes (NAT rebinding) may land on another node.
//!
//! Written here rather than using nginx because the tests need to see and
//! change which node a client lands on (`backend_for`, `set_backends`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub struct UdpBalancer {
    pub addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
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

impl UdpBalancer {
    pub async fn start(backends: Vec<SocketAddr>) -> UdpBalancer {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = front.local_addr().unwrap();
        let backends = Arc::new(Mutex::new(backends));
        let task = tokio::spawn(run(front, Arc::clone(&backends)));
        UdpBalancer {
            addr,
            backends,
            task,
        }
    }

    /// The backend a client lands on.
    pub fn backend_for(&self, client: SocketAddr) -> usize {
        let n = self.backends.lock().unwrap().len() as u64;
        usize::try_from(hash(client) % n).unwrap()
    }

    /// Adds a backend (a node joined); new flows may hash to it.
    pub fn add_backend(&self, addr: SocketAddr) {
        self.backends.lock().unwrap().push(addr);
    }

    /// Replaces a backend (a node restarted on another address); existing
    /// flows keep their upstream.
    pub fn set_backend(&self, index: usize, addr: SocketAddr) {
        self.backends.lock().unwrap()[index] = addr;
    }
}

impl Drop for UdpBalancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(front: Arc<UdpSocket>, backends: Arc<Mutex<Vec<SocketAddr>>>) {
    let mut flows: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let upstream = match flows.get(&client) {
            Some((upstream, _)) => Arc::clone(upstream),
            None => {
                let backend = {
                    let backends = backends.lock().unwrap();
                    backends[usize::try_from(hash(client) % backends.len() as u64).unwrap()]
                };
                let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                upstream.connect(backend).await.unwrap();
                let (up, front) = (Arc::clone(&upstream), Arc::clone(&front));
                let back = tokio::spawn(async move {
                    let mut buf = vec![0u8; 65_536];
                    loop {
                        match up.recv(&mut buf).await {
                            Ok(len) => {
                                let _ = front.send_to(&buf[..len], client).await;
                            }
                            // ICMP unreachable while a node restarts: the
                            // flow stays, the next datagram may get through.
                            Err(_) => tokio::task::yield_now().await,
                        }
                    }
                });
                flows.insert(client, (Arc::clone(&upstream), back));
                upstream
            }
        };
        let _ = upstream.send(&buf[..len]).await;
    }
}
