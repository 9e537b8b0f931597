//! Object 3303 (IPSO Temperature 1.0), which lwm2m-core does not build in.
//! The table follows the OMA LwM2M registry entry for urn:oma:lwm2m:ext:3303.

use std::collections::BTreeMap;

use lwm2m_core::{ModelRegistry, ObjectModel, Operations, ResourceModel, ResourceType, Version};

/// Object id of IPSO Temperature.
pub const TEMPERATURE: u16 = 3303;
/// Sensor Value (R, Float, mandatory).
pub const SENSOR_VALUE: u16 = 5700;
/// Sensor Units (R, String).
pub const SENSOR_UNITS: u16 = 5701;
/// Min Measured Value (R, Float).
pub const MIN_MEASURED: u16 = 5601;
/// Max Measured Value (R, Float).
pub const MAX_MEASURED: u16 = 5602;
/// Min Range Value (R, Float).
pub const MIN_RANGE: u16 = 5603;
/// Max Range Value (R, Float).
pub const MAX_RANGE: u16 = 5604;
/// Reset Min and Max Measured Values (E).
pub const RESET_MIN_MAX: u16 = 5605;
/// Application Type (RW, String).
pub const APPLICATION_TYPE: u16 = 5750;
/// Timestamp (R, Time).
pub const TIMESTAMP: u16 = 5518;

/// The 3303 model.
pub fn temperature_model() -> ObjectModel {
    use Operations::{Execute as E, Read as R, ReadWrite as RW};
    use ResourceType::{Float, None as Exec, String as Str, Time};
    let rows: [(u16, &str, Operations, bool, ResourceType, &str); 9] = [
        (
            SENSOR_VALUE,
            "Sensor Value",
            R,
            true,
            Float,
            "Last or current measured value from the sensor.",
        ),
        (
            SENSOR_UNITS,
            "Sensor Units",
            R,
            false,
            Str,
            "Measurement units definition.",
        ),
        (
            MIN_MEASURED,
            "Min Measured Value",
            R,
            false,
            Float,
            "The minimum value measured since power on or reset.",
        ),
        (
            MAX_MEASURED,
            "Max Measured Value",
            R,
            false,
            Float,
            "The maximum value measured since power on or reset.",
        ),
        (
            MIN_RANGE,
            "Min Range Value",
            R,
            false,
            Float,
            "The minimum value that can be measured by the sensor.",
        ),
        (
            MAX_RANGE,
            "Max Range Value",
            R,
            false,
            Float,
            "The maximum value that can be measured by the sensor.",
        ),
        (
            RESET_MIN_MAX,
            "Reset Min and Max Measured Values",
            E,
            false,
            Exec,
            "Reset the Min and Max Measured Values to Current Value.",
        ),
        (
            APPLICATION_TYPE,
            "Application Type",
            RW,
            false,
            Str,
            "The application type of the sensor or actuator as a string.",
        ),
        (
            TIMESTAMP,
            "Timestamp",
            R,
            false,
            Time,
            "The timestamp of when the measurement was performed.",
        ),
    ];
    let resources: BTreeMap<u16, ResourceModel> = rows
        .into_iter()
        .map(|(id, name, operations, mandatory, kind, description)| {
            let model = ResourceModel {
                id,
                name: name.to_owned(),
                operations,
                multiple: false,
                mandatory,
                kind,
                range: None,
                units: None,
                description: description.to_owned(),
            };
            (id, model)
        })
        .collect();
    ObjectModel {
        id: TEMPERATURE,
        name: "Temperature".to_owned(),
        description: "Description: This IPSO object should be used with a temperature sensor to report a temperature measurement.".to_owned(),
        version: Version::V1_0,
        lwm2m_version: Version::V1_0,
        multiple: true,
        mandatory: false,
        urn: Some("urn:oma:lwm2m:ext:3303".to_owned()),
        resources,
    }
}

/// The registry every simulated device encodes and decodes with: the core
/// objects of lwm2m-core plus 3303.
pub fn sim_registry() -> ModelRegistry {
    let mut registry = ModelRegistry::with_core_objects();
    registry.insert(temperature_model());
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_core::ModelLookup;

    #[test]
    fn registry_knows_3303_and_the_core_objects() {
        let reg = sim_registry();
        let value = reg.resource(TEMPERATURE, SENSOR_VALUE).unwrap();
        assert_eq!(value.kind, ResourceType::Float);
        assert!(value.mandatory && value.operations.readable());
        assert!(reg
            .resource(TEMPERATURE, RESET_MIN_MAX)
            .unwrap()
            .operations
            .executable());
        assert!(reg
            .resource(TEMPERATURE, APPLICATION_TYPE)
            .unwrap()
            .operations
            .writable());
        assert!(reg.object(3).is_some() && reg.object(6).is_some());
    }
}
