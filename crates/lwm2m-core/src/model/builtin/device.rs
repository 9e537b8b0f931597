//! Object 3, Device 1.1 (LwM2M 1.1): identity, power, time and reboot.

use super::prelude::*;

pub(super) const OBJECT: ObjectDef = ObjectDef {
    id: 3,
    name: "Device",
    description:
        "Device information: manufacturer, model, versions, power, time; reboot and factory reset.",
    version: Version::V1_1,
    lwm2m_version: Version::V1_1,
    multiple: false,
    mandatory: true,
    resources: RESOURCES,
};

#[rustfmt::skip]
const RESOURCES: &[Row] = &[
    (0, "Manufacturer", R, SINGLE, OPT, STR, "", "", "Manufacturer name."),
    (1, "Model Number", R, SINGLE, OPT, STR, "", "", "Model identifier."),
    (2, "Serial Number", R, SINGLE, OPT, STR, "", "", "Serial number."),
    (3, "Firmware Version", R, SINGLE, OPT, STR, "", "", "Current firmware version."),
    (4, "Reboot", E, SINGLE, MAND, EXEC, "", "", "Reboots the device."),
    (5, "Factory Reset", E, SINGLE, OPT, EXEC, "", "", "Restores the factory configuration."),
    (6, "Available Power Sources", R, MULTI, OPT, INT, "0..7", "", "0 DC, 1 internal battery, 2 external battery, 3 fuel cell, 4 PoE, 5 USB, 6 AC, 7 solar."),
    (7, "Power Source Voltage", R, MULTI, OPT, INT, "", "mV", "Voltage of each power source."),
    (8, "Power Source Current", R, MULTI, OPT, INT, "", "mA", "Current of each power source."),
    (9, "Battery Level", R, SINGLE, OPT, INT, "0..100", "%", "Remaining battery charge."),
    (10, "Memory Free", R, SINGLE, OPT, INT, "", "KB", "Free storage."),
    (11, "Error Code", R, MULTI, MAND, INT, "0..8", "", "0 no error, 1 low battery, 2 external power off, 3 GPS failure, ... 8 software update failed."),
    (12, "Reset Error Code", E, SINGLE, OPT, EXEC, "", "", "Clears the error codes."),
    (13, "Current Time", RW, SINGLE, OPT, TIME, "", "", "Device clock."),
    (14, "UTC Offset", RW, SINGLE, OPT, STR, "", "", "Offset from UTC, ISO 8601 (e.g. +02)."),
    (15, "Timezone", RW, SINGLE, OPT, STR, "", "", "IANA time zone (e.g. Europe/Berlin)."),
    (16, "Supported Binding and Modes", R, SINGLE, MAND, STR, "", "", "Bindings the device supports, e.g. UQ."),
    (17, "Device Type", R, SINGLE, OPT, STR, "", "", "Kind of device, e.g. smart meter."),
    (18, "Hardware Version", R, SINGLE, OPT, STR, "", "", "Hardware version."),
    (19, "Software Version", R, SINGLE, OPT, STR, "", "", "Software version."),
    (20, "Battery Status", R, SINGLE, OPT, INT, "0..6", "", "0 normal, 1 charging, 2 charge complete, 3 damaged, 4 low, 5 not installed, 6 unknown."),
    (21, "Memory Total", R, SINGLE, OPT, INT, "", "KB", "Total storage."),
    (22, "ExtDevInfo", R, MULTI, OPT, OBJLNK, "", "", "Links to objects with further device information."),
];
