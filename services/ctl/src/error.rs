//! The one error type of `lwm2mctl`; each variant knows its exit code.

use crate::exit_code::Exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line cannot be carried out (bad path, value or file).
    #[error("{0}")]
    Usage(String),
    /// What the command names does not exist (checked on our side, e.g. a
    /// profile name no profile has).
    #[error("{0}")]
    NotFound(String),
    /// A server could not be reached.
    #[error("cannot reach the {service} at {address}: {}", with_causes(source))]
    Connect {
        service: &'static str,
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// A gRPC call failed (not found, deadline exceeded, invalid, ...).
    #[error("{:?}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    /// The device answered with a CoAP error code.
    #[error("device answered {code} {name}")]
    Device { code: String, name: String },
    /// The device answered 2.xx with something the server cannot read (a
    /// Discover in another format than link-format: the payload in hex).
    #[error("device answered {code} {name}, but {reason}")]
    DeviceAnswer {
        code: String,
        name: String,
        reason: String,
    },
    /// A bulk command finished but some of its items failed; the report
    /// was printed already.
    #[error("{failed} of {total} {what} failed")]
    Partial {
        failed: usize,
        total: usize,
        what: &'static str,
    },
    /// A dispatch operation ended in failure or was cancelled.
    #[error("operation {id} {state}: {message}")]
    Operation {
        id: String,
        state: String,
        message: String,
        exit: Exit,
    },
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::NotFound(_) => Exit::NotFound,
            Error::Connect { .. } => Exit::Unavailable,
            Error::Rpc(status) => Exit::of_status(status.code()),
            Error::Device { .. } | Error::DeviceAnswer { .. } => Exit::DeviceError,
            Error::Partial { .. } => Exit::Partial,
            Error::Operation { exit, .. } => *exit,
        }
    }

    /// A file that cannot be read is a usage error naming the file.
    pub fn file(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        Error::Usage(format!("{}: {e}", path.display()))
    }
}

/// `error: cause: cause`: tonic's transport error alone says only
/// "transport error"; the reason (connection refused...) is in its sources.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        // hyper repeats a cause in its wrapper's message; say it once.
        let message = cause.to_string();
        if message != last {
            text.push_str(": ");
            text.push_str(&message);
        }
        last = message;
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_name_the_code_briefly() {
        let e = Error::Rpc(tonic::Status::not_found("endpoint \"x\" is not registered"));
        assert_eq!(e.to_string(), "NotFound: endpoint \"x\" is not registered");
        assert_eq!(e.exit(), Exit::NotFound);
    }

    #[test]
    fn causes_are_chained_once_each() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let refused = Layer("refused", None);
        let twice = Layer(
            "tcp connect",
            Some(Box::new(Layer("tcp connect", Some(Box::new(refused))))),
        );
        let top = Layer("transport error", Some(Box::new(twice)));
        assert_eq!(with_causes(&top), "transport error: tcp connect: refused");
    }
}
