//! The registry's one error type, and its one mapping to gRPC statuses
//! (`impl From<Error> for tonic::Status` at the bottom): every RPC returns
//! `Result<_, Error>` internally and converts here, so a kind of failure has
//! the same status code in every call.
//!
//! Messages never carry secrets (PSK keys): validation errors name the field
//! and say what is wrong with it, not what was sent.

use std::fmt;

/// One invalid request field: `field` is the proto field path
/// (`objects[0].resources[2].observe`), `reason` says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A DDF file that could not be imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Request fields that fail validation (all of them, not only the first).
    #[error("invalid request: {}", join(.0))]
    Invalid(Vec<FieldError>),

    /// DDF files that do not parse; nothing of the upload was stored.
    #[error("object model import rejected, nothing was imported: {}", join_files(.0))]
    InvalidModels(Vec<FileError>),

    /// `what` says which entity: `device "sensor-1"`, `profile 7f3…`.
    #[error("{what} not found")]
    NotFound { what: String },

    /// A unique name is taken: `endpoint "sensor-1"`, `PSK identity "id-1"`.
    #[error("{what} already exists")]
    AlreadyExists { what: String },

    /// The caller's tenant may not do this (e.g. delete a system model).
    #[error("{0}")]
    PermissionDenied(String),

    /// The entity is in a state that forbids the call (e.g. a profile still
    /// used by devices cannot be deleted).
    #[error("{0}")]
    FailedPrecondition(String),

    /// Optimistic concurrency: the entity changed since the caller read it.
    #[error("{what} was changed concurrently: expected revision {expected}, found {found}")]
    RevisionMismatch {
        what: String,
        expected: i64,
        found: i64,
    },

    /// An upload above the configured limit.
    #[error("{what} is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },

    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),

    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// A stored row that does not decode (written by a newer version, or damaged).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),

    /// Publishing or receiving registry change events failed.
    #[error("change feed: {0}")]
    Feed(String),

    /// The service cannot start with this configuration.
    #[error("configuration: {0}")]
    Config(String),

    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),

    /// A remote registry answered with an error (the gRPC lookup client).
    #[error("remote registry: {0}")]
    Remote(tonic::Status),
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError {
            field: field.into(),
            reason: reason.into(),
        }])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    pub fn already_exists(what: impl Into<String>) -> Self {
        Error::AlreadyExists { what: what.into() }
    }

    pub fn corrupt(what: impl fmt::Display) -> Self {
        Error::Corrupt(what.to_string())
    }

    /// The field errors of an [`Error::Invalid`], for tests and clients.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

/// At most this many items are spelled out in one message.
const LISTED: usize = 20;

fn join(errors: &[FieldError]) -> String {
    join_limited(errors.iter().map(ToString::to_string), errors.len())
}

fn join_files(errors: &[FileError]) -> String {
    join_limited(
        errors.iter().map(|e| format!("{}: {}", e.file, e.reason)),
        errors.len(),
    )
}

fn join_limited(items: impl Iterator<Item = String>, total: usize) -> String {
    let mut text: Vec<String> = items.take(LISTED).collect();
    if total > LISTED {
        text.push(format!("and {} more", total - LISTED));
    }
    text.join("; ")
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        use tonic::{Code, Status};
        let message = error.to_string();
        let code = match &error {
            Error::Invalid(_) | Error::InvalidModels(_) => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists { .. } => Code::AlreadyExists,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::RevisionMismatch { .. } => Code::Aborted,
            Error::TooLarge { .. } => Code::ResourceExhausted,
            Error::Database(e) if is_unreachable(e) => Code::Unavailable,
            Error::Feed(_) | Error::Transport(_) => Code::Unavailable,
            Error::Remote(status) => return status.clone(),
            Error::Database(_)
            | Error::Migration(_)
            | Error::Corrupt(_)
            | Error::Config(_)
            | Error::Io(_) => Code::Internal,
        };
        if code == Code::Internal || code == Code::Unavailable {
            tracing::warn!(error = %message, "registry call failed");
        }
        Status::new(code, message)
    }
}

/// Connection-level failures: worth retrying, unlike a refused statement.
fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    #[test]
    fn each_kind_has_its_status() {
        let code = |e: Error| Status::from(e).code();
        assert_eq!(code(Error::invalid("name", "empty")), Code::InvalidArgument);
        assert_eq!(code(Error::not_found("device \"a\"")), Code::NotFound);
        assert_eq!(
            code(Error::already_exists("endpoint \"a\"")),
            Code::AlreadyExists
        );
        assert_eq!(
            code(Error::PermissionDenied("no".into())),
            Code::PermissionDenied
        );
        assert_eq!(
            code(Error::RevisionMismatch {
                what: "profile".into(),
                expected: 1,
                found: 2
            }),
            Code::Aborted
        );
        assert_eq!(
            code(Error::Database(sqlx::Error::PoolTimedOut)),
            Code::Unavailable
        );
        assert_eq!(
            code(Error::Database(sqlx::Error::RowNotFound)),
            Code::Internal
        );
        let remote = Status::not_found("x");
        assert_eq!(code(Error::Remote(remote)), Code::NotFound);
    }

    #[test]
    fn messages_name_fields_and_files() {
        let e = Error::Invalid(vec![
            FieldError {
                field: "objects[0].version".into(),
                reason: "unknown".into(),
            },
            FieldError {
                field: "name".into(),
                reason: "empty".into(),
            },
        ]);
        assert_eq!(
            Status::from(e).message(),
            "invalid request: objects[0].version: unknown; name: empty"
        );
        let e = Error::InvalidModels(vec![FileError {
            file: "broken.xml".into(),
            reason: "not well-formed XML".into(),
        }]);
        let text = e.to_string();
        assert!(
            text.contains("broken.xml: not well-formed XML") && text.contains("nothing"),
            "{text}"
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let many: Vec<FieldError> = (0..25)
            .map(|i| FieldError {
                field: format!("f{i}"),
                reason: "bad".into(),
            })
            .collect();
        let text = Error::Invalid(many).to_string();
        assert!(text.ends_with("and 5 more"), "{text}");
        assert!(!text.contains("f20"), "{text}");
    }
}
