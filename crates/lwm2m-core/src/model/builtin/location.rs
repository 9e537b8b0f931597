//! Object 6, Location 1.0.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 6,
    name: "Location",
    description: "Position of the device: latitude, longitude, altitude, speed.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: false,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Latitude", R, SINGLE, MAND, FLOAT, "", "lat", "Decimal degrees."),
    (1, "Longitude", R, SINGLE, MAND, FLOAT, "", "lon", "Decimal degrees."),
    (2, "Altitude", R, SINGLE, OPT, FLOAT, "", "m", "Metres above sea level."),
    (3, "Radius", R, SINGLE, OPT, FLOAT, "", "m", "Accuracy radius."),
    (4, "Velocity", R, SINGLE, OPT, OPAQUE, "", "", "Velocity as in 3GPP TS 23.032."),
    (5, "Timestamp", R, SINGLE, MAND, TIME, "", "", "When the position was measured."),
    (6, "Speed", R, SINGLE, OPT, FLOAT, "", "m/s", "Speed over ground."),
];
