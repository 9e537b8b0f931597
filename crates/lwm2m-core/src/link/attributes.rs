//! The LwM2M attributes of a link (LwM2M 1.1.1 Core TS §5.1.2, Table 5.1.2-1
//! and §5.2.2/§7.2.2), typed, and the Write-Attributes query built from them.

use super::model::{AttrValue, Link};
use crate::{Error, Version};

/// The attributes the LwM2M specification gives meaning to. Unknown
/// attributes are not kept here; they stay on the [`Link`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LwM2mAttributes {
    /// Object version (`ver`).
    pub ver: Option<Version>,
    /// Content formats (`ct=110` or `ct="60 110"`).
    pub ct: Vec<u16>,
    /// Resource type (`rt`), e.g. `oma.lwm2m`.
    pub rt: Option<String>,
    /// Minimum period between notifications, seconds.
    pub pmin: Option<u32>,
    /// Maximum period between notifications, seconds.
    pub pmax: Option<u32>,
    /// Greater-than threshold.
    pub gt: Option<f64>,
    /// Less-than threshold.
    pub lt: Option<f64>,
    /// Step.
    pub st: Option<f64>,
    /// Minimum evaluation period, seconds (LwM2M 1.1).
    pub epmin: Option<u32>,
    /// Maximum evaluation period, seconds (LwM2M 1.1).
    pub epmax: Option<u32>,
    /// Number of instances of a multiple resource (`dim`, Discover).
    pub dim: Option<u16>,
    /// Short Server ID (`ssid`, Bootstrap-Discover).
    pub ssid: Option<u16>,
    /// Server URI (`uri`, Bootstrap-Discover).
    pub uri: Option<String>,
}

impl LwM2mAttributes {
    /// Reads the LwM2M attributes of `link`. Unknown and value-less
    /// attributes are ignored; a known attribute with a malformed value is an
    /// error naming the link and the attribute.
    pub fn from_link(link: &Link) -> Result<Self, Error> {
        let mut out = LwM2mAttributes::default();
        for (name, value) in &link.attributes {
            if let Some(value) = value {
                out.set(name, value.as_str())
                    .map_err(|why| Error::LinkFormat(format!("link <{}>: {why}", link.target)))?;
            }
        }
        Ok(out)
    }

