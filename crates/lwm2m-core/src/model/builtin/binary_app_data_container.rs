//! Object 19, BinaryAppDataContainer 1.0 (1.1 exists and can be loaded from DDF).

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 19,
    name: "BinaryAppDataContainer",
    description: "Opaque application data exchanged between device and server.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: true,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Data", RW, MULTI, MAND, OPAQUE, "", "", "Application data."),
    (1, "Data Priority", RW, SINGLE, OPT, INT, "1 bytes", "", "Priority of the data, 0 highest."),
    (2, "Data Creation Time", RW, SINGLE, OPT, TIME, "", "", "When the data was produced."),
    (3, "Data Description", RW, SINGLE, OPT, STR, "32 bytes", "", "What the data is."),
    (4, "Data Format", RW, SINGLE, OPT, STR, "32 bytes", "", "Format of the data, e.g. a MIME type."),
    (5, "App ID", RW, SINGLE, OPT, INT, "2 bytes", "", "Application the data belongs to."),
];
