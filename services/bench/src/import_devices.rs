//! Scenario 6, `import.devices_csv_<N>`: bulk registration of N devices
//! (default 100,000) from a generated CSV with Cumulocity's columns,
//! imported into a standalone product through the registry's
//! `ImportDevicesCsv` exactly as `lwm2mctl devices import FILE` does it:
//! one call after the other, each the header plus the next 100 rows, into
//! the tenant `default`. Every second device is PSK (identity and key
//! checked and stored), the others NoSec, so both credential paths are in
//! the figure.
//!
//! Correct means: every row reported CREATED (none failed, updated or
//! unchanged), and the registry lists exactly N devices of this run
//! afterwards.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lwm2m_proto::registry::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::registry::v1::{ImportDevicesCsvRequest, ListDevicesRequest};
use tonic::transport::Channel;

use crate::percentiles::summarize;
use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};

/// `lwm2mctl devices import`'s rows per upload.
const ROWS_PER_UPLOAD: usize = 100;
/// `lwm2mctl`'s default tenant, created by the standalone registry.
const TENANT: &str = "default";
const HEADER: &str = "endpoint id,securityMode,lwm2m psk_id,lwm2m psk_key,registrationLifetime\n";

#[derive(Debug, Clone, clap::Args)]
pub struct ImportDevicesArgs {
    /// Rows of the generated CSV.
    #[arg(long, default_value_t = 100_000)]
    pub devices: usize,
    /// Rows per `ImportDevicesCsv` call.
    #[arg(long, default_value_t = ROWS_PER_UPLOAD)]
    pub rows_per_upload: usize,
    #[command(flatten)]
    pub product: ProductArgs,
}

/// `import.devices_csv_100k` for 100,000 rows, `_2500` for 2,500.
pub fn scenario_name(devices: usize) -> String {
    if devices >= 1000 && devices.is_multiple_of(1000) {
        format!("import.devices_csv_{}k", devices / 1000)
    } else {
        format!("import.devices_csv_{devices}")
    }
}

pub async fn run(args: &ImportDevicesArgs, run: &str) -> Result<Vec<Line>> {
    let product = Product::start(Deployment::Standalone, &args.product, run).await?;
    let result = measure(args, run, &product).await;
    let stopped = product.stop().await;
    let line = result?;
    stopped?;
    Ok(vec![line])
}

