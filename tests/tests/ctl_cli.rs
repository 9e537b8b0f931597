//! `lwm2mctl` end to end, the way an operator uses it: a standalone
//! `lwm2m run --target all` (its own SQLite file, ephemeral ports), object
//! models imported from a directory with one broken file, a profile from a
//! JSON file, devices from a CSV with one bad row, `lwm2m-sim` devices
//! registering, and reads with the exit codes scripts rely on.
//!
//! The binaries are the workspace's own, next to this test executable in the
//! target dir (`cargo build --workspace --bins` builds them; `make test` does
//! so before the tests).

// The helpers of this test binary may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{forward_stderr, sigterm, wait_child, LineChild, PATIENCE};
use serde_json::Value as Json;

/// `target/<profile>/<name>`: the test executable is `target/<profile>/deps/<test>-<hash>`.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (with the same profile and \
         CARGO_TARGET_DIR as the tests) before this test",
        path.display()
    );
    path
}

/// The value of `key=` in a log line (ANSI colours off: NO_COLOR).
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(|v| v.trim_matches('"').trim_end_matches(',').to_owned())
}

/// Where the standalone process listens.
struct Standalone {
    child: Child,
    coap: String,
    transport: String,
    registry: String,
    dispatch: String,
}

/// Starts `lwm2m run --target all` and reads its addresses from the
/// "registry is up", "transport is up" and "dispatch is up" lines, waiting
/// for "lwm2m is up".
async fn start_standalone(data_dir: &Path) -> Standalone {
    let mut child = Command::new(binary("lwm2m"))
        .args(["run", "--target", "all"])
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            format!("sqlite://{}/lwm2m.db", data_dir.display()),
        )
        .env("LWM2M_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lwm2m");
    if let Some(stdout) = child.stdout.take() {
        forward_stderr("lwm2m stdout", stdout);
    }
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut up = Vec::new();
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[lwm2m] {line}");
            if line.contains(" is up") && !sent {
                up.push(line.clone());
                if line.contains("lwm2m is up") {
                    sent = tx.send(std::mem::take(&mut up)).is_ok();
                }
            }
        }
    });
    let up = tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE))
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("lwm2m logged no \"lwm2m is up\" line within {PATIENCE:?}"));
    let line_of = |what: &str| {
        up.iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} line in {up:?}"))
    };
    let transport = line_of("transport is up");
    let registry = line_of("registry is up");
    let dispatch = line_of("dispatch is up");
    Standalone {
        dispatch: format!("http://{}", field(dispatch, "grpc=").expect("grpc=")),
        coap: field(transport, "coap=").expect("coap="),
        transport: format!("http://{}", field(transport, "grpc=").expect("grpc=")),
        registry: format!("http://{}", field(registry, "grpc=").expect("grpc=")),
        child,
    }
}

/// Runs `lwm2mctl` against `server` off the async runtime; device
/// commands go straight to the transport.
async fn ctl(server: &Standalone, args: &[&str]) -> Output {
    ctl_at(&server.transport, &server.registry, args).await
}

/// The same with `--dispatch`: device commands become dispatch operations.
async fn ctl_dispatch(server: &Standalone, args: &[&str]) -> Output {
    let mut with = vec!["--dispatch", &server.dispatch];
    with.extend_from_slice(args);
    ctl_at(&server.transport, &server.registry, &with).await
}

