//! Discover answers (LwM2M 1.1.1 Core TS §5.4.2) as `(path, attributes)`
//! pairs: parsing what a client answered and writing what our simulated
//! client answers.

use super::attributes::LwM2mAttributes;
use super::model::{serialize, Link};
use super::parser::parse;
use crate::path::LwM2mPath;
use crate::Error;

/// Parses a Discover answer; every link must be an LwM2M path, below
/// `root` when the client registered an alternate path (`"/"` otherwise).
pub fn parse_discover(
    payload: &str,
    root: &str,
) -> Result<Vec<(LwM2mPath, LwM2mAttributes)>, Error> {
    parse(payload)?
        .iter()
        .map(|link| {
            Ok((
                link.lwm2m_path_under(root)?,
                LwM2mAttributes::from_link(link)?,
            ))
        })
        .collect()
}

/// Writes a Discover answer: `</3/0>;pmin=10,</3/0/1>,...`.
pub fn write_discover(entries: &[(LwM2mPath, LwM2mAttributes)]) -> String {
    let links: Vec<Link> = entries
        .iter()
        .map(|(path, attrs)| Link::to_path(path).with_lwm2m_attributes(attrs))
        .collect();
    serialize(&links)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_discover_answer() {
        let text = "</3/0/7>;dim=2,</3/0/9>;pmin=10";
        let entries = parse_discover(text, "/").unwrap();
        assert_eq!(entries[0].0.to_string(), "/3/0/7");
        assert_eq!(entries[0].1.dim, Some(2));
        assert_eq!(entries[1].1.pmin, Some(10));
        assert_eq!(write_discover(&entries), text);
    }

    #[test]
    fn non_paths_are_errors() {
        assert!(parse_discover("</3/0>,</x>", "/").is_err());
        assert!(parse_discover("</3/0>;dim=x", "/").is_err());
        assert_eq!(
            parse_discover("</lwm2m/3/0>", "/lwm2m").unwrap()[0]
                .0
                .to_string(),
            "/3/0"
        );
    }
}
