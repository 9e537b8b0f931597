//! Scenario 6, `import.oma_models`: the whole OMA object registry (every
//! `.xml` under a directory, `version_history/` included) imported into a
//! standalone product through the registry's `ImportObjectModels`, the way
//! `lwm2mctl models import DIR --system` does it: files sorted by name, in
//! batches of 50 files and at most 8 MiB, non-definitions (`DDF.xml`,
//! `Common.xml`) skipped by the registry; a batch the registry rejects
//! (it stores a batch all or nothing) is retried file by file, so each
//! broken file is counted as rejected and the good ones still get in.
//!
//! Correct means: every file accounted for (imported, skipped or
//! rejected), at least one model imported, and every imported object
//! version listed by the registry afterwards. Rejected files are a fact
//! of the input, counted, not a failure of the run.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lwm2m_proto::registry::v1::object_model_service_client::ObjectModelServiceClient;
use lwm2m_proto::registry::v1::{
    DdfFile, ImportObjectModelsRequest, ImportObjectModelsResponse, ListObjectModelsRequest,
    ModelView,
};
use tonic::transport::Channel;

use lwm2m_proto::ddf_upload::{batches, collect};

use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};

/// Model listings with DDF sources are large; tonic's 4 MiB default cuts them.
const MAX_MESSAGE_BYTES: usize = 64 << 20;
const NAME: &str = "import.oma_models";
/// How the registry refuses an upload whose every file was skipped.
const ALL_SKIPPED: &str = "every file was skipped";

#[derive(Debug, Clone, clap::Args)]
pub struct ImportModelsArgs {
    /// The OMA registry checkout (default: where `scripts/bench.sh` finds
    /// it, beside the repository). Missing: the scenario is skipped.
    #[arg(long, default_value = "../shared/lwm2m-registry")]
    pub dir: PathBuf,
    /// Files per upload (`lwm2mctl models import --batch`).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    #[command(flatten)]
    pub product: ProductArgs,
}

/// What the import of one directory gave.
#[derive(Debug, Default)]
struct Tally {
    imported_files: usize,
    skipped_files: usize,
    /// File name and the registry's reason.
    rejected: Vec<(String, String)>,
    rejected_batches: usize,
    /// Distinct (object id, version): the newest versions are defined twice
    /// (top level and `version_history/`).
    models: BTreeSet<(u32, String)>,
    /// Definitions stored, counting repeats.
    definitions: usize,
}

pub async fn run(args: &ImportModelsArgs, run: &str) -> Result<Vec<Line>> {
    if !args.dir.is_dir() {
        eprintln!(
            "lwm2m-bench: {NAME}: skipped, no OMA registry at {} (pass --dir)",
            args.dir.display()
        );
        return Ok(vec![Line {
            note: Some(format!(
                "skipped: no OMA registry at {}",
                args.dir.display()
            )),
            ..Line::new(Section::Placeholder, NAME)
        }]);
    }
    // The same files and uploads as `lwm2mctl models import DIR`.
    let files = collect(&args.dir)
        .with_context(|| format!("cannot read the models in {}", args.dir.display()))?;
    if files.is_empty() {
        bail!("no .xml files under {}", args.dir.display());
    }
    let product = Product::start(Deployment::Standalone, &args.product, run).await?;
    let result = measure(args, &files, &product).await;
    let stopped = product.stop().await;
    let line = result?;
    stopped?;
    Ok(vec![line])
}

