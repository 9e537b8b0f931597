//! Devices in the registry, shown with their registration status on the
//! transport: list, get, create, delete, and bulk CSV import.

use std::collections::BTreeMap;

use lwm2m_proto::registry::v1::credentials::Mode;
use lwm2m_proto::registry::v1::*;
use lwm2m_proto::transport::v1::{GetRegistrationRequest, Registration};
use serde_json::{json, Value as Json};

use super::{device_import, profiles, registrations, Context};
use crate::cli::{CreateDevice, DevicesCommand};
use crate::clients::Registry;
use crate::csv_chunks;
use crate::error::Error;
use crate::proto_json;
use crate::render;
use crate::table::Table;

/// Rows per upload of `devices import`: small enough for a moving
/// progress bar, large enough that a 10 000-row file is 100 calls.
const CSV_ROWS_PER_UPLOAD: usize = 100;

pub async fn run(ctx: &Context, command: DevicesCommand) -> Result<(), Error> {
    if let DevicesCommand::List { profile, contains } = command {
        return list(ctx, profile, contains).await;
    }
    let mut registry = ctx.registry().await?;
    match command {
        DevicesCommand::List { .. } => Ok(()),
        DevicesCommand::Get {
            endpoint,
            reveal_secrets,
        } => get(ctx, &mut registry, &endpoint, reveal_secrets).await,
        DevicesCommand::Create(args) => create(ctx, &mut registry, args).await,
        DevicesCommand::Delete { endpoint } => {
            let device = by_endpoint(&mut registry, &endpoint, false).await?;
            registry
                .devices
                .delete_device(DeleteDeviceRequest {
                    id: device.id.clone(),
                })
                .await?;
            if ctx.global.json {
                ctx.print_json(&json!({"deleted": device.id, "endpoint": device.endpoint}));
            } else {
                println!("deleted device {} ({})", device.endpoint, device.id);
            }
            Ok(())
        }
        DevicesCommand::Import {
            file,
            profile,
            update_existing,
        } => {
            let csv = std::fs::read(&file).map_err(|e| Error::file(&file, e))?;
            let profile_id = match profile {
                Some(p) => profiles::resolve(ctx, &mut registry, &p).await?.id,
                None => String::new(),
            };
            let chunks =
                csv_chunks::split(&csv, CSV_ROWS_PER_UPLOAD).map_err(|e| Error::file(&file, e))?;
            device_import::import(ctx, &mut registry, chunks, profile_id, update_existing).await
        }
    }
}

async fn by_endpoint(
    registry: &mut Registry,
    endpoint: &str,
    reveal_secrets: bool,
) -> Result<Device, Error> {
    Ok(registry
        .devices
        .get_device(GetDeviceRequest {
            key: Some(get_device_request::Key::Endpoint(endpoint.to_owned())),
            reveal_secrets,
        })
        .await?
        .into_inner())
}

/// Registration status comes from the transport; when it cannot be reached
/// the registry's list is still worth showing, with the status unknown.
async fn registrations_if_reachable(ctx: &Context) -> Option<Vec<Registration>> {
    let result: Result<Vec<Registration>, Error> = async {
        let mut transport = ctx.transport().await?;
        registrations::list_all(&mut transport, None).await
    }
    .await;
    match result {
        Ok(list) => Some(list),
        Err(e) => {
            eprintln!("lwm2mctl: registration status unknown: {e}");
            None
        }
    }
}

/// The tenant's registry devices (narrowed as asked) and its profile names.
async fn registry_devices(
    ctx: &Context,
    registry: &mut Registry,
    profile: Option<&str>,
    contains: Option<&str>,
) -> Result<(Vec<Device>, BTreeMap<String, String>), Error> {
    let profile_names: BTreeMap<String, String> = profiles::list_all(ctx, registry)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let profile_id = match profile {
        Some(p) => profiles::resolve(ctx, registry, p).await?.id,
        None => String::new(),
    };
    let mut devices = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .devices
            .list_devices(ListDevicesRequest {
                tenant_id: ctx.global.tenant.clone(),
                profile_id: profile_id.clone(),
                name_contains: contains.unwrap_or_default().to_owned(),
                page_size: 1000,
                page_token,
            })
            .await?
            .into_inner();
        devices.extend(page.devices);
        if page.next_page_token.is_empty() {
            return Ok((devices, profile_names));
        }
        page_token = page.next_page_token;
    }
}

