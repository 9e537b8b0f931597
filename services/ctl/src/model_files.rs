//! Finds the DDF files of `models import DIR` and groups them into uploads
//! (`lwm2m_proto::ddf_upload`, shared with the benchmark); a directory or
//! file that cannot be read is a usage error naming it.

use std::path::Path;

pub use lwm2m_proto::ddf_upload::batches;
pub use lwm2m_proto::registry::v1::DdfFile;

use crate::error::Error;

/// Every `.xml` file under `dir`, named relative to it and sorted.
pub fn collect(dir: &Path) -> Result<Vec<DdfFile>, Error> {
    lwm2m_proto::ddf_upload::collect(dir).map_err(|e| Error::file(&e.path, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_a_usage_error_naming_it() {
        let err = collect(Path::new("/no/such/dir")).unwrap_err();
        assert_eq!(err.exit(), crate::exit_code::Exit::Usage);
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }
}
