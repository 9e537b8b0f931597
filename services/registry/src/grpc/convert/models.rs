//! Object models and their references.

use std::collections::BTreeMap;

use lwm2m_core::{ObjectModel, Operations, ResourceModel, ResourceType};
use lwm2m_proto::registry::v1 as pb;

use super::{u16_of, version_of, Faults};
use crate::error::Error;
use crate::models::{ModelKey, ModelRecord, UnknownObject};

pub fn operations_text(ops: Operations) -> &'static str {
    match ops {
        Operations::None => "",
        Operations::Read => "R",
        Operations::Write => "W",
        Operations::ReadWrite => "RW",
        Operations::Execute => "E",
    }
}

/// The DDF spelling of a resource type (`Unsigned Integer`, `Objlnk`, …).
pub fn type_text(kind: ResourceType) -> &'static str {
    match kind {
        ResourceType::String => "String",
        ResourceType::Integer => "Integer",
        ResourceType::UnsignedInteger => "Unsigned Integer",
        ResourceType::Float => "Float",
        ResourceType::Boolean => "Boolean",
        ResourceType::Opaque => "Opaque",
        ResourceType::Time => "Time",
        ResourceType::ObjectLink => "Objlnk",
        ResourceType::CoreLink => "Corelnk",
        ResourceType::None => "",
    }
}

pub fn model_to_proto(record: &ModelRecord, include_resources: bool) -> pb::ObjectModel {
    let m = &record.model;
    pb::ObjectModel {
        tenant_id: record.scope.db_key().to_owned(),
        object_id: u32::from(m.id),
        version: m.version.to_string(),
        name: m.name.clone(),
        description: m.description.clone(),
        lwm2m_version: m.lwm2m_version.to_string(),
        multiple_instances: m.multiple,
        mandatory: m.mandatory,
        urn: m.urn.clone().unwrap_or_default(),
        resources: if include_resources {
            m.resources.values().map(resource_to_proto).collect()
        } else {
            Vec::new()
        },
        source_name: record.source_name.clone(),
        ddf_xml: record.ddf_xml.clone().unwrap_or_default(),
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
    }
}

fn resource_to_proto(r: &ResourceModel) -> pb::ResourceModel {
    pb::ResourceModel {
        id: u32::from(r.id),
        name: r.name.clone(),
        operations: operations_text(r.operations).to_owned(),
        multiple_instances: r.multiple,
        mandatory: r.mandatory,
        r#type: type_text(r.kind).to_owned(),
        range: r.range.clone().unwrap_or_default(),
        units: r.units.clone().unwrap_or_default(),
        description: r.description.clone(),
    }
}

/// A model as a remote registry sent it (the lookup client's side).
pub fn model_from_proto(m: &pb::ObjectModel) -> Result<ObjectModel, Error> {
    let mut faults = Faults::default();
    let id = faults.take(u16_of(m.object_id, "object_id"));
    let version = faults.take(version_of(&m.version, "version", None));
    let lwm2m_version = faults.take(version_of(
        &m.lwm2m_version,
        "lwm2m_version",
        Some(lwm2m_core::Version::V1_0),
    ));
    let mut resources = BTreeMap::new();
    for (i, r) in m.resources.iter().enumerate() {
        let rid = faults.take(u16_of(r.id, &format!("resources[{i}].id")));
        let operations = Operations::from_ddf(&r.operations).unwrap_or_else(|| {
            faults.add(format!("resources[{i}].operations"), "unknown");
            Operations::None
        });
        let kind = ResourceType::from_ddf(&r.r#type).unwrap_or_else(|| {
            faults.add(format!("resources[{i}].type"), "unknown");
            ResourceType::None
        });
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        resources.insert(
            rid,
            ResourceModel {
                id: rid,
                name: r.name.clone(),
                operations,
                multiple: r.multiple_instances,
                mandatory: r.mandatory,
                kind,
                range: text(&r.range),
                units: text(&r.units),
                description: r.description.clone(),
            },
        );
    }
    faults.finish(ObjectModel {
        id,
        name: m.name.clone(),
        description: m.description.clone(),
        version,
        lwm2m_version,
        multiple: m.multiple_instances,
        mandatory: m.mandatory,
        urn: (!m.urn.is_empty()).then(|| m.urn.clone()),
        resources,
    })
}

pub fn ref_to_proto(k: &ModelKey) -> pb::ObjectRef {
    pb::ObjectRef {
        object_id: u32::from(k.object_id),
        version: k.version.to_string(),
    }
}

/// `field` names the list (`objects`).
pub fn refs_from_proto(refs: &[pb::ObjectRef], field: &str) -> Result<Vec<ModelKey>, Error> {
    let mut faults = Faults::default();
    let keys = refs
        .iter()
        .enumerate()
        .map(|(i, r)| ModelKey {
            object_id: faults.take(u16_of(r.object_id, &format!("{field}[{i}].object_id"))),
            version: faults.take(version_of(
                &r.version,
                &format!("{field}[{i}].version"),
                Some(lwm2m_core::Version::V1_0),
            )),
        })
        .collect();
    faults.finish(keys)
}

pub fn unknown_to_proto(u: &UnknownObject) -> pb::UnknownObject {
    pb::UnknownObject {
        object_id: u32::from(u.key.object_id),
        version: u.key.version.to_string(),
        first_seen_ms: u.first_seen_ms,
        last_seen_ms: u.last_seen_ms,
        last_endpoint: u.last_endpoint.clone(),
        seen_count: u.seen_count,
    }
}
