//! The product under test, started as its own process from the release
//! `lwm2m` binary, configured only through `LWM2M_*` variables as an
//! operator would: standalone (`--target all`, embedded backends) or a
//! cluster transport node (`--target transport` on real Redis and a real
//! Kafka-protocol broker, with a Redis key prefix and topics of its own that
//! are removed afterwards).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lwm2m_bus::KafkaTopics;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::ListRegistrationsRequest;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use tonic::transport::Channel;

use crate::process::{free_tcp_port, free_udp_port, ChildProcess};
use crate::redis_memory;

/// How long the product may take to answer gRPC after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Partitions of the bench topics (two transport cores, two partitions).
const PARTITIONS: i32 = 2;

/// Which processes a scenario runs against.
#[derive(Debug, Clone, PartialEq, Eq, clap::ValueEnum)]
pub enum Deployment {
    /// `lwm2m run --target all`: in-memory sessions and bus.
    Standalone,
    /// `lwm2m run --target transport` on Redis and Kafka.
    Cluster,
}

impl Deployment {
    pub fn name(&self) -> &'static str {
        match self {
            Deployment::Standalone => "standalone",
            Deployment::Cluster => "cluster",
        }
    }
}

/// Where the product and its backends are.
#[derive(Debug, Clone, clap::Args)]
pub struct ProductArgs {
    /// The release `lwm2m` binary.
    #[arg(long, default_value = "target/release/lwm2m")]
    pub lwm2m_bin: PathBuf,
    /// Redis for the cluster deployment.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Kafka-protocol brokers for the cluster deployment.
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub brokers: String,
    /// Where the product's log goes (default: a temporary directory).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
}

/// A running product.
pub struct Product {
    pub deployment: Deployment,
    pub coap: SocketAddr,
    /// CoAP over DTLS.
    pub coaps: SocketAddr,
    pub grpc: SocketAddr,
    /// The registry's gRPC (standalone only).
    pub registry_grpc: SocketAddr,
    /// The dispatch service's gRPC (standalone only). Chosen here rather
    /// than left at its default (`grpc.bind` port + 2), which nobody
    /// reserved and another process may hold.
    pub dispatch_grpc: SocketAddr,
    /// Cluster only: the topics this run publishes to.
    pub topics: Option<KafkaTopics>,
    pub brokers: String,
    /// Cluster only: Redis, where this run's sessions live under `redis_prefix`.
    pub redis: Option<redis::aio::MultiplexedConnection>,
    pub redis_prefix: String,
    process: Option<ChildProcess>,
    _workdir: tempfile::TempDir,
}

impl Product {
    /// Starts the product and waits until its gRPC surface answers.
    pub async fn start(deployment: Deployment, args: &ProductArgs, run: &str) -> Result<Product> {
        Self::start_with(deployment, args, run, &[]).await
    }