    /// Reads a Write-Attributes query (`["pmin=10", "pmax=60", "gt"]`, one
    /// Uri-Query option each). Returns the attributes set and the names given
    /// without a value, which LwM2M 1.1 uses to remove an attribute.
    pub fn from_query<S: AsRef<str>>(params: &[S]) -> Result<(Self, Vec<String>), Error> {
        let mut out = LwM2mAttributes::default();
        let mut unset = Vec::new();
        for param in params {
            let param = param.as_ref();
            match param.split_once('=') {
                Some((name, value)) => out
                    .set(name, value)
                    .map_err(|why| Error::LinkFormat(format!("query {param:?}: {why}")))?,
                None => unset.push(param.to_owned()),
            }
        }
        Ok((out, unset))
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        let name_lc = name.to_ascii_lowercase();
        match name_lc.as_str() {
            "ver" => self.ver = Some(v.parse().map_err(|_| bad(name, v, "MAJOR.MINOR"))?),
            "ct" => {
                self.ct = v
                    .split_ascii_whitespace()
                    .map(|c| {
                        c.parse::<u16>()
                            .map_err(|_| bad(name, v, "content format numbers"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "rt" => self.rt = Some(v.to_owned()),
            "pmin" => self.pmin = Some(seconds(name, v)?),
            "pmax" => self.pmax = Some(seconds(name, v)?),
            "epmin" => self.epmin = Some(seconds(name, v)?),
            "epmax" => self.epmax = Some(seconds(name, v)?),
            "gt" => self.gt = Some(number(name, v)?),
            "lt" => self.lt = Some(number(name, v)?),
            "st" => self.st = Some(number(name, v)?),
            "dim" => self.dim = Some(v.parse().map_err(|_| bad(name, v, "a count 0..65535"))?),
            "ssid" => self.ssid = Some(v.parse().map_err(|_| bad(name, v, "a short server id"))?),
            "uri" => self.uri = Some(v.to_owned()),
            _ => {}
        }
        Ok(())
    }

    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        *self == LwM2mAttributes::default()
    }

    /// The attributes as link parameters, in the order the specification's
    /// examples write them: `dim`, `ssid`, `uri`, `ver`, `rt`, `ct`, then the
    /// notification attributes `pmin`, `pmax`, `gt`, `lt`, `st`, `epmin`, `epmax`.
    pub fn to_link_params(&self) -> Vec<(String, Option<AttrValue>)> {
        let token = |n: &str, v: String| (n.to_owned(), Some(AttrValue::Token(v)));
        let quoted = |n: &str, v: &str| (n.to_owned(), Some(AttrValue::Quoted(v.to_owned())));
        let mut out = Vec::new();
        out.extend(self.dim.map(|d| token("dim", d.to_string())));
        out.extend(self.ssid.map(|s| token("ssid", s.to_string())));
        out.extend(self.uri.as_deref().map(|u| quoted("uri", u)));
        out.extend(self.ver.map(|v| token("ver", v.to_string())));
        out.extend(self.rt.as_deref().map(|rt| quoted("rt", rt)));
        match self.ct.as_slice() {
            [] => {}
            [one] => out.push(token("ct", one.to_string())),
            many => {
                let list: Vec<String> = many.iter().map(u16::to_string).collect();
                out.push(quoted("ct", &list.join(" ")));
            }
        }
        out.extend(
            self.notification_params()
                .into_iter()
                .map(|(n, v)| token(n, v)),
        );
        out
    }

    /// The notification attributes as `(name, value)` in query order.
    fn notification_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let periods = [("pmin", self.pmin), ("pmax", self.pmax)];
        out.extend(
            periods
                .into_iter()
                .filter_map(|(n, v)| Some((n, v?.to_string()))),
        );
        let thresholds = [("gt", self.gt), ("lt", self.lt), ("st", self.st)];
        out.extend(
            thresholds
                .into_iter()
                .filter_map(|(n, v)| Some((n, format_number(v?)))),
        );
        let evaluation = [("epmin", self.epmin), ("epmax", self.epmax)];
        out.extend(
            evaluation
                .into_iter()
                .filter_map(|(n, v)| Some((n, v?.to_string()))),
        );
        out
    }

    /// The Write-Attributes query options (`["pmin=10", "pmax=60", "gt=20.5"]`):
    /// only the notification attributes are writable.
    pub fn to_query(&self) -> Vec<String> {
        self.notification_params()
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect()
    }

    /// [`to_query`](Self::to_query) joined with `&`, for logs and HTTP-style APIs.
    pub fn query_string(&self) -> String {
        self.to_query().join("&")
    }
}

impl Link {
    /// Appends the LwM2M attributes as parameters of this link.
    pub fn with_lwm2m_attributes(mut self, attributes: &LwM2mAttributes) -> Self {
        self.attributes.extend(attributes.to_link_params());
        self
    }
}

fn bad(name: &str, value: &str, expected: &str) -> String {
    format!("attribute {name}={value:?} is not {expected}")
}

fn seconds(name: &str, v: &str) -> Result<u32, String> {
    v.parse().map_err(|_| bad(name, v, "a number of seconds"))
}

fn number(name: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(bad(name, v, "a finite number")),
    }
}

/// Shortest decimal form that reads back to the same `f64` (`50`, `42.2`).
fn format_number(n: f64) -> String {
    format!("{n}")
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    #[test]
    fn reads_typed_attributes() {
        let link = Link::new("/3/0/7")
            .with_token("dim", "8")
            .with_token("gt", "50")
            .with_token("lt", "42.2")
            .with_token("pmin", "10")
            .with_quoted("ct", "60 110")
            .with_token("ver", "1.1")
            .with_flag("hb")
            .with_token("unknown", "x");
        let a = LwM2mAttributes::from_link(&link).unwrap();
        assert_eq!(
            (a.dim, a.gt, a.lt, a.pmin),
            (Some(8), Some(50.0), Some(42.2), Some(10))
        );
        assert_eq!(a.ct, vec![60, 110]);
        assert_eq!(a.ver, Some(Version::V1_1));
    }

    #[test]
    fn malformed_values_name_link_and_attribute() {
        for (name, value) in [
            ("pmin", "-1"),
            ("gt", "NaN"),
            ("gt", "inf"),
            ("ver", "1"),
            ("ct", "110 x"),
            ("dim", "70000"),
        ] {
            let err = LwM2mAttributes::from_link(&Link::new("/3/0/1").with_token(name, value))
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("</3/0/1>") && msg.contains(name), "{msg}");
        }
    }

    #[test]
    fn builds_and_reads_write_attributes_queries() {
        let a = LwM2mAttributes {
            pmin: Some(10),
            pmax: Some(60),
            gt: Some(20.5),
            ..Default::default()
        };
        assert_eq!(a.to_query(), vec!["pmin=10", "pmax=60", "gt=20.5"]);
        assert_eq!(a.query_string(), "pmin=10&pmax=60&gt=20.5");
        let (back, unset) =
            LwM2mAttributes::from_query(&["pmin=10", "pmax=60", "gt=20.5", "st"]).unwrap();
        assert_eq!(back, a);
        assert_eq!(unset, vec!["st"]);
        assert!(LwM2mAttributes::from_query(&["pmax=soon"]).is_err());
        let all = LwM2mAttributes {
            lt: Some(-3.0),
            st: Some(0.5),
            epmin: Some(1),
            epmax: Some(2),
            ..Default::default()
        };
        assert_eq!(all.query_string(), "lt=-3&st=0.5&epmin=1&epmax=2");
    }

    #[test]
    fn writes_link_params_in_spec_order() {
        let a = LwM2mAttributes {
            dim: Some(8),
            gt: Some(50.0),
            lt: Some(42.2),
            ..Default::default()
        };
        assert_eq!(
            Link::new("/3/0/7").with_lwm2m_attributes(&a).to_string(),
            "</3/0/7>;dim=8;gt=50;lt=42.2"
        );
        let root = LwM2mAttributes {
            rt: Some("oma.lwm2m".into()),
            ct: vec![60, 110],
            ..Default::default()
        };
        assert_eq!(
            Link::new("/").with_lwm2m_attributes(&root).to_string(),
            r#"</>;rt="oma.lwm2m";ct="60 110""#
        );
        assert!(LwM2mAttributes::default().is_empty());
    }
}
