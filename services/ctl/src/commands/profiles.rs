//! Device profiles: list, get, create from a JSON file, delete; and the
//! lookup by id or name the other commands use.

use lwm2m_proto::registry::v1::*;
use serde_json::json;

use super::Context;
use crate::cli::ProfilesCommand;
use crate::clients::Registry;
use crate::error::Error;
use crate::proto_json;
use crate::table::Table;

pub async fn run(ctx: &Context, command: ProfilesCommand) -> Result<(), Error> {
    let mut registry = ctx.registry().await?;
    match command {
        ProfilesCommand::List => {
            let profiles = list_all(ctx, &mut registry).await?;
            if ctx.global.json {
                let list = profiles
                    .iter()
                    .map(proto_json::to_json)
                    .collect::<Result<Vec<_>, _>>()?;
                ctx.print_json(&json!(list));
            } else {
                print!("{}", table(&profiles));
            }
        }
        ProfilesCommand::Get { profile } => {
            let profile = resolve(ctx, &mut registry, &profile).await?;
            print_profile(ctx, &profile)?;
        }
        ProfilesCommand::Create { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| Error::file(&file, e))?;
            let mut profile: DeviceProfile =
                proto_json::from_json(&text).map_err(|e| Error::file(&file, e))?;
            if profile.tenant_id.is_empty() {
                profile.tenant_id = ctx.global.tenant.clone();
            }
            let created = registry
                .profiles
                .create_device_profile(CreateDeviceProfileRequest {
                    profile: Some(profile),
                })
                .await?
                .into_inner();
            if ctx.global.json {
                ctx.print_json(&proto_json::to_json(&created)?);
            } else {
                println!("created profile {} ({})", created.name, created.id);
            }
        }
        ProfilesCommand::Delete { profile } => {
            let profile = resolve(ctx, &mut registry, &profile).await?;
            registry
                .profiles
                .delete_device_profile(DeleteDeviceProfileRequest {
                    id: profile.id.clone(),
                })
                .await?;
            if ctx.global.json {
                ctx.print_json(&json!({"deleted": profile.id}));
            } else {
                println!("deleted profile {} ({})", profile.name, profile.id);
            }
        }
    }
    Ok(())
}

fn print_profile(ctx: &Context, profile: &DeviceProfile) -> Result<(), Error> {
    let json = proto_json::to_json(profile)?;
    if ctx.global.json {
        ctx.print_json(&json);
    } else {
        // Pretty JSON is the readable form of a nested profile, and a
        // valid `profiles create -f` file.
        println!("{json:#}");
    }
    Ok(())
}

fn table(profiles: &[DeviceProfile]) -> String {
    let mut table = Table::new(&["ID", "NAME", "REVISION", "OBJECTS"]);
    for p in profiles {
        let objects: Vec<String> = p
            .objects
            .iter()
            .map(|o| format!("{}@{}", o.object_id, o.version))
            .collect();
        table.row(vec![
            p.id.clone(),
            p.name.clone(),
            p.revision.to_string(),
            objects.join(","),
        ]);
    }
    table.render()
}

/// The tenant's profiles, all pages.
pub async fn list_all(ctx: &Context, registry: &mut Registry) -> Result<Vec<DeviceProfile>, Error> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .profiles
            .list_device_profiles(ListDeviceProfilesRequest {
                tenant_id: ctx.global.tenant.clone(),
                page_size: 1000,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.profiles);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// The tenant's profile whose id or name is `name_or_id` (operators
/// remember names; ids are generated).
pub async fn resolve(
    ctx: &Context,
    registry: &mut Registry,
    name_or_id: &str,
) -> Result<DeviceProfile, Error> {
    let profiles = list_all(ctx, registry).await?;
    pick(profiles, name_or_id, &ctx.global.tenant)
}

fn pick(
    mut profiles: Vec<DeviceProfile>,
    name_or_id: &str,
    tenant: &str,
) -> Result<DeviceProfile, Error> {
    if let Some(i) = profiles.iter().position(|p| p.id == name_or_id) {
        return Ok(profiles.swap_remove(i));
    }
    let mut named: Vec<_> = profiles
        .into_iter()
        .filter(|p| p.name == name_or_id)
        .collect();
    match (named.pop(), named.len()) {
        (Some(profile), 0) => Ok(profile),
        (None, _) => Err(Error::NotFound(format!(
            "tenant {tenant:?} has no profile with id or name {name_or_id:?}"
        ))),
        (Some(_), others) => Err(Error::Usage(format!(
            "{} profiles of tenant {tenant:?} are named {name_or_id:?}: use the id",
            others + 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_code::Exit;

    fn profile(id: &str, name: &str) -> DeviceProfile {
        DeviceProfile {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn profiles_are_found_by_id_first_then_by_unique_name() {
        let all = || {
            vec![
                profile("p1", "meters"),
                profile("p2", "p1"),
                profile("p3", "twin"),
                profile("p4", "twin"),
            ]
        };
        assert_eq!(pick(all(), "p1", "t").unwrap().id, "p1");
        assert_eq!(pick(all(), "meters", "t").unwrap().id, "p1");
        assert_eq!(
            pick(all(), "nobody", "t").unwrap_err().exit(),
            Exit::NotFound
        );
        assert_eq!(pick(all(), "twin", "t").unwrap_err().exit(), Exit::Usage);
    }

    #[test]
    fn the_table_lists_objects_with_versions() {
        let mut p = profile("p1", "meters");
        p.revision = 2;
        p.objects.push(ProfileObject {
            object_id: 3,
            version: "1.1".into(),
            ..Default::default()
        });
        assert_eq!(
            table(&[p]),
            "ID  NAME    REVISION  OBJECTS\np1  meters  2         3@1.1\n"
        );
    }
}
