//! The `lwm2m` binary starts, loads its configuration and stops cleanly on a
//! signal; a bad configuration value stops it with an error naming the key.

// Test helpers outside `#[test]` functions fail loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn lwm2m() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lwm2m"));
    // Keep the test independent of the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("LWM2M_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line containing {needle:?}; saw {seen:#?}");
}

/// Kills the child if the test fails before it exits, so no server outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sqlite://` URL of a registry database in `dir` (the `data/` directory
/// does not exist yet: the registry creates it).
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/data/lwm2m.db", dir.path().display())
}

fn signal_and_wait(signal: &str) {
    let data = tempfile::tempdir().unwrap();
    let child = lwm2m()
        .args(["run", "--target", "all"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env("LWM2M_REGISTRY_DATABASE_URL", sqlite_url(&data))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let registry = wait_for_line(&rx, "registry is up");
    let line = registry.last().unwrap();
    assert!(
        line.contains("grpc=127.0.0.1:") && !line.contains("grpc=127.0.0.1:0 "),
        "the registry follows grpc.bind to an ephemeral port: {line}"
    );
    assert!(
        data.path().join("data/lwm2m.db").is_file(),
        "the standalone database was created"
    );
    let up = wait_for_line(&rx, "transport is up");
    let line = up.last().unwrap();
    // The env overrides reached the service: loopback, and port 0 became a real port.
    assert!(
        line.contains("grpc=127.0.0.1:") && !line.contains("grpc=127.0.0.1:0 "),
        "{line}"
    );
    assert!(
        line.contains("coap=127.0.0.1:") && !line.contains("coap=127.0.0.1:0 "),
        "{line}"
    );
    assert!(
        line.contains("sessions=memory") && line.contains("bus=memory"),
        "standalone backends: {line}"
    );
    wait_for_line(&rx, "lwm2m is up");
    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_line(&rx, "stopped cleanly");
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn starts_and_stops_cleanly_on_sigint() {
    signal_and_wait("-INT");
}

#[test]
fn starts_and_stops_cleanly_on_sigterm() {
    signal_and_wait("-TERM");
}

#[test]
fn bad_value_fails_with_the_key() {
    let out = lwm2m()
        .args(["run", "--target", "transport"])
        .env("LWM2M_DTLS_CONNECTION_ID_LENGTH", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dtls.connection_id_length"), "{err}");
}

#[test]
fn config_command_prints_effective_settings() {
    let out = lwm2m()
        .arg("config")
        .env("LWM2M_DTLS_CONNECTION_ID_LENGTH", "6")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("connection_id_length = 6"), "{text}");
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let data = tempfile::tempdir().unwrap();
    let migrate = || {
        lwm2m()
            .arg("migrate")
            .env("LWM2M_REGISTRY_DATABASE_URL", sqlite_url(&data))
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    // Every migration of the stream, whatever their number, then nothing.
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(text.contains("applied [1"), "{text}");
    let version = text
        .rsplit("now at version ")
        .next()
        .map(str::trim)
        .filter(|v| v.parse::<i64>().is_ok())
        .unwrap_or_else(|| panic!("no version in {text:?}"));
    let second = migrate();
    assert!(second.status.success(), "{second:?}");
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains(&format!("up to date at version {version}")),
        "{text}"
    );
}

#[test]
fn migrate_names_an_unreachable_database_without_its_password() {
    let out = lwm2m()
        .arg("migrate")
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            "postgres://lwm2m:hunter2@127.0.0.1:1/registry",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1/registry"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unknown_target_is_refused() {
    let out = lwm2m()
        .args(["run", "--target", "everything"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
