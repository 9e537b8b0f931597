//! Object 4, Connectivity Monitoring 1.2 (LwM2M 1.1): bearer and radio state.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 4,
    name: "Connectivity Monitoring",
    description: "Network bearer, signal strength, addresses and cell of the device's connection.",
    version: Version::V1_2,
    lwm2m_version: Version::V1_1,
    multiple: false,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Network Bearer", R, SINGLE, MAND, INT, "0..50", "", "Bearer in use: 0 GSM ... 6 LTE-TDD, 7 LTE-FDD, 8 NB-IoT, 21 WLAN, 41 Ethernet ..."),
    (1, "Available Network Bearer", R, MULTI, MAND, INT, "0..50", "", "Bearers the device supports."),
    (2, "Radio Signal Strength", R, SINGLE, MAND, INT, "", "dBm", "Average received signal strength."),
    (3, "Link Quality", R, SINGLE, OPT, INT, "", "", "Bearer-specific link quality."),
    (4, "IP Addresses", R, MULTI, MAND, STR, "", "", "IP addresses of the device."),
    (5, "Router IP Addresses", R, MULTI, OPT, STR, "", "", "Addresses of the next-hop routers."),
    (6, "Link Utilization", R, SINGLE, OPT, INT, "0..100", "%", "Average utilisation of the link."),
    (7, "APN", R, MULTI, OPT, STR, "", "", "Access point names in use."),
    (8, "Cell ID", R, SINGLE, OPT, INT, "", "", "Serving cell id."),
    (9, "SMNC", R, SINGLE, OPT, INT, "0..999", "", "Serving mobile network code."),
    (10, "SMCC", R, SINGLE, OPT, INT, "0..999", "", "Serving mobile country code."),
    (11, "SignalSNR", R, SINGLE, OPT, INT, "", "dB", "Signal to noise ratio."),
    (12, "LAC", R, SINGLE, OPT, INT, "", "", "Location (tracking) area code."),
];