async fn ctl_at(transport: &str, registry: &str, args: &[&str]) -> Output {
    let mut command = Command::new(binary("lwm2mctl"));
    command
        .env_remove("LWM2MCTL_DISPATCH")
        .args(["--server", transport, "--registry", registry])
        .args(["--timeout", "10"])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output().expect("run lwm2mctl"))
        .await
        .unwrap();
    eprintln!(
        "lwm2mctl {args:?} -> {:?}\n  stdout: {}  stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json_of(output: &Output) -> Json {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "lwm2mctl printed no JSON ({e}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A minimal OMA DDF file for object `id`.
fn ddf(id: u32, name: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<LWM2M><Object ObjectType=\"MODefinition\">\
         <Name>{name}</Name><Description1>vendor object</Description1><ObjectID>{id}</ObjectID>\
         <ObjectVersion>1.0</ObjectVersion><MultipleInstances>Multiple</MultipleInstances>\
         <Mandatory>Optional</Mandatory><Resources><Item ID=\"1\"><Name>Level</Name>\
         <Operations>R</Operations><MultipleInstances>Single</MultipleInstances>\
         <Mandatory>Mandatory</Mandatory><Type>Integer</Type></Item></Resources></Object></LWM2M>"
    )
}

fn file_result<'a>(report: &'a Json, file: &str) -> &'a Json {
    report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["file"] == file))
        .unwrap_or_else(|| panic!("no result for {file} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_from_models_to_device_reads() {
    let work = tempfile::tempdir().unwrap();
    let mut server = start_standalone(work.path()).await;

    // Models: two good files (one in a sub-directory) and a broken one.
    // The good ones are stored, the broken one is reported, exit 5.
    let models = work.path().join("models");
    std::fs::create_dir_all(models.join("vendor")).unwrap();
    std::fs::write(models.join("33000.xml"), ddf(33000, "Pump")).unwrap();
    std::fs::write(models.join("vendor/33001.xml"), ddf(33001, "Valve")).unwrap();
    std::fs::write(models.join("broken.xml"), "<LWM2M><Object>").unwrap();
    let models_dir = models.to_str().unwrap();
    let import = ctl(&server, &["--json", "models", "import", models_dir]).await;
    assert_eq!(import.status.code(), Some(5), "one file failed");
    let report = json_of(&import);
    assert_eq!(report["failed"], 1, "{report}");
    let broken = file_result(&report, "broken.xml");
    assert_eq!(broken["status"], "FAILED");
    assert!(
        broken["message"].as_str().unwrap().contains("broken.xml"),
        "the error names the file: {broken}"
    );
    assert_eq!(file_result(&report, "33000.xml")["status"], "IMPORTED");
    assert_eq!(
        file_result(&report, "vendor/33001.xml")["models"][0]["object_id"],
        33001
    );
    let listed = ctl(&server, &["--json", "models", "list", "--object", "33001"]).await;
    assert_eq!(listed.status.code(), Some(0));
    assert_eq!(json_of(&listed)[0]["name"], "Valve");

    // A profile for object 3 at the version the registry knows, from a file.
    let device_models =
        json_of(&ctl(&server, &["--json", "models", "list", "--object", "3"]).await);
    let version = device_models[0]["version"]
        .as_str()
        .expect("object 3 has a model");
    let profile_file = work.path().join("profile.json");
    std::fs::write(
        &profile_file,
        serde_json::json!({
            "name": "sims",
            "objects": [{"object_id": 3, "version": version,
                         "resources": [{"instance_id": 0, "resource_id": 9, "telemetry": true}]}],
        })
        .to_string(),
    )
    .unwrap();
    let created = ctl(
        &server,
        &[
            "--json",
            "profiles",
            "create",
            "-f",
            profile_file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(created.status.code(), Some(0));
    assert_eq!(
        json_of(&created)["objects"][0]["resources"][0]["key"],
        "batteryLevel"
    );

    // Devices from a CSV naming the profile; line 5 lacks its PSK: exit 5
    // with that row FAILED and the others CREATED.
    let csv = work.path().join("devices.csv");
    std::fs::write(
        &csv,
        "endpoint id,securityMode,profile\n\
         sim-0001,NO_SEC,sims\n\
         sim-0002,NO_SEC,sims\n\
         sim-0003,NO_SEC,sims\n\
         meter-psk,PSK,sims\n",
    )
    .unwrap();
    let imported = ctl(
        &server,
        &["--json", "devices", "import", csv.to_str().unwrap()],
    )
    .await;
    assert_eq!(imported.status.code(), Some(5));
    let rows = json_of(&imported);
    assert_eq!(
        (rows["created"].clone(), rows["failed"].clone()),
        (3.into(), 1.into()),
        "{rows}"
    );
    let failed = &rows["rows"][3];
    assert_eq!(
        (&failed["line"], &failed["endpoint"], &failed["status"]),
        (&5.into(), &"meter-psk".into(), &"FAILED".into()),
        "{rows}"
    );
    // The same file again, as a person reads it: nothing changes.
    let again = ctl(&server, &["devices", "import", csv.to_str().unwrap()]).await;
    assert_eq!(again.status.code(), Some(5));
    let table = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(table.starts_with("LINE"), "{table}");
    assert!(table.contains("3 unchanged, 1 failed"), "{table}");

    // Three simulated devices register; the list shows them provisioned
    // with their profile and registered.
    let sim = Command::new(binary("lwm2m-sim"))
        .args([
            "--server",
            &server.coap,
            "--count",
            "3",
            "--duration",
            "60s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lwm2m-sim");
    let mut sim = LineChild::new("lwm2m-sim", sim);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = ctl(&server, &["--json", "devices", "list"]).await;
        assert_eq!(list.status.code(), Some(0), "devices list failed");
        let devices = json_of(&list);
        let registered: Vec<&str> = devices
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["registered"] == true && d["profile"] == "sims")
            .filter_map(|d| d["endpoint"].as_str())
            .collect();
        if registered == ["sim-0001", "sim-0002", "sim-0003"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sims never showed up registered: {devices}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The battery level: a percentage, read as JSON.
    let read = ctl(&server, &["--json", "read", "sim-0001", "/3/0/9"]).await;
    assert_eq!(read.status.code(), Some(0));
    let read = json_of(&read);
    assert_eq!(read["code"], "2.05", "{read}");
    let level = read["values"][0]["value"].as_i64().expect("an integer");
    assert!((0..=100).contains(&level), "{read}");

    // The same read as a dispatch operation: the same JSON plus the operation.
    let read = ctl_dispatch(&server, &["--json", "read", "sim-0001", "/3/0/9"]).await;
    assert_eq!(read.status.code(), Some(0));
    let read = json_of(&read);
    assert_eq!(read["operation"]["state"], "SUCCESSFUL", "{read}");
    assert_eq!(read["values"][0]["path"], "/3/0/9", "{read}");
    assert!(read["values"][0]["value"].is_i64(), "{read}");

    // ThingsBoard RPC JSON through dispatch, then the operation it left.
    let call = ctl_dispatch(
        &server,
        &["--json", "call", "sim-0001", "Read", r#"{"id":"/3/0"}"#],
    )
    .await;
    assert_eq!(call.status.code(), Some(0));
    let call = json_of(&call);
    assert_eq!(call["result"], "CONTENT", "{call}");
    assert!(!call["value"].is_null(), "{call}");
    let ops = ctl_dispatch(
        &server,
        &["--json", "ops", "list", "--endpoint", "sim-0001"],
    )
    .await;
    assert_eq!(ops.status.code(), Some(0));
    let ops = json_of(&ops);
    let newest = &ops[0];
    assert_eq!(
        (&newest["method"], &newest["state"], &newest["params"]["id"]),
        (&"Read".into(), &"SUCCESSFUL".into(), &"/3/0".into()),
        "{ops}"
    );
    let id = newest["id"].as_str().unwrap();
    let got = ctl_dispatch(&server, &["--json", "ops", "get", id]).await;
    assert_eq!(json_of(&got)["id"], id);
    let unknown_op = uuid::Uuid::new_v4().to_string();
    let missing_op = ctl_dispatch(&server, &["ops", "get", &unknown_op]).await;
    assert_eq!(missing_op.status.code(), Some(2));

    // Write-Attributes, Create and Delete have their own subcommands
    // (issue 15): attributes show in a Discover; an instance is created
    // with a typed value, read, deleted, and then is gone.
    let attrs = ctl(
        &server,
        &[
            "--json",
            "write-attributes",
            "sim-0001",
            "/3/0/9",
            "--pmin",
            "5",
            "--pmax",
            "60",
        ],
    )
    .await;
    assert_eq!(attrs.status.code(), Some(0), "{:?}", attrs);
    assert_eq!(json_of(&attrs)["code"], "2.04");
    let discovered = json_of(&ctl(&server, &["--json", "discover", "sim-0001", "/3/0/9"]).await);
    let links = discovered["link_format"].as_str().unwrap_or_default();
    assert!(
        links.contains("pmin=5") && links.contains("pmax=60"),
        "{discovered}"
    );
    let inverted = ctl(
        &server,
        &[
            "write-attributes",
            "sim-0001",
            "/3/0/9",
            "--pmin",
            "60",
            "--pmax",
            "5",
        ],
    )
    .await;
    assert_eq!(
        inverted.status.code(),
        Some(1),
        "pmax below pmin is a usage error"
    );
    let created = ctl(
        &server,
        &[
            "--json",
            "create",
            "sim-0001",
            "/3303",
            "--instance",
            "7",
            "5701:string=Cel",
        ],
    )
    .await;
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    assert_eq!(json_of(&created)["code"], "2.01");
    let unit = json_of(&ctl(&server, &["--json", "read", "sim-0001", "/3303/7/5701"]).await);
    assert_eq!(unit["values"][0]["value"], "Cel", "{unit}");
    let deleted = ctl_dispatch(&server, &["--json", "delete", "sim-0001", "/3303/7"]).await;
    assert_eq!(deleted.status.code(), Some(0), "{deleted:?}");
    assert_eq!(json_of(&deleted)["operation"]["state"], "SUCCESSFUL");
    let gone = ctl(&server, &["--json", "read", "sim-0001", "/3303/7"]).await;
    assert_eq!(gone.status.code(), Some(3), "the instance is gone");
    let not_an_instance = ctl(&server, &["delete", "sim-0001", "/3303"]).await;
    assert_eq!(not_an_instance.status.code(), Some(1));

    // Observe: stops after --count with the event's local time, and cancels
    // the observation it started; joins (and leaves) one that is kept; a
    // SIGTERM (timeout(1), a service manager) cancels too.
    let observed_paths = |out: Output| -> Json { json_of(&out)["value"].clone() };
    let observe_read_all = ["--json", "call", "sim-0002", "ObserveReadAll", "{}"];
    let once = ctl(&server, &["observe", "sim-0002", "/3/0/9", "--count", "1"]).await;
    assert_eq!(once.status.code(), Some(0), "{once:?}");
    let text = String::from_utf8_lossy(&once.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(" sim-0002 Notify: /3/0/9="))
        .unwrap_or_else(|| panic!("no notification line in {text:?}"));
    let at = line.split(' ').next().unwrap_or_default().as_bytes();
    // 2026-12-07T17:03:12.345+01:00: local RFC 3339 with milliseconds.
    assert!(
        at.len() == 29 && at[10] == b'T' && at[19] == b'.' && matches!(at[23], b'+' | b'-'),
        "not RFC 3339 local time: {line}"
    );
    let listed = observed_paths(ctl_dispatch(&server, &observe_read_all).await);
    assert_eq!(
        listed,
        serde_json::json!([]),
        "observe left its observation"
    );

    let kept = ctl(
        &server,
        &[
            "--json", "observe", "sim-0002", "/3/0/9", "--count", "1", "--keep",
        ],
    )
    .await;
    assert_eq!(kept.status.code(), Some(0), "{kept:?}");
    let last: Json = String::from_utf8_lossy(&kept.stdout)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert!(
        last["timestamp_ms"].is_i64(),
        "--json keeps the number: {last}"
    );
    let joined = ctl(&server, &["observe", "sim-0002", "/3/0/9", "--count", "1"]).await;
    assert_eq!(joined.status.code(), Some(0), "{joined:?}");
    assert!(
        String::from_utf8_lossy(&joined.stderr).contains("already observed"),
        "{joined:?}"
    );
    let listed = observed_paths(ctl_dispatch(&server, &observe_read_all).await);
    assert_eq!(
        listed,
        serde_json::json!(["/3/0/9"]),
        "one observation, kept"
    );
    let cancelled = ctl_dispatch(
        &server,
        &[
            "--json",
            "call",
            "sim-0002",
            "ObserveCancel",
            r#"{"id":"/3/0/9"}"#,
        ],
    )
    .await;
    assert_eq!(cancelled.status.code(), Some(0), "{cancelled:?}");

    let watcher = Command::new(binary("lwm2mctl"))
        .env_remove("LWM2MCTL_DISPATCH")
        .args([
            "--server",
            &server.transport,
            "--registry",
            &server.registry,
        ])
        .args(["observe", "sim-0002", "/3/0/9"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lwm2mctl observe");
    let mut watcher = LineChild::new("lwm2mctl observe", watcher);
    watcher
        .line("a notification", |l| l.contains(" sim-0002 Notify: "))
        .await;
    let listed = observed_paths(ctl_dispatch(&server, &observe_read_all).await);
    assert_eq!(listed, serde_json::json!(["/3/0/9"]));
    watcher.terminate();
    let watcher_status = watcher.wait().await;
    assert!(
        watcher_status.success(),
        "observe exited with {watcher_status}"
    );
    let listed = observed_paths(ctl_dispatch(&server, &observe_read_all).await);
    assert_eq!(
        listed,
        serde_json::json!([]),
        "SIGTERM left the observation"
    );

    // The sims announce 3303, whose model was never imported: the registry
    // lists it as unknown, with the device that last announced it.
    let unknown = ctl(&server, &["--json", "models", "unknown"]).await;
    assert_eq!(unknown.status.code(), Some(0));
    let unknown = json_of(&unknown);
    let temperature = unknown
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object_id"] == 3303)
        .unwrap_or_else(|| panic!("3303 is not listed: {unknown}"));
    assert!(
        temperature["last_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("sim-"),
        "{temperature}"
    );

    // Exit codes: unknown endpoint 2 (and no JSON), a path that is not one
    // 1, a resource the device lacks 3, an unreachable server 4.
    let unknown = ctl(&server, &["--json", "read", "nobody", "/3/0/9"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(unknown.stdout.is_empty(), "errors go to stderr only");
    let unknown = ctl(&server, &["devices", "get", "nobody"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let bad_path = ctl(&server, &["read", "sim-0001", "/not/a/path"]).await;
    assert_eq!(bad_path.status.code(), Some(1));
    let missing = ctl(&server, &["--json", "read", "sim-0001", "/3/0/999"]).await;
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(json_of(&missing)["code"], "4.04");
    let unreachable = ctl_at(
        "http://127.0.0.1:1",
        &server.registry,
        &["read", "sim-0001", "/3/0/9"],
    )
    .await;
    assert_eq!(unreachable.status.code(), Some(4));

    sim.interrupt();
    let sim_status = sim.wait().await;
    assert!(sim_status.success(), "lwm2m-sim exited with {sim_status}");
    sigterm(server.child.id());
    let server_status = wait_child(&mut server.child, "lwm2m").await;
    assert!(server_status.success(), "lwm2m exited with {server_status}");
}
