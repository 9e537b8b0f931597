//! Shared helpers for the cross-crate integration tests live in `tests/common/`; this library is empty.
