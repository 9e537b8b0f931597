//! Standalone mode end to end with the real binaries, as a person follows
//! the README: `lwm2m run --target all`, a simulated fleet from `lwm2m-sim`,
//! and `lwm2mctl` against the gRPC API.
//!
//! The binaries are the workspace's own, next to this test executable in the
//! target dir (`cargo build --workspace --bins` builds them; `make test`
//! does so before the tests).

// The helpers of this test binary may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{forward_stderr, sigterm, wait_child, LineChild, PATIENCE};

/// `target/<profile>/<name>`: the test executable is `target/<profile>/deps/<test>-<hash>`.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    let profile_dir = deps.parent().expect("deps has a parent");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (with the same profile and \
         CARGO_TARGET_DIR as the tests) before this test",
        path.display()
    );
    path
}

/// Addresses parsed from the "transport is up" line, e.g.
/// `INFO lwm2m::targets: transport is up coap=127.0.0.1:40000 grpc=127.0.0.1:40001 ...`.
/// ANSI colour codes are stripped first (the log may be coloured).
fn bound_addresses(line: &str) -> Option<(String, String)> {
    let line = strip_ansi(line);
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|v| v.trim_matches('"').trim_end_matches(',').to_owned())
    };
    Some((field("coap=")?, field("grpc=")?))
}

/// `line` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_transport_is_up_line_gives_the_bound_addresses() {
    let plain = "2026-11-22T21:18:38Z  INFO lwm2m::targets: transport is up \
                 coap=127.0.0.1:46630 grpc=127.0.0.1:41397 node=127.0.0.1:41397";
    let coloured = "\u{1b}[2m2026\u{1b}[0m transport is up \u{1b}[3mcoap\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:1 \
                    \u{1b}[3mgrpc\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:2";
    let expected = |c: &str, g: &str| Some((c.to_owned(), g.to_owned()));
    assert_eq!(
        bound_addresses(plain),
        expected("127.0.0.1:46630", "127.0.0.1:41397")
    );
    assert_eq!(
        bound_addresses(coloured),
        expected("127.0.0.1:1", "127.0.0.1:2")
    );
    assert_eq!(bound_addresses("transport is up"), None);
}

/// Starts `lwm2m run --target all` on ephemeral ports; returns it with the
/// bound CoAP and gRPC addresses.
async fn start_standalone() -> (Child, String, String) {
    let mut child = Command::new(binary("lwm2m"))
        .args(["run", "--target", "all"])
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        // A registry database of its own (SQLite: one process per file).
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            format!(
                "sqlite://{}/lwm2m-standalone-{}/lwm2m.db",
                std::env::temp_dir().display(),
                uuid::Uuid::new_v4().simple()
            ),
        )
        .env("LWM2M_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lwm2m");
    // The log goes to stderr: read it line by line until the transport is up,
    // then keep forwarding it.
    let stderr = child.stderr.take().expect("stderr is piped");
    if let Some(stdout) = child.stdout.take() {
        forward_stderr("lwm2m stdout", stdout);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[lwm2m] {line}");
            if !sent && line.contains("transport is up") {
                sent = tx.send(line).is_ok();
            }
        }
    });
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE))
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("lwm2m logged no \"transport is up\" line within {PATIENCE:?}"));
    let (coap, grpc) =
        bound_addresses(&line).unwrap_or_else(|| panic!("no coap=/grpc= in {line:?}"));
    (child, coap, grpc)
}

