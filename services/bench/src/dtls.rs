//! Scenarios 5 and 4 for DTLS, against the product: N simulated devices
//! (this process, one socket each) handshake with the standalone release
//! binary over UDP and register, at most `window` at a time, in one of two
//! suites: PSK (TLS_PSK_WITH_AES_128_CCM_8, keys imported into the
//! product's registry from the simulator's credentials CSV) or ECDHE_ECDSA
//! (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, a certificate per device from a CA
//! the product trusts; the product auto-provisions devices whose CN is
//! their endpoint).
//!
//! The same N devices also register over plain CoAP against a fresh
//! product, so the figures separate what DTLS adds: the product's CPU per
//! device beyond a plain registration (→ handshakes per core-second) and
//! its resident memory per device beyond a plain registration (→ bytes per
//! established session).
//!
//! Correct means: every device completed exactly one handshake (none
//! failed, none retried), registered, saw no error, and the product lists
//! exactly N registrations. Anything else fails the run.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lwm2m_proto::registry::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::registry::v1::ImportDevicesCsvRequest;
use lwm2m_sim::security::credentials_csv;
use lwm2m_sim::{DeviceConfig, FleetSecurity, PskKeys, Security, TestPki};

use crate::load::{count_registrations, device_template, Load};
use crate::percentiles::summarize;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};

/// Time for the product's allocator to settle before RSS is read.
const SETTLE: Duration = Duration::from_secs(2);
/// The tenant `lwm2m run --target all` creates.
const TENANT: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyExchange {
    /// TLS_PSK_WITH_AES_128_CCM_8.
    Psk,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with X.509 client certificates.
    Ecdhe,
}

