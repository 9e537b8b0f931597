//! Test harness: a real Kafka-protocol broker (tansu) and a consumer.
//!
//! `Broker::shared()` uses `LWM2M_TEST_KAFKA_BROKERS` if set, else a broker
//! already listening on 127.0.0.1:9092, else starts tansu on a free port.
//! `Broker::start_on(port)` always starts tansu (tests that need the broker
//! to come up late). Tansu runs from a temp dir (no `.env` is picked up)
//! with the SQLite storage engine (`<tmpdir>/tansu.db`), and is killed when the `Broker` drops.
//! Each test uses its own topic names, so tests can share a broker.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lwm2m_bus::KafkaTopics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// A broker for one test (or shared by tests when it was already running).
pub struct Broker {
    pub brokers: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

impl Broker {
    /// A broker to publish to right away.
    pub async fn shared() -> Broker {
        if let Ok(brokers) = std::env::var("LWM2M_TEST_KAFKA_BROKERS") {
            wait_ready(&brokers, Duration::from_secs(30)).await;
            return Broker {
                brokers,
                child: None,
                dir: None,
            };
        }
        if TcpStream::connect_timeout(
            &"127.0.0.1:9092".parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            let brokers = "127.0.0.1:9092".to_string();
            wait_ready(&brokers, Duration::from_secs(30)).await;
            return Broker {
                brokers,
                child: None,
                dir: None,
            };
        }
        Self::start_on(free_port()).await
    }

    /// Starts tansu on `port` and waits until it answers metadata requests.
    pub async fn start_on(port: u16) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir for tansu");
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log")).unwrap();
        let child = Command::new(tansu_bin())
            .current_dir(dir.path())
            // tansu resolves the SQLite path against its working directory.
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({}): {e}", tansu_bin().display()));
        let broker = Broker {
            brokers: format!("127.0.0.1:{port}"),
            child: Some(child),
            dir: Some(dir),
        };
        wait_ready(&broker.brokers, Duration::from_secs(60)).await;
        broker
    }

    /// The tansu log, for failure messages.
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.path().join("tansu.log")).ok())
            .unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tansu_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
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

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the broker returns cluster metadata.
pub async fn wait_ready(brokers: &str, timeout: Duration) {
    let brokers = brokers.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("log_level", "0")
            .create()
            .unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            match consumer.fetch_metadata(None, Duration::from_secs(2)) {
                Ok(md) if !md.brokers().is_empty() => return,
                result => {
                    if Instant::now() > deadline {
                        panic!(
                            "broker {brokers} not ready after {timeout:?}: {:?}",
                            result.err()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })
    .await
    .unwrap();
}

/// Topic names unique to one test.
pub fn unique_topics(test: &str) -> KafkaTopics {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let id = &id[..8];
    KafkaTopics {
        registrations: format!("t-{test}-{id}-registrations"),
        values: format!("t-{test}-{id}-values"),
        transport_log: format!("t-{test}-{id}-log"),
    }
}

/// Creates the topics (an existing topic is fine).
pub async fn create_topics(brokers: &str, topics: &KafkaTopics, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let new: Vec<_> = topics
        .all()
        .into_iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &opts).await.unwrap() {
        match result {
            Ok(_) => {}
            Err((topic, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                eprintln!("topic {topic} already exists")
            }
            Err((topic, code)) => panic!("cannot create topic {topic}: {code:?}"),
        }
    }
}

/// A record as consumed.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Received {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Consumes `expected` records from `topics` in a fresh consumer group, then
/// keeps reading for `linger` to catch extras (duplicates), and closes the
/// consumer (unsubscribe + drop) so the group is left at once.
pub async fn consume(
    brokers: &str,
    topics: &[&str],
    expected: usize,
    timeout: Duration,
    linger: Duration,
) -> Vec<Received> {
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(topics).unwrap();
    let mut out = Vec::new();
    {
        let mut stream = consumer.stream();
        let deadline = tokio::time::Instant::now() + timeout;
        while out.len() < expected {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(msg))) => out.push(received(&msg)),
                Ok(Some(Err(e))) => eprintln!("consumer error (retrying): {e}"),
                Ok(None) => break,
                Err(_) => break,
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

fn received(msg: &rdkafka::message::BorrowedMessage<'_>) -> Received {
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
