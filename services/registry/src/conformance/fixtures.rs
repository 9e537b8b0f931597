//! Test data shared by the cases (and by other crates' tests).

use std::path::PathBuf;

use crate::device::{Credentials, DeviceSettings, SecretKey};
use crate::ids::TenantId;
use crate::models::import::DdfFile;
use crate::service::{NewDevice, Registry};

#[path = "../../../../crates/lwm2m-core/tests/support/registry_dir.rs"]
mod registry_dir;

/// The OMA registry copy (`$LWM2M_REGISTRY_DIR`, an ancestor's
/// `shared/lwm2m-registry`, or `/work/shared/lwm2m-registry`).
pub fn oma_registry_dir() -> PathBuf {
    registry_dir::registry_dir()
}

/// Every XML file of the OMA registry (top level, then `version_history/`),
/// named relative to it.
pub fn oma_registry_files() -> Vec<DdfFile> {
    let dir = oma_registry_dir();
    let mut files = Vec::new();
    for sub in ["", "version_history"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "xml"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.push(DdfFile {
                name,
                content: std::fs::read(&path).unwrap(),
            });
        }
    }
    files
}

/// A DDF file defining one object; `resources` are `(id, name, operations, type)`.
pub fn ddf(id: u16, version: &str, name: &str, resources: &[(u16, &str, &str, &str)]) -> DdfFile {
    let items: String = resources
        .iter()
        .map(|(rid, rname, ops, kind)| {
            format!(
                "<Item ID=\"{rid}\"><Name>{rname}</Name><Operations>{ops}</Operations>\
                 <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>\
                 <Type>{kind}</Type></Item>"
            )
        })
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<LWM2M><Object ObjectType=\"MODefinition\">\
         <Name>{name}</Name><Description1>test object</Description1><ObjectID>{id}</ObjectID>\
         <ObjectVersion>{version}</ObjectVersion><MultipleInstances>Multiple</MultipleInstances>\
         <Mandatory>Optional</Mandatory><Resources>{items}</Resources></Object></LWM2M>"
    );
    DdfFile {
        name: format!("{id}-{}.xml", version.replace('.', "_")),
        content: xml.into_bytes(),
    }
}

pub fn tenant_id(id: &str) -> TenantId {
    TenantId::parse(id, "tenant").unwrap()
}

/// Creates tenant `id`.
pub async fn tenant(registry: &Registry, id: &str) -> TenantId {
    let t = tenant_id(id);
    registry
        .create_tenant(t.clone(), format!("Tenant {id}"), false)
        .await
        .unwrap();
    t
}

/// A 16-byte PSK key as hex, different per `seed`.
pub fn psk_hex(seed: u8) -> String {
    hex::encode([seed; 16])
}

pub fn psk(identity: &str, seed: u8) -> Credentials {
    Credentials::Psk {
        identity: identity.to_owned(),
        key: SecretKey::from_hex(&psk_hex(seed)).unwrap(),
    }
}

/// A NoSec device of `tenant` without a profile.
pub fn nosec(tenant: &TenantId, endpoint: &str) -> NewDevice {
    NewDevice {
        tenant_id: tenant.clone(),
        endpoint: endpoint.to_owned(),
        name: String::new(),
        profile_id: None,
        credentials: Credentials::NoSec,
        bootstrap_credentials: None,
        settings: DeviceSettings::default(),
    }
}
