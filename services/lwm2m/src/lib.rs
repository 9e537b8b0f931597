//! The `lwm2m` binary as a library: configuration, the shutdown signal and
//! the target selection that decides which services run in this process.
//!
//! Like Loki and Mimir, one binary runs any component: `--target all` starts
//! everything in one process with embedded backends (standalone mode), and a
//! single target runs one component of the cluster.

pub mod components;
pub mod error;
pub mod settings;
pub mod shutdown;
pub mod startup_checks;
pub mod targets;

pub use error::Error;
pub use settings::Settings;
pub use shutdown::Shutdown;
pub use targets::Target;
