//! JetStream streams: create one, read its info, publish to it, get
//! messages back by sequence and by subject, purge (a subject, then all but
//! the newest), delete it.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_streams            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_streams -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks every step and prints `ok: ...`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nats_actix::jetstream::{self, ApiError, PurgeRequest, StorageType, StreamConfig};
use nats_actix::{Client, ConnectOptions};

const STREAM: &str = "EXAMPLE_STREAMS";

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    // a leftover of an earlier run
    let _ = js.delete_stream(STREAM).await;

    let config = StreamConfig::new(STREAM, ["weather.>"])
        .storage(StorageType::Memory)
        .max_msgs(1000);
    let info = js.create_stream(config).await?;
    println!(
        "created {} on {:?} ({:?} storage)",
        info.config.name, info.config.subjects, info.config.storage
    );

    for (subject, body) in [
        ("weather.paris", "12C"),
        ("weather.oslo", "-3C"),
        ("weather.paris", "14C"),
        ("weather.lima", "22C"),
        ("weather.paris", "15C"),
    ] {
        let ack = js.publish(subject, body).await?;
        println!("  {subject} {body} -> #{}", ack.seq);
    }

    let info = js.stream_info(STREAM).await?;
    println!(
        "info: {} messages, {} bytes, seq {}..={}",
        info.state.messages, info.state.bytes, info.state.first_seq, info.state.last_seq
    );
    check(info.state.messages == 5, "5 messages stored")?;

    let m = js.get_message(STREAM, 2).await?;
    println!(
        "get #2: {} {} (stored {})",
        m.subject,
        String::from_utf8_lossy(&m.payload),
        m.time
    );
    check(m.subject == "weather.oslo", "#2 is oslo's")?;
    let last = js.get_last_message(STREAM, "weather.paris").await?;
    println!(
        "last on weather.paris: #{} {}",
        last.seq,
        String::from_utf8_lossy(&last.payload)
    );
    check(last.seq == 5, "paris' last is #5")?;

    match js.get_message(STREAM, 99).await {
        Err(e) if ApiError::of(&e).is_some_and(|a| a.err_code == ApiError::NO_MESSAGE_FOUND) => {
            println!("get #99: no message ({e})");
        }
        other => return Err(format!("get #99: {other:?}").into()),
    }

    let purged = js
        .purge_stream(STREAM, PurgeRequest::default().filter("weather.oslo"))
        .await?;
    println!("purged weather.oslo: {purged} message(s)");
    check(purged == 1, "one oslo message purged")?;
    let purged = js
        .purge_stream(STREAM, PurgeRequest::default().keep(1))
        .await?;
    println!("purged all but the newest: {purged} message(s)");
    let info = js.stream_info(STREAM).await?;
    check(info.state.messages == 1, "one message left")?;

    let names = js.stream_names(None).await?;
    println!("streams: {names:?}");
    check(names.iter().any(|n| n == STREAM), "listed")?;

    js.delete_stream(STREAM).await?;
    match js.stream_info(STREAM).await {
        Err(e) if ApiError::of(&e).is_some_and(|a| a.err_code == ApiError::STREAM_NOT_FOUND) => {
            println!("deleted {STREAM}");
        }
        other => return Err(format!("info after delete: {other:?}").into()),
    }
    client.close().await?;
    println!("ok: stream created, read, purged and deleted");
    Ok(())
}

// ---------------------------------------------------------------------------
// --self-test: a nats-server -js of its own
// ---------------------------------------------------------------------------

/// `$NATS_SERVER`, else the newest `.tools/nats-server-*/bin/nats-server`,
/// else `nats-server` on `PATH`.
fn server_binary() -> PathBuf {
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
struct JsServer {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl JsServer {
    fn start() -> Result<JsServer, String> {
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

type Failure = Box<dyn std::error::Error>;

/// `Err(what)` unless `ok`.
fn check(ok: bool, what: impl Into<String>) -> Result<(), Failure> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

#[actix_rt::main]
async fn main() {
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
    let result = run(&url).await;
    drop(server);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
