//! Object 0, LwM2M Security 1.1 (LwM2M 1.1): keys and URIs of the servers.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 0,
    name: "LWM2M Security",
    description:
        "Keying material of a LwM2M client to access a LwM2M server or the bootstrap server; \
                  written only by the bootstrap server.",
    version: Version::V1_1,
    lwm2m_version: Version::V1_1,
    multiple: true,
    mandatory: true,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "LWM2M  Server URI", NO, SINGLE, MAND, STR, "0..255 bytes", "", "URI of the LwM2M server or bootstrap server."),
    (1, "Bootstrap-Server", NO, SINGLE, MAND, BOOL, "", "", "Whether this instance describes the bootstrap server."),
    (2, "Security Mode", NO, SINGLE, MAND, INT, "0..4", "", "0 PSK, 1 RPK, 2 certificate, 3 NoSec, 4 certificate with EST."),
    (3, "Public Key or Identity", NO, SINGLE, MAND, OPAQUE, "", "", "The client's certificate, public key or PSK identity."),
    (4, "Server Public Key", NO, SINGLE, MAND, OPAQUE, "", "", "The server's certificate or public key."),
    (5, "Secret Key", NO, SINGLE, MAND, OPAQUE, "", "", "The client's private key or pre-shared key."),
    (6, "SMS Security Mode", NO, SINGLE, OPT, INT, "0..255", "", "Security mode of the SMS binding."),
    (7, "SMS Binding Key Parameters", NO, SINGLE, OPT, OPAQUE, "6", "", "KIc, KID, SPI and TAR of the SMS binding."),
    (8, "SMS Binding Secret Key(s)", NO, SINGLE, OPT, OPAQUE, "16,32,48", "", "Secret keys of the SMS binding."),
    (9, "LwM2M Server SMS Number", NO, SINGLE, OPT, STR, "", "", "MSISDN of the server for the SMS binding."),
    (10, "Short Server ID", NO, SINGLE, OPT, INT, "1..65534", "", "Links this instance to a Server object instance."),
    (11, "Client Hold Off Time", NO, SINGLE, OPT, INT, "", "s", "Delay before the client starts bootstrapping."),
    (12, "Bootstrap-Server Account Timeout", NO, SINGLE, OPT, INT, "", "s", "When the client deletes the bootstrap account."),
    (13, "Matching Type", NO, SINGLE, OPT, UINT, "0..3", "", "How the server certificate is matched: exact or a SHA-2 hash."),
    (14, "SNI", NO, SINGLE, OPT, STR, "", "", "Server name indication for the (D)TLS handshake."),
    (15, "Certificate Usage", NO, SINGLE, OPT, UINT, "0..3", "", "Certificate usage, as for DANE TLSA records."),
    (16, "DTLS/TLS Ciphersuite", NO, MULTI, OPT, UINT, "", "", "IANA TLS cipher suite values the client may use."),
    (17, "OSCORE Security Mode", NO, SINGLE, OPT, OBJLNK, "", "", "Link to an OSCORE object instance."),
];