async fn list(
    ctx: &Context,
    profile: Option<String>,
    contains: Option<String>,
) -> Result<(), Error> {
    // One service down still leaves a list worth seeing (registrations
    // without registry data, or devices with an unknown status), said on
    // stderr; with both down there is nothing to show.
    let (registry_part, registry_error) = match ctx.registry().await {
        Ok(mut registry) => {
            let part =
                registry_devices(ctx, &mut registry, profile.as_deref(), contains.as_deref())
                    .await?;
            (Some(part), None)
        }
        Err(e @ Error::Connect { .. }) if profile.is_none() => (None, Some(e)),
        Err(e) => return Err(e),
    };
    let registrations = registrations_if_reachable(ctx).await;
    if let (None, Some(e)) = (&registrations, registry_error) {
        return Err(e);
    }
    if registry_part.is_none() {
        eprintln!("lwm2mctl: registry unavailable, listing registrations only");
    }
    let registry_known = registry_part.is_some();
    let (devices, profile_names) = registry_part.unwrap_or_default();
    // Auto-provisioned devices are registered without a registry entry
    // (and without a tenant); they belong in the list unless it is
    // narrowed to a profile.
    let matches = |endpoint: &str| {
        contains
            .as_deref()
            .is_none_or(|c| endpoint.to_lowercase().contains(&c.to_lowercase()))
    };
    let unprovisioned: Vec<&Registration> = registrations
        .iter()
        .flatten()
        .filter(|r| !registry_known || r.tenant.is_empty())
        .filter(|r| profile.is_none() && matches(&r.endpoint))
        .filter(|r| !devices.iter().any(|d| d.endpoint == r.endpoint))
        .collect();
    let mut rows: Vec<DeviceRow<'_>> = devices
        .iter()
        .map(|d| DeviceRow {
            endpoint: d.endpoint.clone(),
            device: Some(d),
            provisioned: Some(true),
            profile_name: profile_names.get(&d.profile_id).cloned(),
            registration: registrations
                .as_ref()
                .map(|regs| regs.iter().find(|r| r.endpoint == d.endpoint)),
        })
        .chain(unprovisioned.into_iter().map(|r| DeviceRow {
            endpoint: r.endpoint.clone(),
            device: None,
            provisioned: registry_known.then_some(false),
            profile_name: None,
            registration: Some(Some(r)),
        }))
        .collect();
    rows.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    if ctx.global.json {
        ctx.print_json(&Json::Array(rows.iter().map(DeviceRow::json).collect()));
    } else {
        print!("{}", devices_table(&rows));
    }
    Ok(())
}

/// One line of `devices list`.
struct DeviceRow<'a> {
    endpoint: String,
    /// None: registered without a registry entry (auto-provisioned), or
    /// the registry could not be asked.
    device: Option<&'a Device>,
    /// None: the registry could not be asked.
    provisioned: Option<bool>,
    profile_name: Option<String>,
    /// None: the transport could not be asked; Some(None): not registered.
    registration: Option<Option<&'a Registration>>,
}

impl DeviceRow<'_> {
    fn json(&self) -> Json {
        json!({
            "endpoint": self.endpoint,
            "provisioned": self.provisioned,
            "id": self.device.map(|d| d.id.clone()),
            "name": self.device.map(|d| d.name.clone()),
            "profile_id": self.device.map(|d| d.profile_id.clone()).filter(|p| !p.is_empty()),
            "profile": self.profile_name,
            "security": self.device.map(security_mode),
            "registered": self.registration.map(|r| r.is_some()),
            "address": self.registration.flatten().map(|r| r.address.clone()),
        })
    }

    fn status(&self) -> &'static str {
        match self.registration {
            None => "?",
            Some(None) => "offline",
            Some(Some(_)) => "registered",
        }
    }
}

fn devices_table(rows: &[DeviceRow<'_>]) -> String {
    let mut table = Table::new(&[
        "ENDPOINT", "NAME", "PROFILE", "SECURITY", "STATUS", "ADDRESS",
    ]);
    for row in rows {
        let dash = || "-".to_owned();
        table.row(vec![
            row.endpoint.clone(),
            row.device.map_or_else(dash, |d| d.name.clone()),
            row.profile_name.clone().unwrap_or_else(dash),
            match (row.device, row.provisioned) {
                (Some(d), _) => security_mode(d).to_owned(),
                (None, Some(_)) => "(auto)".to_owned(),
                (None, None) => "?".to_owned(),
            },
            row.status().to_owned(),
            row.registration
                .flatten()
                .map_or_else(dash, |r| r.address.clone()),
        ]);
    }
    table.render()
}

fn security_mode(device: &Device) -> &'static str {
    match device.credentials.as_ref().and_then(|c| c.mode.as_ref()) {
        None | Some(Mode::NoSec(_)) => "NO_SEC",
        Some(Mode::Psk(_)) => "PSK",
        Some(Mode::Rpk(_)) => "RPK",
        Some(Mode::X509(_)) => "X509",
    }
}

