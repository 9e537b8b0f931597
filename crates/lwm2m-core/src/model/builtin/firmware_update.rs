//! Object 5, Firmware Update 1.0 (LwM2M 1.0).
//!
//! 1.0 is what most deployed clients register; the registry also has 1.1
//! (adding 10 Cancel, 11 Severity, 12 Last State Change Time and 13 Maximum
//! Defer Period), which is loaded from DDF when a device registers `ver=1.1`.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 5,
    name: "Firmware Update",
    description:
        "Firmware download (push to Package or pull from Package URI), update and its result.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: false,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Package", W, SINGLE, MAND, OPAQUE, "", "", "Firmware image pushed by the server."),
    (1, "Package URI", RW, SINGLE, MAND, STR, "0..255", "", "Where the client downloads the image from."),
    (2, "Update", E, SINGLE, MAND, EXEC, "", "", "Installs the downloaded image."),
    (3, "State", R, SINGLE, MAND, INT, "0..3", "", "0 idle, 1 downloading, 2 downloaded, 3 updating."),
    (5, "Update Result", R, SINGLE, MAND, INT, "0..9", "", "0 initial, 1 success, 2 no storage, 3 out of memory, 4 connection lost, 5 CRC failed, 6 unsupported type, 7 invalid URI, 8 update failed, 9 unsupported protocol."),
    (6, "PkgName", R, SINGLE, OPT, STR, "0..255", "", "Name of the package."),
    (7, "PkgVersion", R, SINGLE, OPT, STR, "0..255", "", "Version of the package."),
    (8, "Firmware Update Protocol Support", R, MULTI, OPT, INT, "0..5", "", "0 CoAP, 1 CoAPS, 2 HTTP 1.1, 3 HTTPS 1.1, 4 CoAP over TCP, 5 CoAP over TLS."),
    (9, "Firmware Update Delivery Method", R, SINGLE, MAND, INT, "0..2", "", "0 pull only, 1 push only, 2 both."),
];
