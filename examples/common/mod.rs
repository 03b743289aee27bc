//! What the examples share: finding the nats-server binary for
//! `--self-test`, a `nats-server -js` of their own, and a `main` that runs
//! an example against it or against `NATS_URL`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `$NATS_SERVER`, else the newest `.tools/nats-server-*/bin/nats-server`,
/// else `nats-server` on `PATH`.
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools");
    if let Ok(entries) = std::fs::read_dir(&tools) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin/nats-server"))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        if let Some(p) = found.pop() {
            return p;
        }
    }
    PathBuf::from("nats-server")
}

/// A `nats-server -js -sd <tempdir> -p <free port>`, killed (and its store
/// removed) on drop.
pub struct JsServer {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl JsServer {
    pub fn start() -> Result<JsServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "nats-actix-{}-{}-{port}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let child = Command::new(server_binary())
            .arg("-js")
            .arg("-sd")
            .arg(&dir)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start nats-server: {e} (install it with scripts/install-nats-server.sh)"
                )
            })?;
        let server = JsServer {
            child,
            dir,
            url: format!("nats://127.0.0.1:{port}"),
        };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("nats-server did not listen on {port}"))
    }
}

impl Drop for JsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a failed example run returns.
pub type Failure = Box<dyn std::error::Error>;

/// `Err(what)` unless `ok`.
pub fn check(ok: bool, what: impl Into<String>) -> Result<(), Failure> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

/// The examples' `main`: with `--self-test` against a `nats-server -js`
/// of their own, else against `NATS_URL` (default `nats://127.0.0.1:4222`);
/// an error is printed and exits 1.
pub async fn main_with<F, Fut>(run: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let self_test = std::env::args().any(|a| a == "--self-test");
    let server = if self_test {
        match JsServer::start() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let url = match &server {
        Some(s) => s.url.clone(),
        None => std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
    };
    let result = run(url).await;
    drop(server);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
