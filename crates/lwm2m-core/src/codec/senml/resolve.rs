//! Base-field resolution (RFC 8428 §4.5): each record's name is the current
//! base name followed by its own name, its time the current base time plus
//! its own time. A base field holds for every later record until replaced.
//!
//! The resolved name must be an LwM2M path (LwM2M 1.1.1 §7.4.4: "the Name
//! field ... contains the path of the resource"); the operator form with an
//! object version (`/3_1.1/0`) is not valid on the wire and is rejected.

use super::{SenmlRecord, SenmlValue};
use crate::codec::ContentFormat;
use crate::path::LwM2mPath;
use crate::Error;

/// A record after resolution.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    /// Position of the record in the pack, for error messages.
    pub index: usize,
    pub path: LwM2mPath,
    /// `bt + t`, or `None` when neither is set.
    pub time: Option<f64>,
    pub value: Option<SenmlValue>,
}

pub(crate) fn resolve(
    format: ContentFormat,
    records: &[SenmlRecord],
) -> Result<Vec<Resolved>, Error> {
    let mut base_name: &str = "";
    let mut base_time: Option<f64> = None;
    let mut out = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if let Some(bn) = &record.base_name {
            base_name = bn;
        }
        if let Some(bt) = record.base_time {
            base_time = Some(bt);
        }
        let name = record.name.as_deref().unwrap_or("");
        let full = format!("{base_name}{name}");
        let path = parse_name(format, index, &full)?;
        let time = match (base_time, record.time) {
            (None, None) => None,
            (bt, t) => Some(bt.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        if let Some(t) = time {
            if !t.is_finite() {
                return Err(Error::decode(
                    format,
                    format!("record {index} ({path}): time {t} is not a finite number"),
                ));
            }
        }
        out.push(Resolved {
            index,
            path,
            time,
            value: record.value.clone(),
        });
    }
    Ok(out)
}

fn parse_name(format: ContentFormat, index: usize, name: &str) -> Result<LwM2mPath, Error> {
    if name.is_empty() {
        return Err(Error::decode(
            format,
            format!("record {index} has no name (neither bn nor n)"),
        ));
    }
    let path: LwM2mPath = name.parse().map_err(|e| match e {
        Error::InvalidPath { reason, .. } => Error::decode(
            format,
            format!("record {index}: name {name:?} is not an LwM2M path: {reason}"),
        ),
        other => other,
    })?;
    if path.object_version().is_some() {
        return Err(Error::decode(
            format,
            format!(
                "record {index}: name {name:?} carries an object version, which SenML names cannot"
            ),
        ));
    }
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;
    use crate::codec::senml::SenmlNumber;

    fn rec(bn: Option<&str>, bt: Option<f64>, n: Option<&str>, t: Option<f64>) -> SenmlRecord {
        SenmlRecord {
            base_name: bn.map(str::to_owned),
            base_time: bt,
            name: n.map(str::to_owned),
            time: t,
            value: Some(SenmlValue::Number(SenmlNumber::Integer(1))),
        }
    }

    #[test]
    fn base_name_and_time_carry_over_until_replaced() {
        let records = [
            rec(Some("/3/0/"), Some(1000.0), Some("0"), None),
            rec(None, None, Some("7/1"), Some(-5.0)),
            rec(Some("/1/0/1"), None, None, None),
            rec(None, Some(2000.0), Some("/0"), Some(1.5)),
        ];
        let out = resolve(ContentFormat::SenmlJson, &records).unwrap();
        let got: Vec<(String, Option<f64>)> =
            out.iter().map(|r| (r.path.to_string(), r.time)).collect();
        assert_eq!(
            got,
            [
                ("/3/0/0".to_owned(), Some(1000.0)),
                ("/3/0/7/1".to_owned(), Some(995.0)),
                ("/1/0/1".to_owned(), Some(1000.0)),
                ("/1/0/1/0".to_owned(), Some(2001.5)),
            ]
        );
    }

    #[test]
    fn name_may_be_cut_anywhere() {
        // Names are concatenated as text, so a base name may end inside an id.
        let out = resolve(
            ContentFormat::SenmlJson,
            &[rec(Some("/3/0/1"), None, Some("1/0"), None)],
        )
        .unwrap();
        assert_eq!(out[0].path.to_string(), "/3/0/11/0");
    }

    #[test]
    fn time_only_from_t_or_bt() {
        let out = resolve(
            ContentFormat::SenmlJson,
            &[
                rec(None, None, Some("/3/0/9"), None),
                rec(None, None, Some("/3/0/9"), Some(-3.0)),
            ],
        )
        .unwrap();
        assert_eq!(out[0].time, None);
        assert_eq!(out[1].time, Some(-3.0));
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        let cases = [
            (rec(None, None, None, None), "no name"),
            (
                rec(Some("urn:dev:ow:10e2073a01080063"), None, None, None),
                "not an LwM2M path",
            ),
            (
                rec(Some("/3/0/"), None, Some("9/1/2"), None),
                "not an LwM2M path",
            ),
            (rec(None, None, Some("/3_1.1/0/9"), None), "object version"),
            (rec(None, None, Some("/3/0/65535"), None), "reserved"),
        ];
        for (record, reason) in cases {
            let err = resolve(ContentFormat::SenmlCbor, &[record])
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{err}");
            assert!(err.contains("record 0"), "{err}");
        }
    }

    #[test]
    fn rejects_infinite_time() {
        let err = resolve(
            ContentFormat::SenmlCbor,
            &[rec(None, Some(f64::MAX), Some("/3/0/9"), Some(f64::MAX))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a finite number"));
    }
}