async fn get(
    ctx: &Context,
    registry: &mut Registry,
    endpoint: &str,
    reveal_secrets: bool,
) -> Result<(), Error> {
    let device = match by_endpoint(registry, endpoint, reveal_secrets).await {
        Ok(device) => Some(device),
        Err(Error::Rpc(status)) if status.code() == tonic::Code::NotFound => None,
        Err(e) => return Err(e),
    };
    let registration = match ctx.transport().await {
        Ok(mut transport) => transport
            .get_registration(GetRegistrationRequest {
                endpoint: endpoint.to_owned(),
                tenant: String::new(),
            })
            .await
            .ok()
            .map(|r| render::registration_json(&r.into_inner())),
        Err(e) => {
            eprintln!("lwm2mctl: registration status unknown: {e}");
            None
        }
    };
    if device.is_none() && registration.is_none() {
        return Err(Error::NotFound(format!(
            "no device {endpoint:?} in the registry and no registration"
        )));
    }
    let device = device.as_ref().map(proto_json::to_json).transpose()?;
    let json = json!({"device": device, "registration": registration});
    if ctx.global.json {
        ctx.print_json(&json);
    } else {
        println!("{json:#}");
    }
    Ok(())
}

async fn create(ctx: &Context, registry: &mut Registry, args: CreateDevice) -> Result<(), Error> {
    let mut device = match &args.file {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::file(file, e))?;
            proto_json::from_json::<Device>(&text).map_err(|e| Error::file(file, e))?
        }
        None => Device {
            endpoint: args.endpoint.clone().unwrap_or_default(),
            name: args.name.clone().unwrap_or_default(),
            credentials: Some(Credentials {
                mode: Some(match (&args.psk_identity, &args.psk_key) {
                    (Some(identity), Some(key)) => Mode::Psk(PskCredentials {
                        identity: identity.clone(),
                        key_hex: key.clone(),
                        key_redacted: false,
                    }),
                    _ => Mode::NoSec(NoSecCredentials {}),
                }),
            }),
            ..Default::default()
        },
    };
    if device.tenant_id.is_empty() {
        device.tenant_id = ctx.global.tenant.clone();
    }
    if let Some(profile) = &args.profile {
        device.profile_id = profiles::resolve(ctx, registry, profile).await?.id;
    }
    let created = registry
        .devices
        .create_device(CreateDeviceRequest {
            device: Some(device),
        })
        .await?
        .into_inner();
    if ctx.global.json {
        ctx.print_json(&proto_json::to_json(&created)?);
    } else {
        println!("created device {} ({})", created.endpoint, created.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_status_and_unprovisioned_devices() {
        let device = Device {
            id: "d1".into(),
            endpoint: "meter-1".into(),
            name: "Meter 1".into(),
            credentials: Some(Credentials {
                mode: Some(Mode::Psk(PskCredentials::default())),
            }),
            ..Default::default()
        };
        let registration = Registration {
            endpoint: "auto-1".into(),
            address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        let rows = [
            DeviceRow {
                endpoint: "meter-1".into(),
                device: Some(&device),
                provisioned: Some(true),
                profile_name: Some("meters".into()),
                registration: Some(None),
            },
            DeviceRow {
                endpoint: "auto-1".into(),
                device: None,
                provisioned: Some(false),
                profile_name: None,
                registration: Some(Some(&registration)),
            },
        ];
        assert_eq!(
            devices_table(&rows),
            "ENDPOINT  NAME     PROFILE  SECURITY  STATUS      ADDRESS\n\
             meter-1   Meter 1  meters   PSK       offline     -\n\
             auto-1    -        -        (auto)    registered  127.0.0.1:5000\n"
        );
        assert_eq!(rows[0].json()["registered"], false);
        assert_eq!(rows[1].json()["provisioned"], false);
        let unknown = DeviceRow {
            registration: None,
            ..rows.into_iter().next().unwrap()
        };
        assert_eq!(unknown.status(), "?");
        assert_eq!(unknown.json()["registered"], Json::Null);
        // The registry was down: registrations only, provisioning unknown.
        let without_registry = DeviceRow {
            endpoint: "auto-1".into(),
            device: None,
            provisioned: None,
            profile_name: None,
            registration: Some(Some(&registration)),
        };
        assert_eq!(without_registry.json()["provisioned"], Json::Null);
        assert!(devices_table(&[without_registry]).contains("auto-1    -     -        ?"));
    }
}
