//! An ordered consumer ([`Context::ordered`](nats_actix::jetstream::Context::ordered)):
//! it reads a stream (or a filter of it) from the start, every message
//! exactly once and in order, with no acks. Its consumer belongs to the
//! client, which recreates it after a gap, a reconnect or a loss: here it
//! is deleted halfway through, and the reading goes on where it was.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_ordered            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_ordered -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks the order and prints `ok: ...`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nats_actix::jetstream::{self, StorageType, StreamConfig};
use nats_actix::{Client, ConnectOptions};

const STREAM: &str = "EXAMPLE_ORDERED";

/// The next message, waiting up to `within` for one.
async fn next_within(
    ordered: &mut jetstream::OrderedConsumer,
    within: Duration,
) -> Result<jetstream::JsMsg, Failure> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(m) = ordered.next().await? {
            return Ok(m);
        }
        check(Instant::now() < deadline, "no message in time")?;
    }
}

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(StreamConfig::new(STREAM, ["ticks.>"]).storage(StorageType::Memory))
        .await?;
    for i in 1..=10 {
        let subject = if i % 2 == 0 {
            "ticks.even"
        } else {
            "ticks.odd"
        };
        js.publish(subject, format!("tick {i}")).await?;
    }

    // the whole stream, in order
    let mut all = js.ordered(STREAM, None);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let m = next_within(&mut all, Duration::from_secs(5)).await?;
        let info = m.info()?;
        println!(
            "#{} {}: {}",
            info.stream_seq,
            m.subject(),
            String::from_utf8_lossy(m.payload())
        );
        seen.push(info.stream_seq);
    }

    // its consumer goes away (an operator, a restarted server, ...)
    for name in js.consumer_names(STREAM).await? {
        js.delete_consumer(STREAM, &name).await?;
        println!("deleted consumer {name}");
    }
    for i in 11..=12 {
        js.publish("ticks.odd", format!("tick {i}")).await?;
    }
    while seen.len() < 12 {
        let m = next_within(&mut all, Duration::from_secs(10)).await?;
        let info = m.info()?;
        println!(
            "#{} {}: {}",
            info.stream_seq,
            m.subject(),
            String::from_utf8_lossy(m.payload())
        );
        seen.push(info.stream_seq);
    }
    check(
        seen == (1..=12).collect::<Vec<u64>>(),
        format!("every message once, in order: {seen:?}"),
    )?;
    println!("consumers created: {}", all.created);
    check(all.created >= 2, "the consumer was recreated")?;

    // only a filter of it
    let mut even = js.ordered(STREAM, Some("ticks.even"));
    let mut evens = Vec::new();
    while evens.len() < 5 {
        let m = next_within(&mut even, Duration::from_secs(5)).await?;
        evens.push(m.info()?.stream_seq);
    }
    println!("ticks.even: {evens:?}");
    check(evens == [2, 4, 6, 8, 10], "the even ticks")?;

    js.delete_stream(STREAM).await?;
    client.close().await?;
    println!("ok: 12 messages once each, in order, across a lost consumer");
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