/// `lwm2mctl --server http://<grpc> <args>`, off the async runtime.
async fn ctl(grpc: &str, args: &[&str]) -> Output {
    let mut command = Command::new(binary("lwm2mctl"));
    command
        .args(["--server", &format!("http://{grpc}"), "--timeout", "10"])
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

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "lwm2mctl printed no JSON ({e}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn value_at<'a>(response: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    response["values"]
        .as_array()?
        .iter()
        .find(|v| v["path"] == path)
        .map(|v| &v["value"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_standalone_walkthrough_with_the_real_binaries() {
    let (mut server, coap, grpc) = start_standalone().await;

    // Ten simulated devices, sim-0001 .. sim-0010.
    let sim = Command::new(binary("lwm2m-sim"))
        .args(["--server", &coap, "--count", "10", "--duration", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lwm2m-sim");
    let mut sim = LineChild::new("lwm2m-sim", sim);

    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = ctl(&grpc, &["--json", "devices", "list"]).await;
        assert_eq!(list.status.code(), Some(0), "devices list failed");
        let devices = json_of(&list);
        let endpoints: Vec<&str> = devices
            .as_array()
            .expect("devices list --json is an array")
            .iter()
            .filter_map(|d| d["endpoint"].as_str())
            .collect();
        if endpoints.len() == 10 {
            let expected: Vec<String> = (1..=10).map(|i| format!("sim-{i:04}")).collect();
            assert_eq!(endpoints, expected);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 devices never registered: {endpoints:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Read the Device object.
    let read = ctl(&grpc, &["--json", "read", "sim-0001", "/3/0"]).await;
    assert_eq!(read.status.code(), Some(0));
    let read = json_of(&read);
    assert_eq!(read["result"], "CONTENT", "{read}");
    assert_eq!(read["code"], "2.05", "{read}");
    let manufacturer = value_at(&read, "/3/0/0").unwrap_or_else(|| panic!("no /3/0/0 in {read}"));
    assert!(
        manufacturer.as_str().is_some_and(|m| !m.is_empty()),
        "{read}"
    );
    assert!(value_at(&read, "/3/0/9").is_some(), "battery level: {read}");

    // Write the UTC offset (a single resource: replaced with PUT by default) and read it back.
    let write = ctl(&grpc, &["--json", "write", "sim-0001", "/3/0/14", "+05:30"]).await;
    assert_eq!(write.status.code(), Some(0));
    assert_eq!(json_of(&write)["result"], "CHANGED");
    let back = ctl(&grpc, &["--json", "read", "sim-0001", "/3/0/14"]).await;
    assert_eq!(back.status.code(), Some(0));
    assert_eq!(value_at(&json_of(&back), "/3/0/14"), Some(&"+05:30".into()));

    // Execute Reboot... of another device, so sim-0001 stays up for the rest.
    let exec = ctl(&grpc, &["--json", "exec", "sim-0002", "/3/0/4"]).await;
    assert_eq!(exec.status.code(), Some(0));
    assert_eq!(json_of(&exec)["result"], "CHANGED");

    // Human output too.
    let table = ctl(&grpc, &["devices", "list"]).await;
    assert_eq!(table.status.code(), Some(0));
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.starts_with("ENDPOINT") && table.contains("sim-0010"),
        "{table}"
    );

    // A resource the device does not have: the device answers 4.04, exit 3.
    let missing = ctl(&grpc, &["--json", "read", "sim-0001", "/3/0/999"]).await;
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(json_of(&missing)["code"], "4.04");
    // A path that is not one: usage error, exit 1.
    let bad_path = ctl(&grpc, &["read", "sim-0001", "/not/a/path"]).await;
    assert_eq!(bad_path.status.code(), Some(1));
    // A device that is not registered: not found, exit 2.
    let unknown = ctl(&grpc, &["read", "nobody", "/3/0"]).await;
    assert_eq!(unknown.status.code(), Some(2));

    // Stop both. lwm2m-sim stops on Ctrl-C (SIGINT), de-registering its
    // devices, and exits 0; then the server stops cleanly on SIGTERM.
    sim.interrupt();
    let sim_status = sim.wait().await;
    assert!(sim_status.success(), "lwm2m-sim exited with {sim_status}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = ctl(&grpc, &["--json", "devices", "list"]).await;
        let left = json_of(&list).as_array().map_or(usize::MAX, Vec::len);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} devices still registered after the simulator stopped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sigterm(server.id());
    let server_status = wait_child(&mut server, "lwm2m").await;
    assert!(server_status.success(), "lwm2m exited with {server_status}");
}
