//! The RFC 6690 parser, tolerant of what LwM2M clients send.
//!
//! Grammar (RFC 6690 §2), with the leniencies real clients need:
//! `link-value *("," link-value)`, `link-value = "<" target ">" *(";" param)`,
//! `param = name ["=" (token / quoted-string)]`. Whitespace (including
//! newlines) is allowed between all parts, empty list entries (`,,`, a
//! trailing comma) and empty parameters (`;;`) are skipped, and a bare value
//! runs to the next `;` or `,`.

use super::model::{AttrValue, Link};
use crate::Error;

/// The largest document accepted (a Register payload listing thousands of
/// object instances stays well below).
pub const MAX_LINK_FORMAT_SIZE: usize = 256 * 1024;

/// The most links one document may hold.
pub const MAX_LINKS: usize = 16 * 1024;

/// Parses a link-format document. An empty (or all-whitespace) document is
/// an empty list.
pub fn parse(input: &str) -> Result<Vec<Link>, Error> {
    if input.len() > MAX_LINK_FORMAT_SIZE {
        return Err(Error::LinkFormat(format!(
            "document is {} bytes, more than the {MAX_LINK_FORMAT_SIZE} accepted",
            input.len()
        )));
    }
    let mut cursor = Cursor { input, rest: input };
    let mut links = Vec::new();
    loop {
        cursor.skip(|c| c.is_ascii_whitespace() || c == ',');
        if cursor.rest.is_empty() {
            return Ok(links);
        }
        if links.len() >= MAX_LINKS {
            return Err(cursor.error(format!("more than {MAX_LINKS} links")));
        }
        links.push(parse_link(&mut cursor)?);
    }
}

fn parse_link(cursor: &mut Cursor<'_>) -> Result<Link, Error> {
    if !cursor.eat('<') {
        return Err(cursor.error("expected '<' to start a link".to_owned()));
    }
    let Some(end) = cursor.rest.find('>') else {
        return Err(cursor.error("link target has no closing '>'".to_owned()));
    };
    let target = cursor.take(end);
    if target.contains('<') {
        return Err(cursor.error(format!("link target {target:?} contains '<'")));
    }
    cursor.eat('>');
    let mut link = Link::new(target);
    loop {
        cursor.skip(|c| c.is_ascii_whitespace());
        if cursor.rest.is_empty() || cursor.rest.starts_with(',') {
            return Ok(link);
        }
        if !cursor.eat(';') {
            return Err(cursor.error(format!("expected ';' or ',' after link <{}>", link.target)));
        }
        cursor.skip(|c| c.is_ascii_whitespace());
        let name_len = cursor
            .rest
            .find(|c: char| !is_name_char(c))
            .unwrap_or(cursor.rest.len());
        let name = cursor.take(name_len);
        cursor.skip(|c| c.is_ascii_whitespace());
        if name.is_empty() {
            if cursor.rest.is_empty() || cursor.rest.starts_with([';', ',']) {
                continue; // `;;` or a trailing `;`
            }
            return Err(cursor.error(format!(
                "expected an attribute name in link <{}>",
                link.target
            )));
        }
        let value = if cursor.eat('=') {
            cursor.skip(|c| c.is_ascii_whitespace());
            Some(if cursor.rest.starts_with('"') {
                AttrValue::Quoted(parse_quoted(cursor, name)?)
            } else {
                let len = cursor.rest.find([';', ',']).unwrap_or(cursor.rest.len());
                AttrValue::Token(cursor.take(len).trim_end().to_owned())
            })
        } else {
            None
        };
        link.attributes.push((name.to_owned(), value));
    }
}

/// A quoted-string (RFC 7230 §3.2.6): `\` escapes the next character.
fn parse_quoted(cursor: &mut Cursor<'_>, name: &str) -> Result<String, Error> {
    let start = cursor.offset();
    cursor.eat('"');
    let mut value = String::new();
    let mut chars = cursor.rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                cursor.take(i + 1);
                return Ok(value);
            }
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            _ => value.push(c),
        }
    }
    Err(Error::LinkFormat(format!(
        "value of attribute {name:?} opened with '\"' at byte {start} is not terminated"
    )))
}