    /// [`Product::start`] with more `LWM2M_*` settings (DTLS key files...).
    pub async fn start_with(
        deployment: Deployment,
        args: &ProductArgs,
        run: &str,
        settings: &[(&str, String)],
    ) -> Result<Product> {
        let workdir = tempfile::tempdir()?;
        let registry_grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
        let dispatch_grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
        let coap: SocketAddr = format!("127.0.0.1:{}", free_udp_port()?).parse()?;
        let coaps: SocketAddr = format!("127.0.0.1:{}", free_udp_port()?).parse()?;
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
        let mut command = lwm2m_command(args, workdir.path())?;
        command
            .env("LWM2M_TRANSPORT_COAP_BIND", coap.to_string())
            .env("LWM2M_TRANSPORT_COAPS_BIND", coaps.to_string())
            .env("LWM2M_GRPC_BIND", grpc.to_string())
            .env("LWM2M_REGISTRY_GRPC_BIND", registry_grpc.to_string())
            .env("LWM2M_DISPATCH_GRPC_BIND", dispatch_grpc.to_string())
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())));
        let redis_prefix = format!("bench-{run}");
        let (topics, redis) = match deployment {
            Deployment::Standalone => {
                command.args(["run", "--target", "all"]);
                (None, None)
            }
            Deployment::Cluster => {
                let topics = KafkaTopics {
                    registrations: format!("bench-{run}-registrations"),
                    values: format!("bench-{run}-values"),
                    transport_log: format!("bench-{run}-log"),
                };
                create_topics(&args.brokers, &topics).await?;
                let redis = redis_memory::connect(&args.redis).await?;
                command
                    .args(["run", "--target", "transport"])
                    .env("LWM2M_STORAGE_SESSIONS", &args.redis)
                    .env("LWM2M_STORAGE_SESSION_PREFIX", &redis_prefix)
                    .env("LWM2M_STORAGE_BUS", "kafka")
                    .env("LWM2M_KAFKA_BROKERS", &args.brokers)
                    .env("LWM2M_KAFKA_TOPIC_REGISTRATIONS", &topics.registrations)
                    .env("LWM2M_KAFKA_TOPIC_VALUES", &topics.values)
                    .env("LWM2M_KAFKA_TOPIC_TRANSPORT_LOG", &topics.transport_log);
                (Some(topics), Some(redis))
            }
        };
        let log = args
            .log_dir
            .clone()
            .unwrap_or_else(|| workdir.path().to_path_buf())
            .join(format!("lwm2m-{}-{run}.log", deployment.name()));
        let process = ChildProcess::spawn("lwm2m", command, Some(&log))?;
        let mut product = Product {
            deployment,
            coap,
            coaps,
            grpc,
            registry_grpc,
            dispatch_grpc,
            topics,
            brokers: args.brokers.clone(),
            redis,
            redis_prefix,
            process: Some(process),
            _workdir: workdir,
        };
        product.wait_ready().await?;
        Ok(product)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            self.process_mut()?.check_alive()?;
            if let Ok(mut client) = self.grpc_client().await {
                let listed = client
                    .list_registrations(ListRegistrationsRequest {
                        page_size: 1,
                        ..Default::default()
                    })
                    .await;
                if listed.is_ok() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "the product did not answer gRPC on {} within {READY_TIMEOUT:?}",
                    self.grpc
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn process_mut(&mut self) -> Result<&mut ChildProcess> {
        self.process.as_mut().context("product already stopped")
    }

    /// The product's process (for RSS and CPU readings).
    pub fn process(&self) -> Result<&ChildProcess> {
        self.process.as_ref().context("product already stopped")
    }

    /// Fails when the product died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.process_mut()?.check_alive()
    }

    /// A gRPC client of the transport.
    pub async fn grpc_client(&self) -> Result<TransportClient<Channel>> {
        Ok(TransportClient::connect(format!("http://{}", self.grpc)).await?)
    }

    /// A channel to another gRPC surface of a standalone product (the
    /// registry's, the dispatch service's). `--target all` starts them
    /// beside the transport, not necessarily before the transport answers,
    /// so this waits for the listener first.
    pub async fn channel_to(&self, addr: SocketAddr) -> Result<Channel> {
        crate::process::wait_for_tcp(addr, READY_TIMEOUT).await?;
        Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to gRPC on {addr}"))
    }

    /// Stops the product and deletes this run's Redis keys.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(process) = self.process.take() {
            process.stop(Duration::from_secs(10));
        }
        if let Some(redis) = self.redis.as_mut() {
            redis_memory::delete_under(redis, &self.redis_prefix)
                .await
                .with_context(|| format!("cannot delete Redis keys {}:*", self.redis_prefix))?;
        }
        Ok(())
    }
}

/// The `lwm2m` binary as a command configured by nothing but what the
/// caller adds: no `LWM2M_*` variable of the caller's shell, an empty
/// working directory (no stray .env or database file), and `LWM2M_LOG`
/// from `BENCH_PRODUCT_LOG` (default `warn`; `debug` shows what the
/// product did).
pub fn lwm2m_command(args: &ProductArgs, workdir: &Path) -> Result<Command> {
    let bin = std::fs::canonicalize(&args.lwm2m_bin).with_context(|| {
        format!(
            "{} not found: build it with `cargo build --release -p lwm2m`",
            args.lwm2m_bin.display()
        )
    })?;
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LWM2M_") {
            command.env_remove(key);
        }
    }
    command.current_dir(workdir).env(
        "LWM2M_LOG",
        std::env::var("BENCH_PRODUCT_LOG").unwrap_or_else(|_| "warn".into()),
    );
    Ok(command)
}

/// Creates the topics (tansu does not create them on first use).
pub async fn create_topics(brokers: &str, topics: &KafkaTopics) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<_> = topics
        .all()
        .into_iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin
        .create_topics(&new, &options)
        .await
        .with_context(|| format!("cannot create topics on {brokers}"))?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic {topic}: {code:?}"),
        }
    }
    Ok(())
}
