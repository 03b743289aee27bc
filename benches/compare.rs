//! nats-actix against async-nats, side by side, in one run against one
//! `nats-server` that the bench starts itself.
//!
//! Run with `cargo bench --bench compare`; see `benches/README.md` for the
//! figures and the environment variables (`BENCH_COUNT`, `BENCH_RUNS`, ...).
//!
//! Both clients run on the same runtime: the current-thread tokio runtime
//! of `actix_rt::System::new().block_on(...)` (async-nats does not need a
//! multi-thread runtime). So each side gets one core for the client, and the
//! server runs in its own process.

use std::future::poll_fn;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use nats_actix::{Client, ConnectOptions, Subject};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const SIZES: [usize; 3] = [16, 128, 1024];
/// A subscriber that sees nothing for this long gives up and counts losses.
const IDLE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

struct Config {
    pub_count: usize,
    pubsub_count: usize,
    req_count: usize,
    runs: usize,
    scenarios: Vec<String>,
    sizes: Vec<usize>,
}

fn env_usize(name: &str) -> Option<usize> {
    let v = std::env::var(name).ok()?;
    let v = v.replace(['_', ','], "");
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v} is not a number"),
    }
}

impl Config {
    fn from_env() -> Config {
        let all = env_usize("BENCH_COUNT");
        let scenarios = std::env::var("BENCH_SCENARIOS")
            .unwrap_or_else(|_| "pub,pubsub,req".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let sizes = match std::env::var("BENCH_SIZES") {
            Ok(s) => s
                .split(',')
                .map(|s| s.trim().parse().expect("BENCH_SIZES: numbers"))
                .collect(),
            Err(_) => SIZES.to_vec(),
        };
        Config {
            pub_count: env_usize("BENCH_PUB_COUNT").or(all).unwrap_or(1_000_000),
            pubsub_count: env_usize("BENCH_PUBSUB_COUNT").or(all).unwrap_or(300_000),
            req_count: env_usize("BENCH_REQ_COUNT").or(all).unwrap_or(20_000),
            runs: env_usize("BENCH_RUNS").unwrap_or(3).max(1),
            scenarios,
            sizes,
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let local =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/nats-server-2.15.1/bin/nats-server");
    if local.is_file() {
        return local;
    }
    PathBuf::from("nats-server")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn start_server() -> Server {
    let bin = server_binary();
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let server = Server {
        child,
        url: format!("127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server
}

fn server_version() -> String {
    Command::new(server_binary())
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------
// nats-actix side
// ---------------------------------------------------------------------------

mod actix_side {
    use super::*;

    async fn connect(url: &str) -> Res<Client> {
        Ok(Client::connect(ConnectOptions::new().server(url)).await?)
    }

    /// N publishes then a flush; returns the elapsed time.
    pub(crate) async fn publish(url: &str, n: usize, payload: Bytes) -> Res<Duration> {
        let client = connect(url).await?;
        let subject = Subject::from("bench.pub");
        client.flush().await?;
        let start = Instant::now();
        for _ in 0..n {
            client.publish(subject.clone(), payload.clone()).await?;
        }
        client.flush().await?;
        let elapsed = start.elapsed();
        client.close().await?;
        Ok(elapsed)
    }

    /// Publishes N on one connection, receives on another; returns
    /// (received, time from the first publish to the last message).
    pub(crate) async fn pubsub(url: &str, n: usize, payload: Bytes) -> Res<(usize, Duration)> {
        let sub_client = connect(url).await?;
        let pub_client = connect(url).await?;
        let mut sub = sub_client.subscribe("bench.pubsub").await?;
        sub_client.flush().await?;
        let receiver = actix_rt::spawn(async move {
            let mut got = 0usize;
            let mut last = Instant::now();
            while got < n {
                match tokio::time::timeout(IDLE, sub.next_msg()).await {
                    Ok(Some(_msg)) => {
                        got += 1;
                        last = Instant::now();
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            (got, last)
        });
        let subject = Subject::from("bench.pubsub");
        let start = Instant::now();
        for _ in 0..n {
            pub_client.publish(subject.clone(), payload.clone()).await?;
        }
        pub_client.flush().await?;
        let (got, last) = receiver.await?;
        pub_client.close().await?;
        sub_client.close().await?;
        Ok((got, last.saturating_duration_since(start)))
    }

    /// Sequential requests to a replier on another connection; returns each
    /// round trip in nanoseconds (after `warmup` unmeasured ones).
    pub(crate) async fn request(
        url: &str,
        n: usize,
        warmup: usize,
        payload: Bytes,
    ) -> Res<Vec<u64>> {
        let replier = connect(url).await?;
        let requester = connect(url).await?;
        let mut svc = replier.subscribe("bench.req").await?;
        replier.flush().await?;
        let responder = actix_rt::spawn(async move {
            while let Some(m) = svc.next_msg().await {
                let payload = m.payload.clone();
                if m.respond(payload).is_err() {
                    break;
                }
            }
        });
        let subject = Subject::from("bench.req");
        let mut lat = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let t = Instant::now();
            let reply = requester.request(subject.clone(), payload.clone()).await?;
            let d = t.elapsed();
            debug_assert_eq!(reply.payload.len(), payload.len());
            if i >= warmup {
                lat.push(d.as_nanos() as u64);
            }
        }
        requester.close().await?;
        replier.close().await?;
        responder.await?;
        Ok(lat)
    }
}

// ---------------------------------------------------------------------------
// async-nats side
// ---------------------------------------------------------------------------

mod async_side {
    use super::*;

    async fn connect(url: &str) -> Res<async_nats::Client> {
        Ok(async_nats::connect(url).await?)
    }

    /// A server round trip, the equivalent of nats-actix's PING/PONG
    /// `flush`: async-nats's own `flush` resolves once its buffer is written
    /// to the socket, not once the server has processed it. A request to a
    /// subject nobody listens on comes back as "no responders" only after
    /// the server has processed everything sent before it on this
    /// connection.
    async fn round_trip(client: &async_nats::Client) -> Res<()> {
        client.flush().await?;
        let subject = format!("bench.sync.{}", client.new_inbox());
        match client.request(subject, Bytes::new()).await {
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => Err("round trip: unexpected reply".into()),
        }
    }

    async fn next(sub: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
        poll_fn(|cx| Pin::new(&mut *sub).poll_next(cx)).await
    }

    pub(crate) async fn publish(url: &str, n: usize, payload: Bytes) -> Res<Duration> {
        let client = connect(url).await?;
        let subject = async_nats::Subject::from("bench.pub");
        round_trip(&client).await?;
        let start = Instant::now();
        for _ in 0..n {
            client.publish(subject.clone(), payload.clone()).await?;
        }
        round_trip(&client).await?;
        let elapsed = start.elapsed();
        drop(client);
        Ok(elapsed)
    }

    pub(crate) async fn pubsub(url: &str, n: usize, payload: Bytes) -> Res<(usize, Duration)> {
        let sub_client = connect(url).await?;
        let pub_client = connect(url).await?;
        let mut sub = sub_client.subscribe("bench.pubsub").await?;
        round_trip(&sub_client).await?;
        let receiver = actix_rt::spawn(async move {
            let mut got = 0usize;
            let mut last = Instant::now();
            while got < n {
                match tokio::time::timeout(IDLE, next(&mut sub)).await {
                    Ok(Some(_msg)) => {
                        got += 1;
                        last = Instant::now();
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            (got, last)
        });
        let subject = async_nats::Subject::from("bench.pubsub");
        let start = Instant::now();
        for _ in 0..n {
            pub_client.publish(subject.clone(), payload.clone()).await?;
        }
        round_trip(&pub_client).await?;
        let (got, last) = receiver.await?;
        drop(pub_client);
        drop(sub_client);
        Ok((got, last.saturating_duration_since(start)))
    }

    pub(crate) async fn request(
        url: &str,
        n: usize,
        warmup: usize,
        payload: Bytes,
    ) -> Res<Vec<u64>> {
        let replier = connect(url).await?;
        let requester = connect(url).await?;
        let mut svc = replier.subscribe("bench.req").await?;
        round_trip(&replier).await?;
        let rc = replier.clone();
        let responder = actix_rt::spawn(async move {
            while let Some(m) = next(&mut svc).await {
                let Some(reply) = m.reply else { continue };
                if rc.publish(reply, m.payload).await.is_err() {
                    break;
                }
            }
        });
        let subject = async_nats::Subject::from("bench.req");
        let mut lat = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let t = Instant::now();
            let reply = requester.request(subject.clone(), payload.clone()).await?;
            let d = t.elapsed();
            debug_assert_eq!(reply.payload.len(), payload.len());
            if i >= warmup {
                lat.push(d.as_nanos() as u64);
            }
        }
        responder.abort();
        drop(requester);
        drop(replier);
        Ok(lat)
    }
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Percentile (nearest rank) of sorted nanoseconds, in microseconds.
fn percentile_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

struct Row {
    scenario: String,
    size: usize,
    unit: &'static str,
    actix: f64,
    async_nats: f64,
    /// Ratio, oriented so that > 1 means nats-actix is better.
    ratio: f64,
    ratio_kind: &'static str,
    lost_actix: usize,
    lost_async: usize,
    count: usize,
}

fn throughput_row(
    scenario: &str,
    size: usize,
    count: usize,
    actix: Vec<f64>,
    async_nats: Vec<f64>,
    lost: (usize, usize),
) -> Row {
    let a = median(actix);
    let b = median(async_nats);
    Row {
        scenario: scenario.into(),
        size,
        unit: "msgs/s",
        actix: a,
        async_nats: b,
        ratio: a / b,
        ratio_kind: "nats-actix/async-nats",
        lost_actix: lost.0,
        lost_async: lost.1,
        count,
    }
}

fn fmt_size(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn fmt_value(v: f64, unit: &str) -> String {
    if unit == "msgs/s" {
        // thousands separators
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{out} msg/s")
    } else {
        format!("{v:.1} µs")
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<14} {:>7} {:>20} {:>20} {:>8}  note",
        "scenario", "size", "nats-actix", "async-nats", "ratio"
    );
    println!("{}", "-".repeat(82));
    for r in rows {
        let mut note = String::new();
        if r.lost_actix > 0 || r.lost_async > 0 {
            note = format!(
                "lost (all runs): actix {}, async-nats {}",
                r.lost_actix, r.lost_async
            );
        }
        println!(
            "{:<14} {:>7} {:>20} {:>20} {:>7.2}x  {}",
            r.scenario,
            fmt_size(r.size),
            fmt_value(r.actix, r.unit),
            fmt_value(r.async_nats, r.unit),
            r.ratio,
            note
        );
    }
    println!();
    println!("ratio: throughput rows = nats-actix / async-nats (msgs/s);");
    println!("       latency rows    = async-nats / nats-actix (µs).");
    println!("       Either way > 1.00 means nats-actix is better.");
    println!();
    for r in rows {
        let json = serde_json::json!({
            "bench": "compare",
            "scenario": r.scenario,
            "size": r.size,
            "unit": r.unit,
            "count": r.count,
            "nats_actix": r.actix,
            "async_nats": r.async_nats,
            "ratio": r.ratio,
            "ratio_kind": r.ratio_kind,
            "lost_nats_actix": r.lost_actix,
            "lost_async_nats": r.lost_async,
        });
        println!("{json}");
    }
}

fn payload(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

async fn run(cfg: &Config, url: &str) -> Res<Vec<Row>> {
    let mut rows = Vec::new();

    if cfg.wants("pub") {
        let n = cfg.pub_count;
        for &size in &cfg.sizes {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for run in 0..cfg.runs {
                let da = actix_side::publish(url, n, payload(size)).await?;
                let db = async_side::publish(url, n, payload(size)).await?;
                a.push(n as f64 / da.as_secs_f64());
                b.push(n as f64 / db.as_secs_f64());
                eprintln!(
                    "pub {size:>5} B run {run}: actix {:>10.0}/s  async-nats {:>10.0}/s",
                    a[run], b[run]
                );
            }
            rows.push(throughput_row("pub", size, n, a, b, (0, 0)));
        }
    }

    if cfg.wants("pubsub") {
        let n = cfg.pubsub_count;
        for &size in &cfg.sizes {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (mut la, mut lb) = (0, 0);
            for run in 0..cfg.runs {
                let (ga, da) = actix_side::pubsub(url, n, payload(size)).await?;
                let (gb, db) = async_side::pubsub(url, n, payload(size)).await?;
                la += n - ga;
                lb += n - gb;
                a.push(ga as f64 / da.as_secs_f64());
                b.push(gb as f64 / db.as_secs_f64());
                eprintln!(
                    "pubsub {size:>5} B run {run}: actix {:>10.0}/s (got {ga})  async-nats {:>10.0}/s (got {gb})",
                    a[run], b[run]
                );
            }
            rows.push(throughput_row("pub->sub", size, n, a, b, (la, lb)));
        }
    }

    if cfg.wants("req") {
        let n = cfg.req_count;
        let warmup = (n / 10).clamp(1, 1000);
        let qs = [("req p50", 0.50), ("req p90", 0.90), ("req p99", 0.99)];
        for &size in &cfg.sizes {
            let mut a: Vec<Vec<f64>> = vec![Vec::new(); qs.len()];
            let mut b: Vec<Vec<f64>> = vec![Vec::new(); qs.len()];
            for run in 0..cfg.runs {
                let mut la = actix_side::request(url, n, warmup, payload(size))
                    .await
                    .map_err(|e| format!("nats-actix request: {e}"))?;
                let mut lb = async_side::request(url, n, warmup, payload(size))
                    .await
                    .map_err(|e| format!("async-nats request: {e}"))?;
                la.sort_unstable();
                lb.sort_unstable();
                for (i, (_, q)) in qs.iter().enumerate() {
                    a[i].push(percentile_us(&la, *q));
                    b[i].push(percentile_us(&lb, *q));
                }
                eprintln!(
                    "req {size:>5} B run {run}: p50 actix {:.1} µs  async-nats {:.1} µs",
                    percentile_us(&la, 0.5),
                    percentile_us(&lb, 0.5)
                );
            }
            for (i, (name, _)) in qs.iter().enumerate() {
                let x = median(std::mem::take(&mut a[i]));
                let y = median(std::mem::take(&mut b[i]));
                rows.push(Row {
                    scenario: (*name).into(),
                    size,
                    unit: "us",
                    actix: x,
                    async_nats: y,
                    ratio: y / x,
                    ratio_kind: "async-nats/nats-actix",
                    lost_actix: 0,
                    lost_async: 0,
                    count: n,
                });
            }
        }
    }
    Ok(rows)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let cfg = Config::from_env();
    let server = start_server();
    eprintln!(
        "compare: {} at {} | pub N={} pubsub N={} req N={} | runs={} (median), interleaved nats-actix, async-nats",
        server_version(),
        server.url,
        cfg.pub_count,
        cfg.pubsub_count,
        cfg.req_count,
        cfg.runs
    );
    let url = server.url.clone();
    let rows = actix_rt::System::new().block_on(async move { run(&cfg, &url).await });
    drop(server);
    match rows {
        Ok(rows) => print_table(&rows),
        Err(e) => {
            eprintln!("compare: failed: {e}");
            std::process::exit(1);
        }
    }
}
