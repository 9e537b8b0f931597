//! Object 1, LwM2M Server 1.1 (LwM2M 1.1): per-server registration settings.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 1,
    name: "LwM2M Server",
    description: "Data related to a LwM2M server: lifetime, default observation periods, binding.",
    version: Version::V1_1,
    lwm2m_version: Version::V1_1,
    multiple: true,
    mandatory: true,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Short Server ID", R, SINGLE, MAND, INT, "1..65534", "", "Identifies the server; links Security and Server instances."),
    (1, "Lifetime", RW, SINGLE, MAND, INT, "", "s", "Registration lifetime."),
    (2, "Default Minimum Period", RW, SINGLE, OPT, INT, "", "s", "Default pmin of observations."),
    (3, "Default Maximum Period", RW, SINGLE, OPT, INT, "", "s", "Default pmax of observations."),
    (4, "Disable", E, SINGLE, OPT, EXEC, "", "", "Disables the server for Disable Timeout seconds."),
    (5, "Disable Timeout", RW, SINGLE, OPT, INT, "", "s", "How long the server stays disabled."),
    (6, "Notification Storing When Disabled or Offline", RW, SINGLE, MAND, BOOL, "", "", "Whether notifications are kept while offline."),
    (7, "Binding", RW, SINGLE, MAND, STR, "The possible values are those listed in the LwM2M Core Specification", "", "Transport binding and mode, e.g. U or UQ."),
    (8, "Registration Update Trigger", E, SINGLE, MAND, EXEC, "", "", "Makes the client send an Update."),
    (9, "Bootstrap-Request Trigger", E, SINGLE, OPT, EXEC, "", "", "Makes the client bootstrap again."),
    (10, "APN Link", RW, SINGLE, OPT, OBJLNK, "", "", "APN connection profile to use."),
    (11, "TLS-DTLS Alert Code", R, SINGLE, OPT, UINT, "0..255", "", "Last (D)TLS alert received."),
    (12, "Last Bootstrapped", R, SINGLE, OPT, TIME, "", "", "When the client was last bootstrapped."),
    (13, "Registration Priority Order", NO, SINGLE, OPT, UINT, "", "", "Order in which servers are registered to."),
    (14, "Initial Registration Delay Timer", NO, SINGLE, OPT, UINT, "", "s", "Delay before registering."),
    (15, "Registration Failure Block", NO, SINGLE, OPT, BOOL, "", "", "Whether a failed registration blocks the others."),
    (16, "Bootstrap on Registration Failure", NO, SINGLE, OPT, BOOL, "", "", "Whether to bootstrap after a failed registration."),
    (17, "Communication Retry Count", NO, SINGLE, OPT, UINT, "", "", "Retries of one communication sequence."),
    (18, "Communication Retry Timer", NO, SINGLE, OPT, UINT, "", "s", "Base delay between retries."),
    (19, "Communication Sequence Delay Timer", NO, SINGLE, OPT, UINT, "", "", "Delay between communication sequences."),
    (20, "Communication Sequence Retry Count", NO, SINGLE, OPT, UINT, "", "", "Number of communication sequences."),
    (21, "Trigger", RW, SINGLE, OPT, BOOL, "", "", "Whether the server may trigger the client by SMS."),
    (22, "Preferred Transport", RW, SINGLE, OPT, STR, "The possible values are those listed in the LwM2M Core Specification", "", "Transport the client prefers for this server."),
    (23, "Mute Send", RW, SINGLE, OPT, BOOL, "", "", "Whether the Send operation is disabled."),
];
