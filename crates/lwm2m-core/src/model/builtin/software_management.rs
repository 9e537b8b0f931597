//! Object 9, LwM2M Software Management 1.0.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 9,
    name: "LWM2M Software Management",
    description: "Installation, activation and removal of software packages.",
    version: Version::V1_0,
    lwm2m_version: Version::V1_0,
    multiple: true,
    mandatory: false,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "PkgName", R, SINGLE, MAND, STR, "0..255 bytes", "", "Name of the package."),
    (1, "PkgVersion", R, SINGLE, MAND, STR, "0..255 bytes", "", "Version of the package."),
    (2, "Package", W, SINGLE, OPT, OPAQUE, "", "", "Package pushed by the server."),
    (3, "Package URI", W, SINGLE, OPT, STR, "0..255 bytes", "", "Where the client downloads the package from."),
    (4, "Install", E, SINGLE, MAND, EXEC, "", "", "Installs the package."),
    (5, "Checkpoint", R, SINGLE, OPT, OBJLNK, "", "", "Link to a checkpoint object."),
    (6, "Uninstall", E, SINGLE, MAND, EXEC, "", "", "Removes the package."),
    (7, "Update State", R, SINGLE, MAND, INT, "0..4", "", "0 initial, 1 downloading, 2 downloaded, 3 delivered, 4 installed."),
    (8, "Update Supported Objects", RW, SINGLE, OPT, BOOL, "", "", "Whether the client updates its registration after install."),
    (9, "Update Result", R, SINGLE, MAND, INT, "0..200", "", "Result of the last download or install."),
    (10, "Activate", E, SINGLE, MAND, EXEC, "", "", "Activates the installed software."),
    (11, "Deactivate", E, SINGLE, MAND, EXEC, "", "", "Deactivates the installed software."),
    (12, "Activation State", R, SINGLE, MAND, BOOL, "", "", "Whether the software is active."),
    (13, "Package Settings", RW, SINGLE, OPT, OBJLNK, "", "", "Link to settings of the package."),
    (14, "User Name", W, SINGLE, OPT, STR, "0..255 bytes", "", "User name for the download."),
    (15, "Password", W, SINGLE, OPT, STR, "0..255 bytes", "", "Password for the download."),
    (16, "Status Reason", R, SINGLE, OPT, STR, "", "", "Why the last operation failed."),
    (17, "Software Component Link", R, MULTI, OPT, OBJLNK, "", "", "Components of the package."),
    (18, "Software Component tree length", R, SINGLE, OPT, INT, "0..255", "", "Number of components."),
];
