//! Path strings of proto messages (`"/3/0/9"`) parsed into [`LwM2mPath`].

use lwm2m_core::LwM2mPath;

use crate::ProtoError;

/// Parses the path string of a proto field; `field` names the message field
/// so the error tells the caller which one was wrong.
///
/// Accepts what [`LwM2mPath`]'s `FromStr` accepts: `/3/0/9`, `3/0/9`,
/// `/3_1.1/0/9`, `/`.
pub fn parse_path(field: &'static str, text: &str) -> Result<LwM2mPath, ProtoError> {
    text.parse::<LwM2mPath>()
        .map_err(|source| ProtoError::InvalidPath { field, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_and_instance_paths() {
        let path = parse_path("ResourceValue.path", "/3/0/9").unwrap();
        assert_eq!(path.ids(), &[3, 0, 9]);
        assert_eq!(parse_path("p", "/3/0/7/1").unwrap().ids(), &[3, 0, 7, 1]);
        assert!(parse_path("p", "/").unwrap().is_root());
    }

    #[test]
    fn errors_name_the_field_and_the_input() {
        let err = parse_path("ReadOperation.path", "/3/x/9").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ReadOperation.path"), "{text}");
        assert!(text.contains("/3/x/9"), "{text}");
        assert!(matches!(
            err,
            ProtoError::InvalidPath {
                field: "ReadOperation.path",
                ..
            }
        ));
    }

    #[test]
    fn rejects_reserved_ids_and_deep_paths() {
        assert!(parse_path("p", "/3/65535").is_err());
        assert!(parse_path("p", "/1/2/3/4/5").is_err());
        assert!(parse_path("p", "").is_err());
    }
}
