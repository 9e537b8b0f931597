//! Object models: import a directory of DDF files, list, get, delete.

use lwm2m_proto::registry::v1::*;
use serde_json::{json, Value as Json};

use super::Context;
use crate::cli::ModelsCommand;
use crate::clients::Registry;
use crate::error::Error;
use crate::model_files::{self, DdfFile};
use crate::progress;
use crate::proto_json;
use crate::table::Table;

pub async fn run(ctx: &Context, command: ModelsCommand) -> Result<(), Error> {
    let scope = |system: bool| {
        if system {
            String::new()
        } else {
            ctx.global.tenant.clone()
        }
    };
    match command {
        ModelsCommand::Import { dir, system, batch } => {
            let files = model_files::collect(&dir)?;
            if files.is_empty() {
                return Err(Error::Usage(format!(
                    "no .xml files under {}",
                    dir.display()
                )));
            }
            let mut registry = ctx.registry().await?;
            let results = import(&mut registry, &scope(system), &files, batch as usize).await?;
            let report = ImportReport { results };
            if ctx.global.json {
                ctx.print_json(&report.json());
            } else {
                print!("{}", report.text());
            }
            match report.failed() {
                0 => Ok(()),
                failed => Err(Error::Partial {
                    failed,
                    total: report.results.len(),
                    what: "files",
                }),
            }
        }
        ModelsCommand::List {
            object,
            name,
            system,
        } => {
            let mut registry = ctx.registry().await?;
            let view = if system {
                ModelView::SystemOnly
            } else {
                ModelView::Visible
            };
            let models = list_all(&mut registry, &ctx.global.tenant, view, object, name).await?;
            if ctx.global.json {
                let list = models
                    .iter()
                    .map(proto_json::to_json)
                    .collect::<Result<Vec<_>, _>>()?;
                ctx.print_json(&Json::Array(list));
            } else {
                print!("{}", models_table(&models));
            }
            Ok(())
        }
        ModelsCommand::Get {
            object_id,
            version,
            xml,
        } => {
            let mut registry = ctx.registry().await?;
            let model = registry
                .models
                .get_object_model(GetObjectModelRequest {
                    tenant_id: ctx.global.tenant.clone(),
                    object_id,
                    version: version.unwrap_or_default(),
                })
                .await?
                .into_inner();
            if xml {
                if model.ddf_xml.is_empty() {
                    return Err(Error::NotFound(format!(
                        "/{object_id} version {} is built in: it has no DDF file",
                        model.version
                    )));
                }
                print!("{}", model.ddf_xml);
            } else if ctx.global.json {
                ctx.print_json(&proto_json::to_json(&model)?);
            } else {
                print!("{}", model_text(&model));
            }
            Ok(())
        }
        ModelsCommand::Unknown => {
            let mut registry = ctx.registry().await?;
            let unknown = registry
                .models
                .list_unknown_objects(ListUnknownObjectsRequest {
                    tenant_id: ctx.global.tenant.clone(),
                })
                .await?
                .into_inner()
                .objects;
            if ctx.global.json {
                ctx.print_json(&Json::Array(unknown.iter().map(unknown_json).collect()));
            } else {
                print!("{}", unknown_table(&unknown));
            }
            Ok(())
        }
        ModelsCommand::Delete {
            object_id,
            version,
            system,
        } => {
            let mut registry = ctx.registry().await?;
            registry
                .models
                .delete_object_model(DeleteObjectModelRequest {
                    tenant_id: scope(system),
                    object_id,
                    version: version.clone(),
                })
                .await?;
            if ctx.global.json {
                ctx.print_json(&json!({"deleted": {"object_id": object_id, "version": version}}));
            } else {
                println!("deleted /{object_id} version {version}");
            }
            Ok(())
        }
    }
}

/// What became of one file of an import.
#[derive(Debug, PartialEq)]
enum FileOutcome {
    /// The models it defined (none when a later file defined them again).
    Imported(Vec<ImportedModel>),
    /// Well-formed XML that is not an object definition.
    Skipped(String),
    Failed(String),
}

#[derive(Debug)]
struct FileResult {
    name: String,
    outcome: FileOutcome,
}