/// RFC 7230 token characters (attribute names such as `rt`, `title*`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The unparsed rest of the document, for offsets in errors.
struct Cursor<'a> {
    input: &'a str,
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> usize {
        self.input.len() - self.rest.len()
    }

    fn skip(&mut self, pred: impl Fn(char) -> bool) {
        self.rest = self.rest.trim_start_matches(pred);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Takes `len` bytes (a char boundary found by `find`).
    fn take(&mut self, len: usize) -> &'a str {
        let (head, tail) = self.rest.split_at_checked(len).unwrap_or((self.rest, ""));
        self.rest = tail;
        head
    }

    fn error(&self, what: String) -> Error {
        let near: String = self.rest.chars().take(16).collect();
        Error::LinkFormat(format!("{what} at byte {} (near {near:?})", self.offset()))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    fn targets(input: &str) -> Vec<String> {
        parse(input)
            .unwrap()
            .into_iter()
            .map(|l| l.target)
            .collect()
    }

    #[test]
    fn empty_and_blank_documents_are_empty() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse(" \r\n\t").unwrap().is_empty());
        assert!(parse(",").unwrap().is_empty());
    }

    #[test]
    fn parses_attributes_of_all_kinds() {
        let links = parse(r#"</>;rt="oma.lwm2m";ct=110,</3/0>;ver=1.1;hb"#).unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].target, "/");
        assert_eq!(
            links[0].attributes,
            vec![
                (
                    "rt".to_owned(),
                    Some(AttrValue::Quoted("oma.lwm2m".to_owned()))
                ),
                ("ct".to_owned(), Some(AttrValue::Token("110".to_owned()))),
            ]
        );
        assert_eq!(links[1].attributes[1], ("hb".to_owned(), None));
    }

    #[test]
    fn tolerates_whitespace_newlines_and_stray_separators() {
        let doc = " </1/0> ,\n</3/0> ; ver = 1.1 ;; ,,</5>;\r\n, ";
        assert_eq!(targets(doc), vec!["/1/0", "/3/0", "/5"]);
        assert_eq!(parse(doc).unwrap()[1].value("ver"), Some("1.1"));
    }

    #[test]
    fn quoted_values_keep_separators_and_unescape() {
        let links = parse(r#"</a>;title="x, y; \"z\"",</b>"#).unwrap();
        assert_eq!(links[0].value("title"), Some(r#"x, y; "z""#));
        assert_eq!(links[1].target, "/b");
    }

    #[test]
    fn malformed_documents_are_errors_with_offsets() {
        for (doc, expect) in [
            ("/1/0", "expected '<' to start a link at byte 0"),
            ("</1/0>,3/0", "expected '<' to start a link at byte 7"),
            ("</1/0", "no closing '>'"),
            ("</1/0>;ct=\"60", "not terminated"),
            ("</1/0>;ct=\"60\\", "not terminated"),
            ("</1/0> x", "expected ';' or ','"),
            ("</1/0>;=3", "expected an attribute name"),
            ("<</1>", "contains '<'"),
        ] {
            match parse(doc) {
                Err(Error::LinkFormat(msg)) => assert!(msg.contains(expect), "{doc:?}: {msg}"),
                other => panic!("{doc:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn oversized_documents_are_refused() {
        let doc = "</1>,".repeat(MAX_LINK_FORMAT_SIZE / 5 + 1);
        assert!(parse(&doc).is_err());
        let many = "<>,".repeat(MAX_LINKS + 1);
        assert!(matches!(parse(&many), Err(Error::LinkFormat(m)) if m.contains("more than")));
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert!(parse("</é>;t=ü,</ß>").is_ok());
        assert!(parse("é").is_err());
        assert!(parse("</a>;é").is_err());
    }
}
