//! Integration tests of the `nats` CLI example (`examples/nats.rs`) against a
//! real nats-server.
//!
//! `cargo test` builds the examples, so the binary is found next to the
//! test binary at `<target>/debug/examples/nats`; when it is missing (e.g.
//! `cargo test --test cli` alone) it is built once with `cargo build
//! --example nats`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::NatsServer;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Path of the example binary, building it if needed.
fn cli() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // <target>/<profile>/deps/cli-<hash>
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("test binary is in <target>/<profile>/deps");
        let bin = profile_dir
            .join("examples")
            .join(format!("nats{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            let target_dir = profile_dir.parent().expect("target dir");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--example", "nats"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("CARGO_TARGET_DIR", target_dir)
                .status()
                .expect("run cargo build --example nats");
            assert!(status.success(), "cargo build --example nats failed");
        }
        assert!(bin.exists(), "{} not found", bin.display());
        bin
    })
    .clone()
}

/// A running CLI process whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(cli())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the nats example");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The next stdout line, failing the test at the deadline.
    fn line(&self, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no output line before the deadline: {e}"))
    }

    fn json_line(&self, deadline: Instant) -> Value {
        let line = self.line(deadline);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }

    fn wait_ready(&self, deadline: Instant) {
        let v = self.json_line(deadline);
        assert_eq!(v, serde_json::json!({"ready": true}));
    }

    /// Waits for the process to exit successfully.
    fn wait_success(&mut self, deadline: Instant) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "process did not exit in time");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI to completion, killing it at the deadline.
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(cli())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the nats example");
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`nats {}` did not finish in {TIMEOUT:?}", args.join(" "));
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "`nats {}` failed: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds the CLI if needed (before any deadline starts) and starts a server.
fn setup() -> (NatsServer, String) {
    cli();
    let server = NatsServer::start();
    let url = server.client_url();
    (server, url)
}

#[test]
fn sub_receives_what_pub_sends() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["sub", "cli.test.*", "--json", "--count", "2", "-s", &url]);
    sub.wait_ready(deadline);

    run_ok(&["-s", &url, "pub", "cli.test.one", "first"]);
    run_ok(&["pub", "cli.test.two", "second", "--server", &url]);

    let a = sub.json_line(deadline);
    let b = sub.json_line(deadline);
    assert_eq!(a["subject"], "cli.test.one");
    assert_eq!(a["payload"], "first");
    assert_eq!(a["reply"], Value::Null);
    assert_eq!(a["headers"], serde_json::json!({}));
    assert_eq!(b["subject"], "cli.test.two");
    assert_eq!(b["payload"], "second");
    sub.wait_success(deadline);
}

#[test]
fn req_gets_the_reply() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut replier = Running::spawn(&[
        "--json", "-s", &url, "reply", "cli.svc", "pong", "--count", "1",
    ]);
    replier.wait_ready(deadline);

    let out = run_ok(&[
        "req",
        "cli.svc",
        "ping",
        "--json",
        "-s",
        &url,
        "--timeout-ms",
        "5000",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("req prints JSON");
    assert_eq!(v["payload"], "pong");
    replier.wait_success(deadline);
}

#[test]
fn req_without_responders_fails() {
    let (_server, url) = setup();
    let out = run(&["-s", &url, "req", "cli.nobody", "x"]);
    assert!(!out.status.success(), "req should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no responders"), "stderr: {stderr:?}");
}

#[test]
fn pub_headers_reach_sub() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["-s", &url, "--json", "sub", "cli.hdr", "--count", "1"]);
    sub.wait_ready(deadline);

    run_ok(&["-s", &url, "pub", "cli.hdr", "with headers", "-H", "A:1"]);
    let v = sub.json_line(deadline);
    assert_eq!(v["payload"], "with headers");
    assert_eq!(v["headers"], serde_json::json!({"A": ["1"]}));
    sub.wait_success(deadline);
}

#[test]
fn bench_pub_reports_a_rate() {
    let (_server, url) = setup();
    let out = run_ok(&[
        "-s", &url, "bench", "pub", "--size", "16", "--count", "1000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("a result line");
    let v: Value = serde_json::from_str(line).expect("JSON result");
    assert_eq!(v["mode"], "pub");
    assert_eq!(v["size"], 16);
    assert_eq!(v["count"], 1000);
    assert!(v["msgs_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["mb_per_s"].as_f64().is_some(), "{v}");
    assert!(v.get("p50_us").is_none(), "no latencies for pub: {v}");
}