/// Uploads batch by batch. The registry stores a batch all or nothing, so
/// a rejected batch is retried file by file: the good files get in and
/// each broken one gets its own error.
async fn import(
    registry: &mut Registry,
    tenant_id: &str,
    files: &[DdfFile],
    batch_size: usize,
) -> Result<Vec<FileResult>, Error> {
    let bar = progress::bar(files.len() as u64, "files");
    let mut results = Vec::with_capacity(files.len());
    for batch in model_files::batches(files, batch_size) {
        match upload(registry, tenant_id, batch).await {
            Ok(answer) => results.extend(outcomes(batch, &answer)),
            Err(status) if status.code() == tonic::Code::InvalidArgument && batch.len() > 1 => {
                for file in batch {
                    let one = std::slice::from_ref(file);
                    match upload(registry, tenant_id, one).await {
                        Ok(answer) => results.extend(outcomes(one, &answer)),
                        Err(status) if status.code() == tonic::Code::InvalidArgument => results
                            .push(FileResult {
                                name: file.name.clone(),
                                outcome: FileOutcome::Failed(status.message().to_owned()),
                            }),
                        Err(status) => {
                            bar.abandon();
                            return Err(status.into());
                        }
                    }
                }
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                results.extend(batch.iter().map(|file| FileResult {
                    name: file.name.clone(),
                    outcome: FileOutcome::Failed(status.message().to_owned()),
                }))
            }
            Err(status) => {
                bar.abandon();
                return Err(status.into());
            }
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(results)
}

async fn upload(
    registry: &mut Registry,
    tenant_id: &str,
    files: &[DdfFile],
) -> Result<ImportObjectModelsResponse, tonic::Status> {
    let request = ImportObjectModelsRequest {
        tenant_id: tenant_id.to_owned(),
        files: files.to_vec(),
        // The OMA registry's DDF.xml index and Common.xml sit next to the
        // definitions; they are reported as skipped, not as failures.
        skip_non_definitions: true,
    };
    Ok(registry
        .models
        .import_object_models(request)
        .await?
        .into_inner())
}

/// Attributes an accepted batch's models and skips to its files.
fn outcomes(batch: &[DdfFile], answer: &ImportObjectModelsResponse) -> Vec<FileResult> {
    batch
        .iter()
        .map(|file| {
            let outcome = match answer.skipped.iter().find(|s| s.name == file.name) {
                Some(skipped) => FileOutcome::Skipped(skipped.reason.clone()),
                None => FileOutcome::Imported(
                    answer
                        .models
                        .iter()
                        .filter(|m| m.source_name == file.name)
                        .cloned()
                        .collect(),
                ),
            };
            FileResult {
                name: file.name.clone(),
                outcome,
            }
        })
        .collect()
}

struct ImportReport {
    results: Vec<FileResult>,
}

impl ImportReport {
    fn failed(&self) -> usize {
        self.count(|o| matches!(o, FileOutcome::Failed(_)))
    }

    fn count(&self, pred: impl Fn(&FileOutcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// Distinct object versions stored: the OMA registry defines the
    /// newest versions twice (top level and `version_history/`).
    fn models(&self) -> usize {
        self.results
            .iter()
            .flat_map(|r| match &r.outcome {
                FileOutcome::Imported(models) => models.as_slice(),
                _ => &[],
            })
            .map(|m| (m.object_id, m.version.as_str()))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    fn json(&self) -> Json {
        let files: Vec<Json> = self
            .results
            .iter()
            .map(|r| match &r.outcome {
                FileOutcome::Imported(models) => json!({
                    "file": r.name,
                    "status": "IMPORTED",
                    "models": models.iter().map(|m| json!({
                        "object_id": m.object_id,
                        "version": m.version,
                        "name": m.name,
                        "replaced": m.replaced,
                    })).collect::<Vec<_>>(),
                }),
                FileOutcome::Skipped(reason) => {
                    json!({"file": r.name, "status": "SKIPPED", "message": reason})
                }
                FileOutcome::Failed(error) => {
                    json!({"file": r.name, "status": "FAILED", "message": error})
                }
            })
            .collect();
        json!({
            "files": files,
            "imported": self.count(|o| matches!(o, FileOutcome::Imported(_))),
            "models": self.models(),
            "skipped": self.count(|o| matches!(o, FileOutcome::Skipped(_))),
            "failed": self.failed(),
        })
    }

    /// Files that need a look (skipped, failed), then the totals; the
    /// hundreds of files that imported fine are only counted.
    fn text(&self) -> String {
        let mut table = Table::new(&["FILE", "STATUS", "MESSAGE"]);
        for r in &self.results {
            match &r.outcome {
                FileOutcome::Imported(_) => {}
                FileOutcome::Skipped(reason) => {
                    table.row(vec![r.name.clone(), "SKIPPED".into(), reason.clone()])
                }
                FileOutcome::Failed(error) => {
                    table.row(vec![r.name.clone(), "FAILED".into(), error.clone()])
                }
            }
        }
        let mut out = String::new();
        if self
            .results
            .iter()
            .any(|r| !matches!(r.outcome, FileOutcome::Imported(_)))
        {
            out.push_str(&table.render());
        }
        out.push_str(&format!(
            "{} files: {} imported ({} object versions), {} skipped, {} failed\n",
            self.results.len(),
            self.count(|o| matches!(o, FileOutcome::Imported(_))),
            self.models(),
            self.count(|o| matches!(o, FileOutcome::Skipped(_))),
            self.failed(),
        ));
        out
    }
}

async fn list_all(
    registry: &mut Registry,
    tenant_id: &str,
    view: ModelView,
    object_id: Option<u32>,
    name: Option<String>,
) -> Result<Vec<ObjectModel>, Error> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .models
            .list_object_models(ListObjectModelsRequest {
                tenant_id: tenant_id.to_owned(),
                view: view as i32,
                object_id,
                version: String::new(),
                name_contains: name.clone().unwrap_or_default(),
                include_resources: false,
                page_size: 1000,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.models);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

fn unknown_json(o: &UnknownObject) -> Json {
    json!({
        "object_id": o.object_id,
        "version": o.version,
        "first_seen_ms": o.first_seen_ms,
        "last_seen_ms": o.last_seen_ms,
        "last_endpoint": o.last_endpoint,
        "seen_count": o.seen_count,
    })
}

fn unknown_table(objects: &[UnknownObject]) -> String {
    let mut table = Table::new(&["OBJECT", "VERSION", "SEEN", "LAST DEVICE", "LAST SEEN"]);
    for o in objects {
        table.row(vec![
            o.object_id.to_string(),
            o.version.clone(),
            o.seen_count.to_string(),
            o.last_endpoint.clone(),
            crate::local_time::rfc3339_local(o.last_seen_ms),
        ]);
    }
    table.render()
}

fn scope_name(model: &ObjectModel) -> &str {
    if model.tenant_id.is_empty() {
        "system"
    } else {
        &model.tenant_id
    }
}

fn models_table(models: &[ObjectModel]) -> String {
    let mut table = Table::new(&["OBJECT", "VERSION", "SCOPE", "SOURCE", "NAME"]);
    for m in models {
        table.row(vec![
            m.object_id.to_string(),
            m.version.clone(),
            scope_name(m).to_owned(),
            m.source_name.clone(),
            m.name.clone(),
        ]);
    }
    table.render()
}

fn model_text(model: &ObjectModel) -> String {
    let mut out = format!(
        "/{} {} version {} ({}, {} instances, LwM2M {})\n",
        model.object_id,
        model.name,
        model.version,
        scope_name(model),
        if model.multiple_instances {
            "multiple"
        } else {
            "single"
        },
        model.lwm2m_version,
    );
    let mut table = Table::new(&["ID", "NAME", "OPS", "TYPE", "UNITS"]);
    for r in &model.resources {
        table.row(vec![
            r.id.to_string(),
            r.name.clone(),
            r.operations.clone(),
            r.r#type.clone(),
            r.units.clone(),
        ]);
    }
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddf(name: &str) -> DdfFile {
        DdfFile {
            name: name.into(),
            content: Vec::new(),
        }
    }

    #[test]
    fn an_accepted_batch_is_attributed_file_by_file() {
        let answer = ImportObjectModelsResponse {
            models: vec![ImportedModel {
                object_id: 3303,
                version: "1.1".into(),
                name: "Temperature".into(),
                source_name: "3303.xml".into(),
                replaced: false,
            }],
            skipped: vec![SkippedFile {
                name: "DDF.xml".into(),
                reason: "not an object definition".into(),
            }],
            superseded_in_upload: 0,
        };
        let results = outcomes(&[ddf("3303.xml"), ddf("DDF.xml")], &answer);
        assert!(matches!(&results[0].outcome, FileOutcome::Imported(m) if m.len() == 1));
        assert_eq!(
            results[1].outcome,
            FileOutcome::Skipped("not an object definition".into())
        );
    }

    #[test]
    fn the_report_names_the_files_that_need_a_look() {
        let report = ImportReport {
            results: vec![
                FileResult {
                    name: "3.xml".into(),
                    outcome: FileOutcome::Imported(vec![ImportedModel::default()]),
                },
                FileResult {
                    name: "broken.xml".into(),
                    outcome: FileOutcome::Failed("broken.xml: not well-formed XML".into()),
                },
            ],
        };
        assert_eq!(
            report.text(),
            "FILE        STATUS  MESSAGE\n\
             broken.xml  FAILED  broken.xml: not well-formed XML\n\
             2 files: 1 imported (1 object versions), 0 skipped, 1 failed\n"
        );
        assert_eq!(report.failed(), 1);
        let json = report.json();
        assert_eq!(json["files"][1]["status"], "FAILED");
        assert_eq!(json["models"], 1);
    }
}
