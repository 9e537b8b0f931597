//! Test harness for code that talks to Kafka (feature `testing`): a real
//! Kafka-protocol broker, topics unique to one test, and a consumer.
//!
//! [`TestBroker::start_or_reuse`] uses `LWM2M_TEST_KAFKA_BROKERS` if set,
//! else a broker already listening on 127.0.0.1:9092, else starts tansu
//! (`$TANSU_BIN`, else `~/.cargo/bin/tansu`, else `tansu` on `PATH`) on a
//! free port. [`TestBroker::start_on`] always starts tansu (tests that need
//! the broker to come up late). Tansu runs from a temp dir (so no `.env` is
//! picked up) with the SQLite storage engine (`<tmpdir>/tansu.db`) and is
//! killed when the [`TestBroker`] drops.
//!
//! There is no "skip": when no broker can be found or started, these
//! helpers panic with a message saying what to install or set, so the test
//! fails loudly. Each test uses its own topic names ([`unique_topics`]), so
//! tests can share a broker.
//!
//! ```no_run
//! # async fn demo() {
//! use lwm2m_bus::testing::{consume, create_topics, unique_topics, TestBroker};
//! use std::time::Duration;
//!
//! let broker = TestBroker::start_or_reuse().await;
//! let topics = unique_topics("demo");
//! create_topics(&broker.brokers, &topics, 2).await;
//! // ... publish 3 events ...
//! let records = consume(
//!     &broker.brokers,
//!     &[&topics.values],
//!     3,
//!     Duration::from_secs(60),
//!     Duration::from_secs(1),
//! )
//! .await;
//! assert_eq!(records.len(), 3);
//! # }
//! ```
// Test support only: a panic here is a test failure with a clear message,
// which is exactly what a harness should do when the broker is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::KafkaTopics;

/// Environment variable naming an external broker (`host:port[,...]`).
pub const BROKERS_ENV: &str = "LWM2M_TEST_KAFKA_BROKERS";
/// Environment variable naming the tansu binary.
pub const TANSU_BIN_ENV: &str = "TANSU_BIN";
/// librdkafka `debug` contexts for the test consumer (e.g. `cgrp,fetch`).
pub const DEBUG_ENV: &str = "LWM2M_TEST_KAFKA_DEBUG";
/// The broker reused when one already listens there.
pub const DEFAULT_BROKER: &str = "127.0.0.1:9092";

/// How long an external broker may take to answer metadata requests.
const EXTERNAL_READY: Duration = Duration::from_secs(30);
/// How long a freshly started tansu may take.
const TANSU_READY: Duration = Duration::from_secs(60);

/// A broker for one test (or shared by tests when it was already running).
/// A tansu started by the harness is killed on drop.
#[derive(Debug)]
pub struct TestBroker {
    /// Bootstrap servers, `host:port`.
    pub brokers: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// A broker to publish to right away: `LWM2M_TEST_KAFKA_BROKERS`, else
    /// one on 127.0.0.1:9092, else tansu on a free port. Panics (failing
    /// the test) when none of these works.
    pub async fn start_or_reuse() -> TestBroker {
        if let Ok(brokers) = std::env::var(BROKERS_ENV) {
            if let Err(e) = wait_ready(&brokers, EXTERNAL_READY).await {
                panic!("{BROKERS_ENV}={brokers} is set but the broker is not usable: {e}");
            }
            return TestBroker::external(brokers);
        }
        let default: SocketAddr = DEFAULT_BROKER.parse().unwrap();
        if TcpStream::connect_timeout(&default, Duration::from_millis(200)).is_ok() {
            if let Err(e) = wait_ready(DEFAULT_BROKER, EXTERNAL_READY).await {
                panic!(
                    "something listens on {DEFAULT_BROKER} but is not a usable Kafka broker: {e}"
                );
            }
            return TestBroker::external(DEFAULT_BROKER.to_string());
        }
        Self::start_on(free_port()).await
    }

    /// Starts tansu on `port` and waits until it answers metadata requests.
    /// Panics (failing the test) when tansu cannot be started.
    pub async fn start_on(port: u16) -> TestBroker {
        let bin = tansu_bin();
        let dir = tempfile::tempdir().expect("temp dir for tansu");
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log")).expect("tansu log file");
        let child = Command::new(&bin)
            .current_dir(dir.path())
            // tansu resolves the SQLite path against its working directory.
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("tansu log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "no Kafka broker for the test: cannot start tansu ({}): {e}. \
                     Install it (`cargo install tansu`), set {TANSU_BIN_ENV}, \
                     or point {BROKERS_ENV} at a running broker",
                    bin.display()
                )
            });
        let dir_path = dir.path().to_owned();
        let mut broker = TestBroker {
            brokers: format!("127.0.0.1:{port}"),
            child: Some(child),
            dir: Some(dir),
        };
        let ready = match wait_ready(&broker.brokers, TANSU_READY).await {
            Ok(()) => index_headers(&dir_path.join("tansu.db")).await,
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            let exited = broker
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            panic!(
                "tansu ({}) on {} not ready: {e}; process exit status: {exited:?}; log:\n{}",
                bin.display(),
                broker.brokers,
                broker.log()
            );
        }
        broker
    }

    fn external(brokers: String) -> TestBroker {
        TestBroker {
            brokers,
            child: None,
            dir: None,
        }
    }

    /// Whether this broker was started by the harness (and dies with it).
    pub fn is_owned(&self) -> bool {
        self.child.is_some()
    }

    /// The tansu log (empty for an external broker), for failure messages.
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.path().join("tansu.log")).ok())
            .unwrap_or_default()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tansu_bin() -> PathBuf {
    if let Ok(bin) = std::env::var(TANSU_BIN_ENV) {
        return bin.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = PathBuf::from(home).join(".cargo/bin/tansu");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        "tansu".into()
    }
}

