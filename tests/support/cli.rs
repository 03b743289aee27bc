//! Running the `nats` CLI example and the other examples from tests.
//!
//! `cargo test` builds the examples, so a binary is found next to the
//! test binary at `<target>/debug/examples/<name>`; when it is missing
//! (e.g. `cargo test --test cli` alone) it is built once with `cargo build
//! --example <name>`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::NatsServer;

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Path of the `nats` example binary, building it if needed.
pub fn cli() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| example("nats")).clone()
}

/// Path of an example binary, building it if needed. (`cargo test` builds
/// the examples first, so they are found next to the test binary.)
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/cli-<hash>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary is in <target>/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let target_dir = profile_dir.parent().expect("target dir");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(bin.exists(), "{} not found", bin.display());
    bin
}

/// Sends every line of `r` to a channel, which closes at the end of `r`.
pub fn line_channel(r: impl std::io::Read + Send + 'static, echo: bool) -> Receiver<String> {
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[cli stderr] {line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A running CLI process whose stdout and stderr lines arrive on channels.
pub struct Running {
    pub child: Child,
    pub lines: Receiver<String>,
    pub err_lines: Receiver<String>,
}

impl Running {
    pub fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(cli())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the nats example");
        let lines = line_channel(child.stdout.take().unwrap(), false);
        let err_lines = line_channel(child.stderr.take().unwrap(), true);
        Running {
            child,
            lines,
            err_lines,
        }
    }

    /// The next stderr line, failing the test at the deadline.
    pub fn err_line(&self, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        self.err_lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no stderr line before the deadline: {e}"))
    }

    /// Every stdout line left, once the process has closed its stdout.
    pub fn rest(&self, deadline: Instant) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return out,
                Err(e) => panic!("stdout not closed before the deadline: {e}"),
            }
        }
    }

    /// Sends a signal (`kill -<sig> <pid>`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit, returning its status.
    pub fn wait_exit(&mut self, deadline: Instant) -> std::process::ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit in time");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next stdout line, failing the test at the deadline.
    pub fn line(&self, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no output line before the deadline: {e}"))
    }

    pub fn json_line(&self, deadline: Instant) -> Value {
        let line = self.line(deadline);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }

    pub fn wait_ready(&self, deadline: Instant) {
        let v = self.json_line(deadline);
        assert_eq!(v, serde_json::json!({"ready": true}));
    }

    /// Waits for the process to exit successfully.
    pub fn wait_success(&mut self, deadline: Instant) {
        let status = self.wait_exit(deadline);
        assert!(status.success(), "exited with {status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI to completion, killing it at the deadline.
pub fn run(args: &[&str]) -> Output {
    let mut child = Command::new(cli())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the nats example");
    // Read both pipes while the process runs: a full pipe would block it.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`nats {}` did not finish in {TIMEOUT:?}", args.join(" "));
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

pub fn run_ok(args: &[&str]) -> Output {
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
pub fn setup() -> (NatsServer, String) {
    with_cli(NatsServer::start)
}

/// The CLI built (before any deadline starts), then a server and its URL.
fn with_cli(start: fn() -> NatsServer) -> (NatsServer, String) {
    cli();
    let server = start();
    let url = server.client_url();
    (server, url)
}

/// The keys of a JSON object line, in the order they are written.
pub fn keys_in_order(line: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(line).expect("JSON");
    let mut keys: Vec<(usize, String)> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| {
            let pos = line.find(&format!("\"{k}\":")).expect("key in the line");
            (pos, k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// Builds the CLI if needed and starts a JetStream server.
pub fn setup_js() -> (NatsServer, String) {
    with_cli(NatsServer::with_jetstream)
}

pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `examples/<name>.rs --self-test` (it starts its own
/// `nats-server -js`) and returns its stdout lines once it exited 0.
pub fn self_test(name: &str) -> Vec<String> {
    let mut child = Command::new(example(name))
        .arg("--self-test")
        .env("NATS_SERVER", super::server_binary())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run the {name} example: {e}"));
    let out = line_channel(child.stdout.take().expect("stdout"), false);
    let err = line_channel(child.stderr.take().expect("stderr"), false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the {name} example hung");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout: Vec<String> = out.iter().collect();
    let stderr: Vec<String> = err.iter().collect();
    assert!(status.success(), "{name}: {status}\n{stdout:?}\n{stderr:?}");
    stdout
}
