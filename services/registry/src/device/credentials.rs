//! Device credentials: NoSec, PSK, RPK and X.509, for the LwM2M server and,
//! separately, for the bootstrap server.
//!
//! Secret material ([`SecretKey`]) has a `Debug` that prints only its
//! length, and no `Display`, so a key cannot reach a log line by accident;
//! the gRPC layer decides when a key is returned (never in listings).

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Longest PSK identity accepted (bytes).
pub const MAX_PSK_IDENTITY_LEN: usize = 128;
/// PSK key lengths accepted, in hex digits (16, 32 or 64 bytes).
pub const PSK_KEY_HEX_DIGITS: [usize; 3] = [32, 64, 128];
/// Largest public key (DER) and certificate (DER) accepted.
pub const MAX_PUBLIC_KEY_LEN: usize = 1024;
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityMode {
    NoSec,
    Psk,
    Rpk,
    X509,
}

impl SecurityMode {
    /// The stored and CSV spelling (`NO_SEC`, `PSK`, `RPK`, `X509`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::NoSec => "NO_SEC",
            SecurityMode::Psk => "PSK",
            SecurityMode::Rpk => "RPK",
            SecurityMode::X509 => "X509",
        }
    }

    /// How operators read it in messages (`NoSec`, `PSK`, `RPK`, `X.509`).
    pub fn label(self) -> &'static str {
        match self {
            SecurityMode::NoSec => "NoSec",
            SecurityMode::Psk => "PSK",
            SecurityMode::Rpk => "RPK",
            SecurityMode::X509 => "X.509",
        }
    }

    /// Case-insensitive, `NO_SEC`/`NOSEC`/`NO-SEC`, `X509`/`X.509`.
    pub fn parse(text: &str) -> Option<Self> {
        let norm: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        Some(match norm.as_str() {
            "NOSEC" => SecurityMode::NoSec,
            "PSK" => SecurityMode::Psk,
            "RPK" => SecurityMode::Rpk,
            "X509" => SecurityMode::X509,
            _ => return None,
        })
    }
}

/// A pre-shared key. Never printed: `Debug` shows the length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretKey(#[serde(with = "hex")] Vec<u8>);

impl SecretKey {
    /// From hex text of 32, 64 or 128 digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if !PSK_KEY_HEX_DIGITS.contains(&text.len()) {
            return Err(format!(
                "must be 32, 64 or 128 hex digits, not {}",
                text.len()
            ));
        }
        hex::decode(text)
            .map(SecretKey)
            .map_err(|_| "must be hex digits (0-9, a-f)".to_owned())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SecretKey(bytes)
    }

    /// The key itself, for the DTLS handshake.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes, redacted>)", self.0.len())
    }
}

/// DER bytes (public key or certificate), stored as hex.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Der(#[serde(with = "hex")] pub Vec<u8>);

impl fmt::Debug for Der {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Der(<{} bytes>)", self.0.len())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Credentials {
    /// Plain CoAP: the endpoint name is the identity.
    NoSec,
    Psk {
        identity: String,
        key: SecretKey,
    },
    /// The device's raw public key (SubjectPublicKeyInfo, DER).
    Rpk {
        public_key: Der,
    },
    /// `certificate: None` is trust-chain mode: any certificate that chains
    /// to the server's trust store and whose CN equals the endpoint.
    X509 {
        certificate: Option<Der>,
    },
}

impl Credentials {
    pub fn mode(&self) -> SecurityMode {
        match self {
            Credentials::NoSec => SecurityMode::NoSec,
            Credentials::Psk { .. } => SecurityMode::Psk,
            Credentials::Rpk { .. } => SecurityMode::Rpk,
            Credentials::X509 { .. } => SecurityMode::X509,
        }
    }

    pub fn psk_identity(&self) -> Option<&str> {
        match self {
            Credentials::Psk { identity, .. } => Some(identity),
            _ => None,
        }
    }
}

