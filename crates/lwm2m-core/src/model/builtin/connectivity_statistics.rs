//! Object 7, Connectivity Statistics 1.0.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 7,
    name: "Connectivity Statistics",
    description: "Traffic counters collected between Start and Stop.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: false,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "SMS Tx Counter", R, SINGLE, OPT, INT, "", "", "SMS sent."),
    (1, "SMS Rx Counter", R, SINGLE, OPT, INT, "", "", "SMS received."),
    (2, "Tx Data", R, SINGLE, OPT, INT, "", "kB", "Data sent."),
    (3, "Rx Data", R, SINGLE, OPT, INT, "", "kB", "Data received."),
    (4, "Max Message Size", R, SINGLE, OPT, INT, "", "B", "Largest message."),
    (5, "Average Message Size", R, SINGLE, OPT, INT, "", "B", "Average message size."),
    (6, "Start", E, SINGLE, MAND, EXEC, "", "", "Resets the counters and starts collecting."),
    (7, "Stop", E, SINGLE, MAND, EXEC, "", "", "Stops collecting."),
    (8, "Collection Period", RW, SINGLE, OPT, INT, "", "s", "Collection duration; 0 collects until Stop."),
];
