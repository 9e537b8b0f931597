//! Object 2, LwM2M Access Control 1.0: per-server rights on object instances.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 2,
    name: "LwM2M Access Control",
    description: "Access rights of each LwM2M server on one object instance.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: true,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Object ID", R, SINGLE, MAND, INT, "1..65534", "", "Object the rights apply to."),
    (1, "Object Instance ID", R, SINGLE, MAND, INT, "0..65535", "", "Instance the rights apply to; 65535 means creating instances."),
    (2, "ACL", RW, MULTI, OPT, INT, "16-bit", "", "Rights per Short Server ID (instance id): R, W, E, D, C bits."),
    (3, "Access Control Owner", RW, SINGLE, MAND, INT, "0..65535", "", "Short Server ID of the server owning this instance."),
];