/// A PSK identity: 1 to 128 bytes of UTF-8 without control characters.
pub fn check_psk_identity(identity: &str) -> Result<(), String> {
    if identity.is_empty() || identity.len() > MAX_PSK_IDENTITY_LEN {
        return Err(format!("must be 1 to {MAX_PSK_IDENTITY_LEN} bytes"));
    }
    if identity.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// DER, PEM (`-----BEGIN …`) or bare base64 → DER bytes of a SEQUENCE.
pub fn decode_der(input: &[u8], limit: usize, what: &str) -> Result<Der, String> {
    if input.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    let der = if input.first() == Some(&0x30) {
        input.to_vec()
    } else {
        let text = std::str::from_utf8(input)
            .map_err(|_| format!("the {what} is neither DER nor base64/PEM text"))?;
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("-----"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("the {what} is not valid base64: {e}"))?
    };
    if der.len() > limit {
        return Err(format!(
            "the {what} is {} bytes, at most {limit} accepted",
            der.len()
        ));
    }
    check_der_sequence(&der).map_err(|why| format!("the {what} is not DER: {why}"))?;
    Ok(Der(der))
}

/// A DER SEQUENCE whose length covers exactly the input and whose first
/// element is itself a SEQUENCE (AlgorithmIdentifier of a
/// SubjectPublicKeyInfo, tbsCertificate of a certificate). A structural
/// check: it catches pasted garbage, not a wrong key type.
fn check_der_sequence(der: &[u8]) -> Result<(), &'static str> {
    let (len, header) = der_length(der)?;
    if der.first() != Some(&0x30) {
        return Err("does not start with a SEQUENCE");
    }
    if header + len != der.len() {
        return Err("the SEQUENCE length does not match the data");
    }
    match der.get(header) {
        Some(0x30) => Ok(()),
        _ => Err("the SEQUENCE does not start with a SEQUENCE"),
    }
}

/// (content length, header length) of the TLV at the start of `der`.
fn der_length(der: &[u8]) -> Result<(usize, usize), &'static str> {
    let first = *der.get(1).ok_or("truncated")?;
    if first < 0x80 {
        return Ok((usize::from(first), 2));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return Err("unsupported length encoding");
    }
    let bytes = der.get(2..2 + count).ok_or("truncated")?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok((len, 2 + count))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RPK from the ThingsBoard guide (a P-256 SubjectPublicKeyInfo).
    pub(crate) const RPK_BASE64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdvBZZ2vQRK9wgDhctj6B1c7bxR3Z0wYg1+YdoYFnVUKWb+rIfTTyYK9tmQJx5Vlb5fxdLnVv1RJOPiwsLIQbAA==";

    #[test]
    fn psk_keys_have_the_three_lengths() {
        assert!(SecretKey::from_hex("01020304050607080A0B0C0D0F010203").is_ok());
        assert!(SecretKey::from_hex(&"ab".repeat(32)).is_ok());
        assert!(SecretKey::from_hex(&"ab".repeat(64)).is_ok());
        let short = SecretKey::from_hex("0102").unwrap_err();
        assert!(short.contains("32, 64 or 128"), "{short}");
        assert!(SecretKey::from_hex(&"zz".repeat(16)).is_err());
    }

    #[test]
    fn keys_never_print() {
        let key = SecretKey::from_hex("01020304050607080A0B0C0D0F010203").unwrap();
        let creds = Credentials::Psk {
            identity: "id".into(),
            key,
        };
        let text = format!("{creds:?}");
        assert!(!text.contains("0102") && !text.contains("[1, 2"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }

    #[test]
    fn public_keys_come_as_der_base64_or_pem() {
        let from_b64 = decode_der(RPK_BASE64.as_bytes(), MAX_PUBLIC_KEY_LEN, "public key").unwrap();
        assert_eq!(from_b64.0.len(), 91);
        let from_der = decode_der(&from_b64.0, MAX_PUBLIC_KEY_LEN, "public key").unwrap();
        assert_eq!(from_der, from_b64);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &RPK_BASE64[..64],
            &RPK_BASE64[64..]
        );
        assert_eq!(
            decode_der(pem.as_bytes(), MAX_PUBLIC_KEY_LEN, "public key").unwrap(),
            from_b64
        );
        let mut cut = from_b64.0.clone();
        cut.pop();
        assert!(decode_der(&cut, MAX_PUBLIC_KEY_LEN, "public key").is_err());
        assert!(decode_der(b"not a key!", MAX_PUBLIC_KEY_LEN, "public key").is_err());
    }

    #[test]
    fn modes_parse_in_the_usual_spellings() {
        assert_eq!(SecurityMode::parse("NO_SEC"), Some(SecurityMode::NoSec));
        assert_eq!(SecurityMode::parse("nosec"), Some(SecurityMode::NoSec));
        assert_eq!(SecurityMode::parse("X.509"), Some(SecurityMode::X509));
        assert_eq!(SecurityMode::parse("psk"), Some(SecurityMode::Psk));
        assert_eq!(SecurityMode::parse("TLS"), None);
    }

    #[test]
    fn stored_form_round_trips() {
        let creds = Credentials::X509 { certificate: None };
        let json = serde_json::to_string(&creds).unwrap();
        assert_eq!(serde_json::from_str::<Credentials>(&json).unwrap(), creds);
        let psk = Credentials::Psk {
            identity: "i".into(),
            key: SecretKey::from_bytes(vec![1; 16]),
        };
        let json = serde_json::to_string(&psk).unwrap();
        assert_eq!(serde_json::from_str::<Credentials>(&json).unwrap(), psk);
    }
}
