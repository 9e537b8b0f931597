//! The one error type of the `lwm2m` service binary and its library.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value that cannot be used; `key` is the dotted key
    /// (`dtls.connection_id_length`), as in the TOML file.
    #[error("configuration key `{key}`: {reason}")]
    Config { key: String, reason: String },

    /// The configuration file or the merged configuration could not be read.
    #[error("configuration: {0}")]
    ConfigSource(String),

    /// A backend (Kafka, Redis, PostgreSQL) cannot be used at start; the
    /// message names it, where it was looked for and why.
    #[error("{0}")]
    Backend(String),

    /// A component failed to start or stopped with an error.
    #[error("{component}: {reason}")]
    Component {
        component: &'static str,
        reason: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
