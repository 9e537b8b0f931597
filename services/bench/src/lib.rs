//! `lwm2m-bench`: the benchmarks behind `make bench`.
//!
//! The product runs in its own process from the release `lwm2m` binary
//! (`product`); this process is the load generator (`load`, N `lwm2m-sim`
//! devices) and the observer. Each subcommand prints JSON lines
//! (`record`); `report` turns a run's lines into the results file and its
//! Markdown table, with every product figure divided by its reference
//! measured in the same run (`echo`: UDP echo on loopback;
//! `kafka_reference`: a bare producer to the broker).
//!
//! Scenarios: `storm` (registration storm and memory), `notify` (notify
//! throughput read back from Kafka, `tracker` keeps its books), `rpc`
//! (Read latency through gRPC at fixed rates, paced by `pacer`),
//! `dispatch_rpc` (the same Reads as durable operations through the
//! dispatch service), `import_models` and `import_devices` (the OMA
//! object registry and a device CSV through the registry's gRPC), `dtls` (handshakes per
//! second and per core, memory per session, against the product) and
//! `dtls_engine` (the engine's own cost per handshake, export blob size)
//! and `cluster` (three transport nodes behind `lwm2m_sim`'s hashing UDP
//! balancer: forwarded DTLS records per second and the latency a
//! forwarding hop adds, counted on the wire by `dtls_tap`). Pure parts
//! with unit tests: `percentiles`, `record`, `report`, `tracker`,
//! `dtls_tap`, parts of `process` and `redis_memory`.

pub mod cluster;
pub mod dispatch_rpc;
pub mod dtls;
pub mod dtls_engine;
pub mod dtls_tap;
pub mod echo;
pub mod import_devices;
pub mod import_models;
pub mod kafka_reference;
pub mod load;
pub mod notify;
pub mod pacer;
pub mod percentiles;
pub mod process;
pub mod product;
pub mod record;
pub mod redis_memory;
pub mod report;
pub mod rpc;
pub mod storm;
pub mod tracker;
pub mod values_consumer;
