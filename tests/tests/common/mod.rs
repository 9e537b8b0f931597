//! Shared harness of the interop and end-to-end tests: an in-process
//! transport node on ephemeral ports (session store in Redis or in memory,
//! in-memory bus) and event waiting from `lwm2m_transport::testing`, child processes whose stdout is read line
//! by line, SIGTERM, and the location of the workspace binaries.
//!
//! Peers (node + npm, libcoap's `coap-client-notls`, Redis, the workspace
//! binaries) are installed by the test setup; a missing one fails the test
//! with a message saying what to install, never skips it.
// Helpers outside #[test] fns may panic: a panic is a test failure, which is
// exactly what a broken precondition should be here.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use lwm2m_transport::testing::*;

pub mod udp_balancer;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Fails with an install hint when `program` is not on PATH.
pub fn require_program(program: &str, install_hint: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed; the test setup must install it ({install_hint})"
    );
}

/// A child process whose stdout is read line by line on a thread.
pub struct LineChild {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every stdout line seen so far, for failure messages.
    pub seen: Vec<String>,
    name: String,
}

impl LineChild {
    /// Takes `child`'s stdout (it must be piped) and, if piped, forwards its
    /// stderr to ours prefixed with `name`.
    pub fn new(name: &str, mut child: Child) -> LineChild {
        let stdout = child.stdout.take().expect("stdout must be piped");
        let (tx, lines) = mpsc::unbounded_channel();
        let prefix = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{prefix} stdout] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        if let Some(stderr) = child.stderr.take() {
            forward_stderr(name, stderr);
        }
        LineChild {
            child,
            lines,
            seen: Vec::new(),
            name: name.to_owned(),
        }
    }

    /// The next stdout line satisfying `pred` (others are kept in `seen`).
    pub async fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "{} closed stdout ({:?}) before printing {what}; it printed {:?}",
                    self.name,
                    self.child.try_wait(),
                    self.seen
                ),
                Err(_) => panic!(
                    "{} printed no {what} within {PATIENCE:?}; it printed {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        sigterm(self.child.id());
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        sigint(self.child.id());
    }

    /// Waits for the exit (SIGKILL after PATIENCE).
    pub async fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child, &self.name).await
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies a child's stderr to ours, line by line, prefixed (cargo test
/// captures it and shows it for failed tests).
pub fn forward_stderr(name: &str, stderr: impl Read + Send + 'static) {
    let prefix = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{prefix}] {line}");
        }
    });
}

/// Sends SIGTERM to `pid` (std's `Child::kill` only sends SIGKILL).
pub fn sigterm(pid: u32) {
    send_signal(pid, "TERM");
}

/// Sends SIGINT (Ctrl-C) to `pid`.
pub fn sigint(pid: u32) {
    send_signal(pid, "INT");
}

/// `kill -<signal> <pid>`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// Waits for `child` to exit; kills it and fails after PATIENCE.
pub async fn wait_child(child: &mut Child, name: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not exit within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