async fn measure(args: &ImportModelsArgs, files: &[DdfFile], product: &Product) -> Result<Line> {
    let mut client =
        ObjectModelServiceClient::new(product.channel_to(product.registry_grpc).await?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let cpu = CpuMeter::start(product.process()?.pid())?;
    let started = Instant::now();
    let mut tally = Tally::default();
    for batch in batches(files, args.batch) {
        match upload(&mut client, batch).await {
            Ok(answer) => tally.add(batch, &answer),
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                tally.rejected_batches += 1;
                for file in batch {
                    let one = std::slice::from_ref(file);
                    match upload(&mut client, one).await {
                        Ok(answer) => tally.add(one, &answer),
                        // Alone, a non-definition (DDF.xml, Common.xml)
                        // is refused as an upload of nothing rather than
                        // skipped: it is still a skip, not a broken file.
                        Err(status)
                            if status.code() == tonic::Code::InvalidArgument
                                && status.message().contains(ALL_SKIPPED) =>
                        {
                            tally.skipped_files += 1
                        }
                        Err(status) if status.code() == tonic::Code::InvalidArgument => tally
                            .rejected
                            .push((file.name.clone(), status.message().to_owned())),
                        Err(status) => bail!("{NAME}: {}: {status}", file.name),
                    }
                }
            }
            Err(status) => bail!("{NAME}: batch from {}: {status}", batch[0].name),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cores = cpu.cores()?;
    let accounted = tally.imported_files + tally.skipped_files + tally.rejected.len();
    if accounted != files.len() {
        bail!("{NAME}: {accounted} of {} files accounted for", files.len());
    }
    if tally.models.is_empty() {
        bail!("{NAME}: no model imported from {}", args.dir.display());
    }
    let listed = list_system_models(&mut client).await?;
    let missing: Vec<_> = tally.models.difference(&listed).collect();
    if let Some(first) = missing.first() {
        bail!(
            "{NAME}: {} imported object versions are not listed, e.g. /{} {}",
            missing.len(),
            first.0,
            first.1
        );
    }
    for (name, reason) in tally.rejected.iter().take(5) {
        eprintln!("lwm2m-bench: {NAME}: rejected {name}: {reason}");
    }
    let bytes: usize = files.iter().map(|f| f.content.len()).sum();
    Ok(Line::new(Section::Scenario, NAME)
        .param("deployment", Deployment::Standalone.name())
        .param("dir", args.dir.display().to_string())
        .param("batch", args.batch)
        .metric("files", files.len() as f64)
        .metric("megabytes", bytes as f64 / 1e6)
        .metric("imported_files", tally.imported_files as f64)
        .metric("skipped_files", tally.skipped_files as f64)
        .metric("rejected_files", tally.rejected.len() as f64)
        .metric("rejected_batches", tally.rejected_batches as f64)
        .metric("models", tally.models.len() as f64)
        .metric("definitions", tally.definitions as f64)
        .metric("seconds", seconds)
        .metric("models_per_s", tally.models.len() as f64 / seconds)
        .metric("files_per_s", files.len() as f64 / seconds)
        .metric("product_cores", cores))
}

impl Tally {
    /// Attributes an accepted upload's models and skips to its files.
    fn add(&mut self, batch: &[DdfFile], answer: &ImportObjectModelsResponse) {
        for file in batch {
            if answer.skipped.iter().any(|s| s.name == file.name) {
                self.skipped_files += 1;
            } else {
                self.imported_files += 1;
            }
        }
        self.definitions += answer.models.len();
        self.models.extend(
            answer
                .models
                .iter()
                .map(|m| (m.object_id, m.version.clone())),
        );
    }
}

async fn upload(
    client: &mut ObjectModelServiceClient<Channel>,
    files: &[DdfFile],
) -> Result<ImportObjectModelsResponse, tonic::Status> {
    Ok(client
        .import_object_models(ImportObjectModelsRequest {
            // The system scope: every tenant sees the OMA objects.
            tenant_id: String::new(),
            files: files.to_vec(),
            skip_non_definitions: true,
        })
        .await?
        .into_inner())
}

/// Every (object id, version) of the system scope, paging through all.
async fn list_system_models(
    client: &mut ObjectModelServiceClient<Channel>,
) -> Result<BTreeSet<(u32, String)>> {
    let mut out = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_object_models(ListObjectModelsRequest {
                view: ModelView::SystemOnly as i32,
                page_size: 1000,
                page_token,
                ..ListObjectModelsRequest::default()
            })
            .await
            .context("ListObjectModels")?
            .into_inner();
        out.extend(page.models.into_iter().map(|m| (m.object_id, m.version)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: usize) -> DdfFile {
        DdfFile {
            name: name.into(),
            content: vec![b'x'; size],
        }
    }

    #[test]
    fn an_upload_counts_skipped_files_and_distinct_models() {
        use lwm2m_proto::registry::v1::{ImportedModel, SkippedFile};
        let batch = [file("DDF.xml", 1), file("3.xml", 1), file("v/3.xml", 1)];
        let model = |source: &str| ImportedModel {
            object_id: 3,
            version: "1.2".into(),
            source_name: source.into(),
            ..ImportedModel::default()
        };
        let answer = ImportObjectModelsResponse {
            models: vec![model("3.xml"), model("v/3.xml")],
            skipped: vec![SkippedFile {
                name: "DDF.xml".into(),
                reason: "not a definition".into(),
            }],
            superseded_in_upload: 1,
        };
        let mut tally = Tally::default();
        tally.add(&batch, &answer);
        assert_eq!((tally.imported_files, tally.skipped_files), (2, 1));
        assert_eq!((tally.models.len(), tally.definitions), (1, 2));
    }
}
