//! `major.minor` versions, used for object versions (`ObjectVersion`, `ver=`)
//! and for the LwM2M enabler version (`lwm2m=`).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A `major.minor` version such as `1.0` or `1.2`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const V1_0: Version = Version::new(1, 0);
    pub const V1_1: Version = Version::new(1, 1);
    pub const V1_2: Version = Version::new(1, 2);

    pub const fn new(major: u8, minor: u8) -> Self {
        Version { major, minor }
    }
}

impl Default for Version {
    /// Object versions default to 1.0 when a model or a link does not say (LwM2M 1.1 §5.2.2).
    fn default() -> Self {
        Version::V1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Version {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Error::InvalidVersion(s.to_owned());
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return Err(bad());
        }
        Ok(Version {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for Version {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let v: Version = "1.2".parse().unwrap();
        assert_eq!(v, Version::V1_2);
        assert_eq!(v.to_string(), "1.2");
        assert_eq!("10.15".parse::<Version>().unwrap(), Version::new(10, 15));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "1", "1.", ".1", "1.2.3", "a.b", "1.-1", "256.0", "1,2"] {
            assert!(
                bad.parse::<Version>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn orders_numerically() {
        assert!(Version::new(1, 10) > Version::new(1, 2));
        assert!(Version::V1_0 < Version::V1_1);
    }
}