async fn measure(args: &ImportDevicesArgs, run: &str, product: &Product) -> Result<Line> {
    let name = scenario_name(args.devices);
    let prefix = format!("csv-{run}-");
    let csv = generate(&prefix, args.devices);
    let chunks = split(&csv, args.rows_per_upload);
    let mut client = DeviceServiceClient::new(product.channel_to(product.registry_grpc).await?);
    let cpu = CpuMeter::start(product.process()?.pid())?;
    let started = Instant::now();
    let mut calls = Vec::with_capacity(chunks.len());
    let (mut created, mut other) = (0usize, Vec::new());
    for chunk in chunks {
        let call = Instant::now();
        let answer = client
            .import_devices_csv(ImportDevicesCsvRequest {
                tenant_id: TENANT.into(),
                csv: chunk,
                default_profile_id: String::new(),
                update_existing: false,
            })
            .await
            .with_context(|| format!("{name}: ImportDevicesCsv after {created} rows"))?
            .into_inner();
        calls.push(call.elapsed());
        created += answer.created as usize;
        other.extend(
            answer
                .rows
                .into_iter()
                .filter(|r| r.status() != lwm2m_proto::registry::v1::CsvRowStatus::Created),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let cores = cpu.cores()?;
    if let Some(first) = other.first() {
        bail!(
            "{name}: {} rows not created; first: {} {:?} {}",
            other.len(),
            first.endpoint,
            first.status(),
            first.message
        );
    }
    if created != args.devices {
        bail!("{name}: {created} of {} rows created", args.devices);
    }
    let listed = count_devices(&mut client, &prefix).await?;
    if listed != args.devices {
        bail!(
            "{name}: the registry lists {listed} of {} devices",
            args.devices
        );
    }
    let upload = summarize(&mut calls).context("no upload")?;
    Ok(Line::new(Section::Scenario, name)
        .param("deployment", Deployment::Standalone.name())
        .param("devices", args.devices)
        .param("rows_per_upload", args.rows_per_upload)
        .metric("rows", created as f64)
        .metric("csv_megabytes", csv.len() as f64 / 1e6)
        .metric("seconds", seconds)
        .metric("rows_per_s", created as f64 / seconds)
        .metric("upload_p50_ms", upload.p50_ms)
        .metric("upload_p99_ms", upload.p99_ms)
        .metric("errors", 0.0)
        .metric("product_cores", cores))
}

/// The CSV file: one device per line, no quoting (the endpoints need none).
fn generate(prefix: &str, devices: usize) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(HEADER.len() + devices * 90);
    out.push_str(HEADER);
    for i in 1..=devices {
        let endpoint = format!("{prefix}{i:06}");
        let _ = if i % 2 == 0 {
            // A 128-bit key that differs per device.
            writeln!(
                out,
                "{endpoint},PSK,psk-{endpoint},{:032x},3600",
                0x5eed_0000_0000_0000_u128 ^ (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        } else {
            writeln!(out, "{endpoint},NO_SEC,,,3600")
        };
    }
    out.into_bytes()
}

/// Uploads of the header plus `rows` lines each, as `lwm2mctl` cuts a file
/// (it follows CSV quoting; the generated file has one row per line).
fn split(csv: &[u8], rows: usize) -> Vec<Vec<u8>> {
    let mut lines = csv.split_inclusive(|b| *b == b'\n');
    let header = lines.next().unwrap_or_default();
    let lines: Vec<&[u8]> = lines.collect();
    lines
        .chunks(rows.max(1))
        .map(|group| {
            let mut chunk = header.to_vec();
            group.iter().for_each(|l| chunk.extend_from_slice(l));
            chunk
        })
        .collect()
}

/// Devices whose endpoint contains `prefix`, paging through all.
async fn count_devices(client: &mut DeviceServiceClient<Channel>, prefix: &str) -> Result<usize> {
    let mut total = 0;
    let mut page_token = String::new();
    let started = Instant::now();
    loop {
        let page = client
            .list_devices(ListDevicesRequest {
                tenant_id: TENANT.into(),
                name_contains: prefix.to_owned(),
                page_size: 1000,
                page_token,
                ..ListDevicesRequest::default()
            })
            .await
            .context("ListDevices")?
            .into_inner();
        total += page.devices.len();
        if page.next_page_token.is_empty() || started.elapsed() > Duration::from_secs(600) {
            return Ok(total);
        }
        page_token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_has_a_row_per_device_half_of_them_psk() {
        let csv = String::from_utf8(generate("p-", 4)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[1], "p-000001,NO_SEC,,,3600");
        let psk: Vec<&str> = lines[2].split(',').collect();
        assert_eq!(&psk[..3], ["p-000002", "PSK", "psk-p-000002"]);
        assert_eq!(psk[3].len(), 32, "{}", lines[2]);
        assert_ne!(lines[2].split(',').nth(3), lines[4].split(',').nth(3));
    }

    #[test]
    fn uploads_repeat_the_header_and_cover_every_row_once() {
        let csv = generate("p-", 5);
        let chunks = split(&csv, 2);
        assert_eq!(chunks.len(), 3);
        for c in &chunks {
            assert!(c.starts_with(HEADER.as_bytes()));
        }
        let rows: usize = chunks
            .iter()
            .map(|c| c.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() - 1)
            .sum();
        assert_eq!(rows, 5);
    }

    #[test]
    fn names_say_how_many_rows() {
        assert_eq!(scenario_name(100_000), "import.devices_csv_100k");
        assert_eq!(scenario_name(2_500), "import.devices_csv_2500");
    }
}