/// Adds the index tansu 0.6's SQLite schema lacks: its `header` table has no
/// index on `(topition, offset_id)`, yet every fetched record looks its
/// headers up by exactly that, so each record costs a scan of all headers
/// and a read-back of ten thousand events with trace headers takes minutes
/// (measured: 13,000 records, fewer than 5,000 read in 5 minutes). With the
/// index the 1,000-device fleet test reads all 13,000 back in seconds.
/// Drop this once tansu ships the index.
async fn index_headers(db: &std::path::Path) -> Result<(), String> {
    use sqlx::ConnectOptions as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(10));
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("open {}: {e}", db.display()))?;
    sqlx::query(
        "create index if not exists header_topition_offset_id on header (topition, offset_id)",
    )
    .execute(&mut conn)
    .await
    .map_err(|e| format!("index tansu's header table in {}: {e}", db.display()))?;
    sqlx::Connection::close(conn)
        .await
        .map_err(|e| format!("close {}: {e}", db.display()))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits until the broker returns cluster metadata with at least one broker.
pub async fn wait_ready(brokers: &str, timeout: Duration) -> Result<(), String> {
    let brokers = brokers.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("log_level", "0")
            .create()
            .map_err(|e| format!("cannot create a Kafka client: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match consumer.fetch_metadata(None, Duration::from_secs(2)) {
                Ok(md) if !md.brokers().is_empty() => return Ok(()),
                result => {
                    if Instant::now() > deadline {
                        return Err(format!(
                            "broker {brokers} not ready after {timeout:?}: {:?}",
                            result.err()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })
    .await
    .map_err(|e| format!("readiness check failed: {e}"))?
}

/// Topic names unique to one test: `t-{test}-{random}-{kind}`.
pub fn unique_topics(test: &str) -> KafkaTopics {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let id = &id[..8];
    KafkaTopics {
        registrations: format!("t-{test}-{id}-registrations"),
        values: format!("t-{test}-{id}-values"),
        transport_log: format!("t-{test}-{id}-log"),
    }
}

/// Creates all of `topics` with `partitions` partitions (tansu does not
/// auto-create topics). An existing topic is fine; anything else panics.
pub async fn create_topics(brokers: &str, topics: &KafkaTopics, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("Kafka admin client");
    let new: Vec<_> = topics
        .all()
        .into_iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .unwrap_or_else(|e| panic!("cannot create topics on {brokers}: {e}"));
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => panic!("cannot create topic {topic}: {code:?}"),
        }
    }
}

/// A record as consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The key as UTF-8 (lossy); empty when the record has none.
    pub key: String,
    pub payload: Vec<u8>,
    /// Headers as UTF-8 (lossy), in record order.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// The first header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `expected` records from `topics` from the beginning, in a fresh
/// consumer group, giving up at `timeout`; then keeps reading for `linger`
/// to catch extras (duplicates). Returns what it read, in consumption order
/// (per partition: offset order), so callers assert the exact count. The
/// consumer is closed properly (unsubscribe, then drop) so its group is
/// left at once.
pub async fn consume(
    brokers: &str,
    topics: &[&str],
    expected: usize,
    timeout: Duration,
    linger: Duration,
) -> Vec<Received> {
    consume_until(brokers, topics, timeout, linger, |read| {
        read.len() >= expected
    })
    .await
}

/// Like [`consume`], but reads until `done` holds for what was read so far
/// (checked after each record), then lingers.
pub async fn consume_until(
    brokers: &str,
    topics: &[&str],
    timeout: Duration,
    linger: Duration,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000");
    if let Ok(debug) = std::env::var(DEBUG_ENV) {
        config.set("debug", debug);
    }
    let consumer: StreamConsumer = config.create().expect("Kafka consumer");
    consumer
        .subscribe(topics)
        .unwrap_or_else(|e| panic!("cannot subscribe to {topics:?}: {e}"));
    let mut out = Vec::new();
    {
        let mut stream = consumer.stream();
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&out) {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(msg))) => out.push(received(&msg)),
                Ok(Some(Err(e))) => eprintln!("consumer error (retrying): {e}"),
                Ok(None) | Err(_) => break,
            }
        }
        let linger_end = tokio::time::Instant::now() + linger;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(linger_end, stream.next()).await {
            out.push(received(&msg));
        }
    }
    consumer.unsubscribe();
    drop(consumer);
    out
}

fn received(msg: &BorrowedMessage<'_>) -> Received {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    let v = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                    (h.key.to_string(), v.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    Received {
        topic: msg.topic().to_string(),
        partition: msg.partition(),
        offset: msg.offset(),
        key: String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
        payload: msg.payload().unwrap_or_default().to_vec(),
        headers,
    }
}
