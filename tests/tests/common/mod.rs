//! Shared harness of the interop and end-to-end tests: an in-process
//! transport node on ephemeral ports (session store in Redis or in memory,
//! in-memory bus), event waiting, child processes whose stdout is read line
//! by line, SIGTERM, and the location of the workspace binaries.
//!
//! Peers (node + npm, libcoap's `coap-client-notls`, Redis, the workspace
//! binaries) are installed by the test setup; a missing one fails the test
//! with a message saying what to install, never skips it.
// Helpers outside #[test] fns may panic: a panic is a test failure, which is
// exactly what a broken precondition should be here.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lwm2m_bus::{MemoryBus, SubscriptionFilter, UplinkBus, UplinkStream};
use lwm2m_core::ModelRegistry;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{RegistrationEvent, RegistrationKind, ResourceValues, UplinkEvent};
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_session::{MemoryStore, RedisStore, SessionStore};
use lwm2m_transport::{TransportConfig, TransportDeps, TransportHandle};
use tokio::sync::mpsc;

/// Generous upper bound for anything to happen; a safety net, never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Which session store a test node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// A started transport node with its bus (and Redis store to clean up).
pub struct TestNode {
    pub handle: TransportHandle,
    pub bus: Arc<dyn UplinkBus>,
    redis: Option<Arc<RedisStore>>,
}

impl TestNode {
    /// A node with the core object models.
    pub async fn start(backend: Backend) -> TestNode {
        Self::start_with_models(backend, ModelRegistry::with_core_objects()).await
    }

    pub async fn start_with_models(backend: Backend, models: ModelRegistry) -> TestNode {
        let (sessions, redis): (Arc<dyn SessionStore>, _) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new()), None),
            Backend::Redis => {
                let prefix = format!("test-interop-{}", uuid::Uuid::new_v4().simple());
                let redis = Arc::new(
                    RedisStore::connect(REDIS_URL, &prefix)
                        .await
                        .unwrap_or_else(|e| {
                            panic!("Redis must run on {REDIS_URL} (the test setup starts it): {e}")
                        }),
                );
                (redis.clone() as Arc<dyn SessionStore>, Some(redis))
            }
        };
        let bus: Arc<dyn UplinkBus> = Arc::new(MemoryBus::new(4096));
        let config = TransportConfig {
            expiry_sweep_interval: Duration::from_millis(200),
            default_request_timeout: Duration::from_secs(10),
            ..TransportConfig::local()
        };
        let deps = TransportDeps {
            sessions,
            bus: bus.clone(),
            models: Arc::new(models),
        };
        let handle = lwm2m_transport::start(config, deps, std::future::pending())
            .await
            .unwrap();
        TestNode { handle, bus, redis }
    }

    pub fn events(&self) -> Events {
        Events(self.bus.subscribe(SubscriptionFilter::all()))
    }

    pub async fn grpc(&self) -> TransportClient<tonic::transport::Channel> {
        TransportClient::connect(format!("http://{}", self.handle.grpc_addr))
            .await
            .unwrap()
    }

    /// Stops the node and deletes its Redis keys.
    pub async fn stop(self) {
        self.handle.shutdown().await.unwrap();
        if let Some(redis) = self.redis {
            redis.delete_everything().await.unwrap();
        }
    }

    /// Waits until `check` holds for the node's stats.
    pub async fn wait_stats(
        &self,
        what: &str,
        check: impl Fn(&lwm2m_transport::TransportStats) -> bool,
    ) -> lwm2m_transport::TransportStats {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.handle.stats();
            if check(&stats) {
                return stats;
            }
            if Instant::now() > deadline {
                panic!("stats never showed {what}: {stats:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A subscription to a node's uplink events.
pub struct Events(pub UplinkStream);

impl Events {
    /// The next event matching `pred` (others are skipped).
    pub async fn next_matching(
        &mut self,
        what: &str,
        pred: impl Fn(&UplinkEvent) -> bool,
    ) -> UplinkEvent {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Ok(Some(Ok(event))) if pred(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("bus closed while waiting for {what}"),
                Err(_) => panic!("no {what} event within {PATIENCE:?}"),
            }
        }
    }

    /// The next registration event of `endpoint` whose kind is one of `kinds`.
    pub async fn registration(
        &mut self,
        endpoint: &str,
        kinds: &[RegistrationKind],
    ) -> (UplinkEvent, RegistrationEvent) {
        let event = self
            .next_matching(&format!("{kinds:?} of {endpoint}"), |e| {
                e.endpoint == endpoint
                    && matches!(&e.payload, Some(Payload::Registration(r))
                        if kinds.iter().any(|k| r.kind == *k as i32))
            })
            .await;
        let Some(Payload::Registration(body)) = event.payload.clone() else {
            unreachable!()
        };
        (event, body)
    }

    /// The next values event of `endpoint` from `source`.
    pub async fn values(
        &mut self,
        endpoint: &str,
        source: lwm2m_proto::events::v1::ValueSource,
    ) -> ResourceValues {
        let event = self
            .next_matching(&format!("{source:?} values of {endpoint}"), |e| {
                e.endpoint == endpoint
                    && matches!(&e.payload, Some(Payload::Values(v)) if v.source == source as i32)
            })
            .await;
        match event.payload {
            Some(Payload::Values(values)) => values,
            _ => unreachable!(),
        }
    }
}

/// Fails with an install hint when `program` is not on PATH.
pub fn require_program(program: &str, install_hint: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed; the test setup must install it ({install_hint})"
    );
}

/// A child process whose stdout is read line by line on a thread.
pub struct LineChild {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every stdout line seen so far, for failure messages.
    pub seen: Vec<String>,
    name: String,
}

impl LineChild {
    /// Takes `child`'s stdout (it must be piped) and, if piped, forwards its
    /// stderr to ours prefixed with `name`.
    pub fn new(name: &str, mut child: Child) -> LineChild {
        let stdout = child.stdout.take().expect("stdout must be piped");
        let (tx, lines) = mpsc::unbounded_channel();
        let prefix = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{prefix} stdout] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        if let Some(stderr) = child.stderr.take() {
            forward_stderr(name, stderr);
        }
        LineChild {
            child,
            lines,
            seen: Vec::new(),
            name: name.to_owned(),
        }
    }

    /// The next stdout line satisfying `pred` (others are kept in `seen`).
    pub async fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "{} closed stdout ({:?}) before printing {what}; it printed {:?}",
                    self.name,
                    self.child.try_wait(),
                    self.seen
                ),
                Err(_) => panic!(
                    "{} printed no {what} within {PATIENCE:?}; it printed {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        sigterm(self.child.id());
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        sigint(self.child.id());
    }

    /// Waits for the exit (SIGKILL after PATIENCE).
    pub async fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child, &self.name).await
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies a child's stderr to ours, line by line, prefixed (cargo test
/// captures it and shows it for failed tests).
pub fn forward_stderr(name: &str, stderr: impl Read + Send + 'static) {
    let prefix = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{prefix}] {line}");
        }
    });
}

/// Sends SIGTERM to `pid` (std's `Child::kill` only sends SIGKILL).
pub fn sigterm(pid: u32) {
    send_signal(pid, "TERM");
}

/// Sends SIGINT (Ctrl-C) to `pid`.
pub fn sigint(pid: u32) {
    send_signal(pid, "INT");
}

/// `kill -<signal> <pid>`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// Waits for `child` to exit; kills it and fails after PATIENCE.
pub async fn wait_child(child: &mut Child, name: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not exit within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