impl KeyExchange {
    fn name(self) -> &'static str {
        match self {
            KeyExchange::Psk => "psk_ccm8",
            KeyExchange::Ecdhe => "ecdhe_ecdsa_x509_ccm8",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct DtlsArgs {
    #[arg(long, value_enum, default_value = "psk")]
    pub suite: KeyExchange,
    /// Devices (one DTLS session each).
    #[arg(long, default_value_t = 2_000)]
    pub devices: usize,
    /// Handshakes (with their Register) in flight at once.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    #[command(flatten)]
    pub product: ProductArgs,
}

/// What one storm (plain or DTLS) cost the product.
#[derive(Debug, Clone, Copy)]
struct Cost {
    seconds: f64,
    cpu_seconds: f64,
    rss_per_device: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
}

pub async fn run(args: &DtlsArgs, run: &str) -> Result<Vec<Line>> {
    let workdir = tempfile::tempdir()?;
    let pki = TestPki::generate("bench CA", "bench transport")?;
    let files = [
        (
            "LWM2M_DTLS_PRIVATE_KEY_FILE",
            "server.key",
            &pki.server_key_pem,
        ),
        (
            "LWM2M_DTLS_CERTIFICATE_FILE",
            "server.crt",
            &pki.server_cert_pem,
        ),
        ("LWM2M_DTLS_TRUST_STORE_FILE", "ca.crt", &pki.ca_cert_pem),
    ];
    let mut settings = Vec::new();
    for (key, name, pem) in files {
        let path = workdir.path().join(name);
        std::fs::write(&path, pem)?;
        settings.push((key, path.display().to_string()));
    }
    let name = args.suite.name();
    let prefix = format!("d{}-", &run[..6.min(run.len())]);

    let plain = storm(args, run, &prefix, &settings, None).await?;
    let security = match args.suite {
        KeyExchange::Psk => FleetSecurity::Psk(PskKeys::Derived { seed: 5 }),
        KeyExchange::Ecdhe => FleetSecurity::X509 {
            issuer: std::sync::Arc::new(pki.device_issuer(5)?),
            server_public_key: None,
        },
    };
    let secure = storm(args, run, &prefix, &settings, Some(security)).await?;

    let n = args.devices as f64;
    let extra_cpu_us = (secure.cpu_seconds - plain.cpu_seconds) * 1e6 / n;
    let session_bytes = secure.rss_per_device - plain.rss_per_device;
    let line = Line::new(Section::Scenario, format!("dtls.handshakes_{name}"))
        .param("devices", args.devices)
        .param("window", args.window)
        .param("deployment", "standalone")
        .metric("handshakes_per_s", n / secure.seconds)
        .metric("time_to_all_s", secure.seconds)
        .metric("product_cpu_us_per_device", secure.cpu_seconds * 1e6 / n)
        .metric(
            "product_cpu_us_per_plain_device",
            plain.cpu_seconds * 1e6 / n,
        )
        .metric("handshake_cpu_us", extra_cpu_us)
        .metric(
            "handshakes_per_core_s",
            if extra_cpu_us > 0.0 {
                1e6 / extra_cpu_us
            } else {
                0.0
            },
        )
        .metric("latency_p50_ms", secure.latency_p50_ms)
        .metric("latency_p99_ms", secure.latency_p99_ms)
        .metric("plain_registrations_per_s", n / plain.seconds);
    let memory = Line::new(Section::Scenario, format!("memory.dtls_{name}"))
        .param("devices", args.devices)
        .param("deployment", "standalone")
        .metric("rss_per_device_bytes", secure.rss_per_device)
        .metric("rss_per_plain_device_bytes", plain.rss_per_device)
        .metric("rss_per_session_bytes", session_bytes);
    Ok(vec![line, memory])
}

/// One product, one storm of `args.devices` registrations: plain CoAP
/// when `security` is `None`, else DTLS.
async fn storm(
    args: &DtlsArgs,
    run: &str,
    prefix: &str,
    settings: &[(&str, String)],
    security: Option<FleetSecurity>,
) -> Result<Cost> {
    let mut product =
        Product::start_with(Deployment::Standalone, &args.product, run, settings).await?;
    let result = measure(args, prefix, &mut product, security).await;
    let stopped = product.stop().await;
    let cost = result?;
    stopped?;
    Ok(cost)
}

async fn measure(
    args: &DtlsArgs,
    prefix: &str,
    product: &mut Product,
    security: Option<FleetSecurity>,
) -> Result<Cost> {
    let dtls = security.is_some();
    let template = match &security {
        None => device_template(product.coap),
        Some(security) => DeviceConfig {
            security: Security::PerDevice(security.clone()),
            ..device_template(product.coaps)
        },
    };
    if let Some(FleetSecurity::Psk(keys)) = &security {
        import_psks(product.registry_grpc, keys, prefix, args.devices).await?;
    }
    let load = Load::start(template, args.devices, prefix, Some(args.window)).await?;
    tokio::time::sleep(SETTLE).await;
    let process = product.process()?;
    let rss_idle = process.rss_bytes()?;
    let cpu_before = process.cpu_seconds()?;
    let outcome = load
        .register_all(Duration::from_secs(args.timeout_s), || {
            product.check_alive()
        })
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            load.shutdown().await;
            return Err(e);
        }
    };
    let cpu_seconds = product.process()?.cpu_seconds()? - cpu_before;
    let stats = load.stats();
    let listed = count_registrations(&mut product.grpc_client().await?, prefix).await?;
    let n = args.devices as u64;
    let handshakes_ok =
        !dtls || (stats.dtls_handshakes_completed == n && stats.dtls_handshakes_started == n);
    if stats.errors > 0 || listed != args.devices || !handshakes_ok {
        load.shutdown().await;
        bail!(
            "dtls ({}): {} errors, {listed} of {} devices listed by the product; \
             sim stats {stats:?}",
            if dtls { "DTLS" } else { "plain baseline" },
            stats.errors,
            args.devices,
        );
    }
    let mut latencies = outcome.latencies.clone();
    let latency = summarize(&mut latencies).context("no Register latencies")?;
    tokio::time::sleep(SETTLE).await;
    product.check_alive()?;
    let rss = product.process()?.rss_bytes()?;
    load.shutdown().await;
    Ok(Cost {
        seconds: outcome.time_to_all.as_secs_f64(),
        cpu_seconds,
        rss_per_device: rss.saturating_sub(rss_idle) as f64 / args.devices as f64,
        latency_p50_ms: latency.p50_ms,
        latency_p99_ms: latency.p99_ms,
    })
}

/// The fleet's PSKs (devices `{prefix}0001`...) into the registry at
/// `registry` (tenant `default`), from the simulator's CSV.
pub async fn import_psks(
    registry: SocketAddr,
    keys: &PskKeys,
    prefix: &str,
    n: usize,
) -> Result<()> {
    let endpoints: Vec<String> = (1..=n).map(|i| format!("{prefix}{i:04}")).collect();
    let csv = credentials_csv(&FleetSecurity::Psk(keys.clone()), &endpoints)?;
    let mut client = DeviceServiceClient::connect(format!("http://{registry}"))
        .await
        .context("registry gRPC")?;
    let report = client
        .import_devices_csv(ImportDevicesCsvRequest {
            tenant_id: TENANT.into(),
            csv: csv.into_bytes(),
            default_profile_id: String::new(),
            update_existing: false,
        })
        .await
        .context("ImportDevicesCsv")?
        .into_inner();
    if report.created as usize != n {
        let first_failure = report.rows.iter().find(|r| r.status != 1);
        bail!(
            "ImportDevicesCsv created {} of {n} devices; first failure: {first_failure:?}",
            report.created
        );
    }
    Ok(())
}
