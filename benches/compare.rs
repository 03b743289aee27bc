//! nats-actix against async-nats and against a raw writer of our own (the
//! ceiling), side by side, in one run against one `nats-server` that the
//! bench starts itself.
//!
//! Run with `cargo bench --bench compare`; see `benches/README.md` for the
//! figures, the targets and the environment variables (`BENCH_COUNT`,
//! `BENCH_RUNS`, `BENCH_SCENARIOS`, ...). Compare latency pinned to one core:
//! `taskset -c 0 cargo bench --bench compare`.
//!
//! All clients run on the same runtime: the current-thread tokio runtime
//! of `actix_rt::System::new().block_on(...)` (async-nats does not need a
//! multi-thread runtime). So each side gets one core for the client, and the
//! server runs in its own process. The memory scenarios (`mem`, `subs`) run
//! in a child process of their own (this binary again), one per client, so
//! that what earlier scenarios allocated does not hide their growth.

use std::fmt::Write as _;
use std::future::poll_fn;
use std::net::{TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use nats_actix::{Client, ConnectOptions, Subject, TlsOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const SIZES: [usize; 3] = [16, 128, 1024];
/// The sizes of `tls-pub` and `tls-pubsub` when `BENCH_SIZES` is not set.
const TLS_SIZES: [usize; 2] = [128, 1024];
const DEFAULT_SCENARIOS: &str = "pub,pubsub,tls-pub,tls-pubsub,req,req64,mem,subs,recovery";
/// A subscriber that sees nothing for this long gives up and counts losses.
const IDLE: Duration = Duration::from_secs(10);
/// The raw writer's write size.
const CHUNK: usize = 64 * 1024;
/// The raw writer's CONNECT.
const CONNECT: &[u8] =
    b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\nPING\r\n";
/// The environment variable that makes this binary a child running one
/// memory scenario (`mem-actix`, `mem-async`, `subs-actix`, `subs-async`).
const CHILD_VAR: &str = "BENCH_CHILD";
const CHILD_URL_VAR: &str = "BENCH_CHILD_URL";

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

struct Config {
    pub_count: usize,
    pubsub_count: usize,
    req_count: usize,
    req64_count: usize,
    inflight: usize,
    mem_count: usize,
    subs_count: usize,
    recovery_runs: usize,
    runs: usize,
    scenarios: Vec<String>,
    sizes: Vec<usize>,
    /// `BENCH_SIZES` if set, else [`TLS_SIZES`].
    tls_sizes: Vec<usize>,
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
            .unwrap_or_else(|_| DEFAULT_SCENARIOS.into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let (sizes, tls_sizes) = match std::env::var("BENCH_SIZES") {
            Ok(s) => {
                let v: Vec<usize> = s
                    .split(',')
                    .map(|s| s.trim().parse().expect("BENCH_SIZES: numbers"))
                    .collect();
                (v.clone(), v)
            }
            Err(_) => (SIZES.to_vec(), TLS_SIZES.to_vec()),
        };
        Config {
            pub_count: env_usize("BENCH_PUB_COUNT").or(all).unwrap_or(1_000_000),
            pubsub_count: env_usize("BENCH_PUBSUB_COUNT").or(all).unwrap_or(300_000),
            req_count: env_usize("BENCH_REQ_COUNT").or(all).unwrap_or(20_000),
            req64_count: env_usize("BENCH_REQ64_COUNT").or(all).unwrap_or(100_000),
            inflight: env_usize("BENCH_INFLIGHT").unwrap_or(64).max(1),
            mem_count: env_usize("BENCH_MEM_COUNT").unwrap_or(10_000_000),
            subs_count: env_usize("BENCH_SUBS_COUNT").unwrap_or(100_000).max(1),
            recovery_runs: env_usize("BENCH_RECOVERY_RUNS").unwrap_or(5).max(1),
            runs: env_usize("BENCH_RUNS").unwrap_or(3).max(1),
            scenarios,
            sizes,
            tls_sizes,
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

// ---------------------------------------------------------------------------
// The process: pinning and resident memory
// ---------------------------------------------------------------------------

/// A field of `/proc/self/status`, e.g. `VmRSS` or `Cpus_allowed_list`.
fn proc_status(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

/// Resident set size in bytes (`VmRSS`), 0 where there is no `/proc`.
fn rss() -> u64 {
    proc_status("VmRSS")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `VmRSS` after letting dropped actors and tasks finish (100 ms) and
/// asking glibc to give free memory back (`malloc_trim`), so that what stays
/// is memory still in use rather than memory the allocator kept.
async fn settled_rss() -> u64 {
    tokio::time::sleep(Duration::from_millis(100)).await;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
    rss()
}

/// The CPUs this process may run on (`Cpus_allowed_list`, e.g. `0` or
/// `0-3,8`) and how many they are.
fn cpus_allowed() -> (String, usize) {
    let Some(list) = proc_status("Cpus_allowed_list") else {
        return ("unknown".into(), 0);
    };
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().unwrap_or(0);
                let b: usize = b.trim().parse().unwrap_or(a);
                b.saturating_sub(a) + 1
            }
            None => 1,
        };
    }
    (list, n)
}

fn pinning() -> String {
    match cpus_allowed() {
        (list, 1) => format!("pinned to one core (Cpus_allowed_list {list})"),
        (list, n) => format!(
            "NOT pinned: {n} cores allowed (Cpus_allowed_list {list}); \
             compare latency with `taskset -c 0 cargo bench --bench compare`"
        ),
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
    let port = free_port();
    let args = ["-a", "127.0.0.1", "-p", &port.to_string()].map(String::from);
    spawn_server(&args, port, format!("127.0.0.1:{port}"))
}

/// Starts `nats-server <args>` and waits until it listens on `port`.
fn spawn_server(args: &[String], port: u16, url: String) -> Server {
    let bin = server_binary();
    let child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let server = Server { child, url };
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
// The TLS server (`tls-pub`, `tls-pubsub`)
// ---------------------------------------------------------------------------

/// The CA that signed the TLS server's certificate, set by
/// [`start_tls_server`]: both clients' `connect` trust it for `tls://` URLs.
static TLS_CA: OnceLock<PathBuf> = OnceLock::new();

fn tls_ca() -> Res<PathBuf> {
    TLS_CA
        .get()
        .cloned()
        .ok_or_else(|| "no TLS server started".into())
}

/// A `nats-server` with a `tls { }` block, and the temp directory of its
/// configuration, key and certificates (removed on drop).
struct TlsServer {
    server: Option<Server>,
    dir: PathBuf,
}

impl TlsServer {
    fn url(&self) -> &str {
        self.server.as_ref().map_or("", |s| s.url.as_str())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        drop(self.server.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate for `localhost` and `127.0.0.1`, made with
/// `rcgen` (as in `tests/support/tls.rs`) and written into `dir` as
/// `ca.pem`, `server-cert.pem`, `server-key.pem`. Returns the CA's path.
fn write_tls_certs(dir: &Path) -> Res<PathBuf> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "nats-actix bench CA");
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    leaf.distinguished_name.push(DnType::CommonName, "server");
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("ca.pem"), ca_pem)?;
    std::fs::write(dir.join("server-cert.pem"), cert.pem())?;
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem())?;
    Ok(dir.join("ca.pem"))
}

/// One `nats-server` on a free port of 127.0.0.1 that requires TLS
/// (`tls { cert_file, key_file }`, no client certificates), with fresh
/// certificates; its URL is `tls://127.0.0.1:<port>`.
fn start_tls_server() -> Res<TlsServer> {
    let dir = std::env::temp_dir().join(format!("nats-actix-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut tls = TlsServer { server: None, dir };
    let ca = write_tls_certs(&tls.dir)?;
    TLS_CA.set(ca).map_err(|_| "TLS server started twice")?;
    let q = |name: &str| {
        let p = tls.dir.join(name).to_string_lossy().into_owned();
        format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\""))
    };
    let port = free_port();
    let conf = tls.dir.join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: \"127.0.0.1:{port}\"\ntls {{\n  cert_file: {}\n  key_file: {}\n  timeout: 2\n}}\n",
            q("server-cert.pem"),
            q("server-key.pem"),
        ),
    )?;
    let args = ["-c".to_string(), conf.to_string_lossy().into_owned()];
    tls.server = Some(spawn_server(&args, port, format!("tls://127.0.0.1:{port}")));
    Ok(tls)
}

// ---------------------------------------------------------------------------
// nats-actix side
// ---------------------------------------------------------------------------

mod actix_side {
    use super::*;

    async fn connect(url: &str) -> Res<Client> {
        let mut opts = ConnectOptions::new().server(url);
        if url.starts_with("tls://") {
            opts = opts.tls(TlsOptions::new().ca_file(tls_ca()?));
        }
        Ok(Client::connect(opts).await?)
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
            // The idle deadline is refreshed every 1024 messages and the
            // clock read once at the end: the harness must not cost more
            // per message than the client under test.
            let mut got = 0usize;
            let mut last = Instant::now();
            let mut deadline = tokio::time::Instant::now() + IDLE;
            while got < n {
                match tokio::time::timeout_at(deadline, sub.next_msg()).await {
                    Ok(Some(_msg)) => {
                        got += 1;
                        if got.is_multiple_of(1024) {
                            last = Instant::now();
                            deadline = tokio::time::Instant::from_std(last) + IDLE;
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            if got == n {
                last = Instant::now();
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

    /// `inflight` tasks, each sending `n / inflight` sequential requests on
    /// one shared connection, against an echo replier on another; returns
    /// (requests answered, elapsed).
    pub(crate) async fn request_concurrent(
        url: &str,
        n: usize,
        inflight: usize,
        payload: Bytes,
    ) -> Res<(usize, Duration)> {
        let replier = connect(url).await?;
        let requester = connect(url).await?;
        let mut svc = replier.subscribe("bench.req64").await?;
        replier.flush().await?;
        let responder = actix_rt::spawn(async move {
            while let Some(m) = svc.next_msg().await {
                let payload = m.payload.clone();
                if m.respond(payload).is_err() {
                    break;
                }
            }
        });
        let subject = Subject::from("bench.req64");
        // Warm-up: the muxer's subscription and the first round trips.
        for _ in 0..inflight {
            requester.request(subject.clone(), payload.clone()).await?;
        }
        let per = n / inflight;
        let start = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|_| {
                let c = requester.clone();
                let subject = subject.clone();
                let payload = payload.clone();
                actix_rt::spawn(async move {
                    for _ in 0..per {
                        c.request(subject.clone(), payload.clone()).await?;
                    }
                    Ok::<_, nats_actix::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let elapsed = start.elapsed();
        requester.close().await?;
        replier.close().await?;
        responder.await?;
        Ok((per * inflight, elapsed))
    }

    /// Publishes N 16-byte messages as fast as possible; samples `VmRSS`
    /// every 100,000 publishes and after the final flush.
    pub(crate) async fn mem(url: &str, n: usize) -> Res<serde_json::Value> {
        let client = connect(url).await?;
        let subject = Subject::from("bench.mem");
        let payload = payload(16);
        client.publish(subject.clone(), payload.clone()).await?;
        client.flush().await?;
        let idle = rss();
        let mut peak = idle;
        let start = Instant::now();
        for i in 1..=n {
            client.publish(subject.clone(), payload.clone()).await?;
            if i % 100_000 == 0 {
                peak = peak.max(rss());
            }
        }
        let published = start.elapsed();
        peak = peak.max(rss());
        client.flush().await?;
        let flushed = start.elapsed();
        let after = rss();
        peak = peak.max(after);
        client.close().await?;
        Ok(serde_json::json!({
            "idle": idle, "peak": peak, "after": after,
            "publish_secs": published.as_secs_f64(), "flush_secs": flushed.as_secs_f64(),
        }))
    }

    /// Creates N subscriptions (`sub.{i}`) on one client and keeps them.
    pub(crate) async fn subs(url: &str, n: usize) -> Res<serde_json::Value> {
        let client = connect(url).await?;
        client.flush().await?;
        let mut subs = Vec::with_capacity(n);
        let before = rss();
        let start = Instant::now();
        for i in 0..n {
            subs.push(client.subscribe(format!("sub.{i}")).await?);
        }
        let created = start.elapsed();
        client.flush().await?;
        let flushed = start.elapsed();
        let after = rss();
        let t = Instant::now();
        drop(subs);
        client.flush().await?;
        let dropped = t.elapsed();
        let after_drop = settled_rss().await;
        client.close().await?;
        Ok(serde_json::json!({
            "before": before, "after": after, "after_drop": after_drop,
            "create_secs": created.as_secs_f64(), "flush_secs": flushed.as_secs_f64(),
            "drop_secs": dropped.as_secs_f64(),
            "handle_bytes": std::mem::size_of::<nats_actix::Subscriber>(),
        }))
    }
}

// ---------------------------------------------------------------------------
// async-nats side
// ---------------------------------------------------------------------------

mod async_side {
    use super::*;

    async fn connect(url: &str) -> Res<async_nats::Client> {
        if url.starts_with("tls://") {
            let opts = async_nats::ConnectOptions::new()
                .add_root_certificates(tls_ca()?)
                .require_tls(true);
            return Ok(opts.connect(url).await?);
        }
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
            // The idle deadline is refreshed every 1024 messages and the
            // clock read once at the end: the harness must not cost more
            // per message than the client under test.
            let mut got = 0usize;
            let mut last = Instant::now();
            let mut deadline = tokio::time::Instant::now() + IDLE;
            while got < n {
                match tokio::time::timeout_at(deadline, next(&mut sub)).await {
                    Ok(Some(_msg)) => {
                        got += 1;
                        if got.is_multiple_of(1024) {
                            last = Instant::now();
                            deadline = tokio::time::Instant::from_std(last) + IDLE;
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            if got == n {
                last = Instant::now();
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

    pub(crate) async fn request_concurrent(
        url: &str,
        n: usize,
        inflight: usize,
        payload: Bytes,
    ) -> Res<(usize, Duration)> {
        let replier = connect(url).await?;
        let requester = connect(url).await?;
        let mut svc = replier.subscribe("bench.req64").await?;
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
        let subject = async_nats::Subject::from("bench.req64");
        for _ in 0..inflight {
            requester.request(subject.clone(), payload.clone()).await?;
        }
        let per = n / inflight;
        let start = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|_| {
                let c = requester.clone();
                let subject = subject.clone();
                let payload = payload.clone();
                actix_rt::spawn(async move {
                    for _ in 0..per {
                        c.request(subject.clone(), payload.clone()).await?;
                    }
                    Ok::<_, async_nats::RequestError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let elapsed = start.elapsed();
        responder.abort();
        drop(requester);
        drop(replier);
        Ok((per * inflight, elapsed))
    }

    pub(crate) async fn mem(url: &str, n: usize) -> Res<serde_json::Value> {
        let client = connect(url).await?;
        let subject = async_nats::Subject::from("bench.mem");
        let payload = payload(16);
        client.publish(subject.clone(), payload.clone()).await?;
        round_trip(&client).await?;
        let idle = rss();
        let mut peak = idle;
        let start = Instant::now();
        for i in 1..=n {
            client.publish(subject.clone(), payload.clone()).await?;
            if i % 100_000 == 0 {
                peak = peak.max(rss());
            }
        }
        let published = start.elapsed();
        peak = peak.max(rss());
        round_trip(&client).await?;
        let flushed = start.elapsed();
        let after = rss();
        peak = peak.max(after);
        drop(client);
        Ok(serde_json::json!({
            "idle": idle, "peak": peak, "after": after,
            "publish_secs": published.as_secs_f64(), "flush_secs": flushed.as_secs_f64(),
        }))
    }

    pub(crate) async fn subs(url: &str, n: usize) -> Res<serde_json::Value> {
        let client = connect(url).await?;
        round_trip(&client).await?;
        let mut subs = Vec::with_capacity(n);
        let before = rss();
        let start = Instant::now();
        for i in 0..n {
            subs.push(client.subscribe(format!("sub.{i}")).await?);
        }
        let created = start.elapsed();
        round_trip(&client).await?;
        let flushed = start.elapsed();
        let after = rss();
        let t = Instant::now();
        drop(subs);
        round_trip(&client).await?;
        let dropped = t.elapsed();
        let after_drop = settled_rss().await;
        drop(client);
        Ok(serde_json::json!({
            "before": before, "after": after, "after_drop": after_drop,
            "create_secs": created.as_secs_f64(), "flush_secs": flushed.as_secs_f64(),
            "drop_secs": dropped.as_secs_f64(),
            "handle_bytes": std::mem::size_of::<async_nats::Subscriber>(),
        }))
    }
}

// ---------------------------------------------------------------------------
// The raw writer: the ceiling
// ---------------------------------------------------------------------------

/// A client of our own that does almost no work per message: pre-encoded
/// frames written 64 KiB at a time, and a parser that only finds control
/// lines and skips payloads by their length.
mod raw_side {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    pub(crate) enum Frame {
        /// The control line (without CRLF) and the payload, as ranges of the
        /// reader's buffer.
        Msg {
            line: Range<usize>,
            payload: Range<usize>,
        },
        Ping,
        Pong,
        Err(String),
        /// INFO, +OK, anything else.
        Other,
    }

    pub(crate) struct Reader {
        rd: OwnedReadHalf,
        pub(crate) buf: Vec<u8>,
        pos: usize,
        len: usize,
    }

    fn parse_len(digits: &[u8]) -> Option<usize> {
        if digits.is_empty() {
            return None;
        }
        let mut n = 0usize;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (d - b'0') as usize;
        }
        Some(n)
    }

    impl Reader {
        fn new(rd: OwnedReadHalf) -> Reader {
            Reader {
                rd,
                buf: vec![0; 256 * 1024],
                pos: 0,
                len: 0,
            }
        }

        /// The next whole frame already in the buffer, if any.
        pub(crate) fn try_frame(&mut self) -> Option<Frame> {
            let start = self.pos;
            let nl = start + memchr::memchr(b'\n', &self.buf[start..self.len])?;
            let end = if nl > start && self.buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &self.buf[start..end];
            if line.starts_with(b"MSG ") {
                let sp = memchr::memrchr(b' ', line)?;
                let size = parse_len(&line[sp + 1..])?;
                let body = nl + 1;
                if self.len < body + size + 2 {
                    return None;
                }
                self.pos = body + size + 2;
                return Some(Frame::Msg {
                    line: start..end,
                    payload: body..body + size,
                });
            }
            self.pos = nl + 1;
            Some(match line {
                b"PING" => Frame::Ping,
                b"PONG" => Frame::Pong,
                l if l.starts_with(b"-ERR") => Frame::Err(String::from_utf8_lossy(l).into()),
                _ => Frame::Other,
            })
        }

        /// Reads more from the socket; keeps a partial frame.
        pub(crate) async fn fill(&mut self) -> Res<()> {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
            }
            if self.len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.rd.read(&mut self.buf[self.len..]).await?;
            if n == 0 {
                return Err("raw: connection closed".into());
            }
            self.len += n;
            Ok(())
        }

        pub(crate) async fn next_frame(&mut self) -> Res<Frame> {
            loop {
                if let Some(f) = self.try_frame() {
                    if let Frame::Err(e) = f {
                        return Err(format!("raw: server said {e}").into());
                    }
                    return Ok(f);
                }
                self.fill().await?;
            }
        }

        pub(crate) async fn wait_pong(&mut self) -> Res<()> {
            loop {
                if let Frame::Pong = self.next_frame().await? {
                    return Ok(());
                }
            }
        }

        /// The reply subject of a MSG control line
        /// (`MSG <subject> <sid> [reply] <size>`).
        pub(crate) fn reply_of(&self, line: Range<usize>) -> Option<&[u8]> {
            let mut it = self.buf[line].split(|&b| b == b' ');
            let tokens: [Option<&[u8]>; 6] = std::array::from_fn(|_| it.next());
            match tokens {
                [_, _, _, Some(reply), Some(_), None] => Some(reply),
                _ => None,
            }
        }
    }

    /// TCP, INFO, CONNECT, PING/PONG.
    pub(crate) async fn connect(url: &str) -> Res<(Reader, OwnedWriteHalf)> {
        let s = tokio::net::TcpStream::connect(url).await?;
        s.set_nodelay(true)?;
        let (r, mut w) = s.into_split();
        let mut rd = Reader::new(r);
        rd.next_frame().await?; // INFO
        w.write_all(CONNECT).await?;
        rd.wait_pong().await?;
        Ok((rd, w))
    }

    /// `PUB subject [reply] len\r\npayload\r\n`.
    fn encode_pub(out: &mut Vec<u8>, subject: &str, reply: Option<&[u8]>, payload: &[u8]) {
        out.extend_from_slice(b"PUB ");
        out.extend_from_slice(subject.as_bytes());
        out.push(b' ');
        if let Some(r) = reply {
            out.extend_from_slice(r);
            out.push(b' ');
        }
        let _ = write!(ByteWriter(out), "{}", payload.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
    }

    struct ByteWriter<'a>(&'a mut Vec<u8>);

    impl std::fmt::Write for ByteWriter<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }

    /// Writes N pre-encoded PUB frames in 64 KiB writes, then PING/PONG.
    async fn write_pubs(
        rd: &mut Reader,
        w: &mut OwnedWriteHalf,
        subject: &str,
        n: usize,
        payload: &[u8],
    ) -> Res<()> {
        let mut frame = Vec::new();
        encode_pub(&mut frame, subject, None, payload);
        let per = (CHUNK / frame.len()).max(1);
        let chunk = frame.repeat(per);
        for _ in 0..n / per {
            w.write_all(&chunk).await?;
            // Let a subscriber on this thread read: the clients yield too
            // (every `publish().await` that finds a full buffer), and a
            // writer that never does only makes the server stall it.
            tokio::task::yield_now().await;
        }
        w.write_all(&chunk[..(n % per) * frame.len()]).await?;
        w.write_all(b"PING\r\n").await?;
        rd.wait_pong().await
    }

    pub(crate) async fn publish(url: &str, n: usize, payload: Bytes) -> Res<Duration> {
        let (mut rd, mut w) = connect(url).await?;
        let start = Instant::now();
        write_pubs(&mut rd, &mut w, "bench.pub", n, &payload).await?;
        Ok(start.elapsed())
    }

    /// Counts N MSG frames (or gives up after `IDLE`); returns the count and
    /// when the last one arrived.
    async fn count_msgs(mut rd: Reader, n: usize) -> (usize, Instant) {
        let mut got = 0usize;
        let mut last = Instant::now();
        'outer: while got < n {
            while let Some(f) = rd.try_frame() {
                if let Frame::Msg { .. } = f {
                    got += 1;
                    if got == n {
                        break;
                    }
                }
            }
            last = Instant::now();
            if got == n {
                break;
            }
            match tokio::time::timeout(IDLE, rd.fill()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break 'outer,
            }
        }
        (got, last)
    }

    pub(crate) async fn pubsub(url: &str, n: usize, payload: Bytes) -> Res<(usize, Duration)> {
        let (mut srd, mut sw) = connect(url).await?;
        sw.write_all(b"SUB bench.pubsub 1\r\nPING\r\n").await?;
        srd.wait_pong().await?;
        let receiver = actix_rt::spawn(count_msgs(srd, n));
        let (mut rd, mut w) = connect(url).await?;
        let start = Instant::now();
        write_pubs(&mut rd, &mut w, "bench.pubsub", n, &payload).await?;
        let (got, last) = receiver.await?;
        drop(sw);
        Ok((got, last.saturating_duration_since(start)))
    }

    /// An echo replier on its own connection: every MSG with a reply
    /// subject is answered with its payload; the answers to all the frames
    /// of one read go out in one write.
    async fn replier(url: &str, subject: &str) -> Res<actix_rt::task::JoinHandle<()>> {
        let (mut rd, mut w) = connect(url).await?;
        w.write_all(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())
            .await?;
        rd.wait_pong().await?;
        Ok(actix_rt::spawn(async move {
            let mut out = Vec::with_capacity(CHUNK);
            loop {
                while let Some(f) = rd.try_frame() {
                    match f {
                        Frame::Msg { line, payload } => {
                            if let Some(reply) = rd.reply_of(line) {
                                let reply = std::str::from_utf8(reply).unwrap_or("");
                                encode_pub(&mut out, reply, None, &rd.buf[payload]);
                            }
                        }
                        Frame::Ping => out.extend_from_slice(b"PONG\r\n"),
                        _ => {}
                    }
                }
                if !out.is_empty() {
                    if w.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
                if rd.fill().await.is_err() {
                    return;
                }
            }
        }))
    }

    /// A requester subscribed to `_INBOX.raw.*`.
    async fn requester(url: &str) -> Res<(Reader, OwnedWriteHalf)> {
        let (mut rd, mut w) = connect(url).await?;
        w.write_all(b"SUB _INBOX.raw.* 1\r\nPING\r\n").await?;
        rd.wait_pong().await?;
        Ok((rd, w))
    }

    async fn next_msg(rd: &mut Reader) -> Res<usize> {
        loop {
            if let Frame::Msg { payload, .. } = rd.next_frame().await? {
                return Ok(payload.len());
            }
        }
    }

    /// Sequential requests against the raw replier: `PUB bench.req
    /// _INBOX.raw.<i> len`, then read until the MSG. Round trips in ns.
    pub(crate) async fn request(
        url: &str,
        n: usize,
        warmup: usize,
        payload: Bytes,
    ) -> Res<Vec<u64>> {
        let svc = replier(url, "bench.req").await?;
        let (mut rd, mut w) = requester(url).await?;
        let mut out = Vec::new();
        let mut reply = String::new();
        let mut lat = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let t = Instant::now();
            out.clear();
            reply.clear();
            let _ = write!(reply, "_INBOX.raw.{i}");
            encode_pub(&mut out, "bench.req", Some(reply.as_bytes()), &payload);
            w.write_all(&out).await?;
            let len = next_msg(&mut rd).await?;
            let d = t.elapsed();
            debug_assert_eq!(len, payload.len());
            if i >= warmup {
                lat.push(d.as_nanos() as u64);
            }
        }
        drop(w);
        svc.abort();
        Ok(lat)
    }

    /// `inflight` requests outstanding on one connection: each reply sends
    /// the next request. Returns (answered, elapsed).
    pub(crate) async fn request_concurrent(
        url: &str,
        n: usize,
        inflight: usize,
        payload: Bytes,
    ) -> Res<(usize, Duration)> {
        let svc = replier(url, "bench.req64").await?;
        let (mut rd, mut w) = requester(url).await?;
        let n = n / inflight * inflight;
        let mut out = Vec::with_capacity(CHUNK);
        let mut reply = String::new();
        let mut sent = 0usize;
        let mut push = |out: &mut Vec<u8>, sent: &mut usize| {
            reply.clear();
            let _ = write!(reply, "_INBOX.raw.{sent}");
            encode_pub(out, "bench.req64", Some(reply.as_bytes()), &payload);
            *sent += 1;
        };
        let start = Instant::now();
        while sent < inflight.min(n) {
            push(&mut out, &mut sent);
        }
        w.write_all(&out).await?;
        out.clear();
        let mut got = 0usize;
        while got < n {
            while let Some(f) = rd.try_frame() {
                if let Frame::Msg { .. } = f {
                    got += 1;
                    if sent < n {
                        push(&mut out, &mut sent);
                    }
                }
            }
            if !out.is_empty() {
                w.write_all(&out).await?;
                out.clear();
            }
            if got < n {
                rd.fill().await?;
            }
        }
        let elapsed = start.elapsed();
        drop(w);
        svc.abort();
        Ok((got, elapsed))
    }
}

// ---------------------------------------------------------------------------
// Recovery: a server restart and a cluster node's death
// ---------------------------------------------------------------------------

/// `recovery`: how long each client takes to get messages flowing again
/// after the server it is connected to dies. See `benches/README.md`.
mod recovery {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::sync::{mpsc, oneshot};

    pub(crate) const SUBJECT: &str = "bench.recovery";
    /// A run whose first message after the fault takes longer than this
    /// counts as a timeout.
    const TIMEOUT: Duration = Duration::from_secs(20);
    /// nats-actix's default `reconnect_time_wait` and `reconnect_jitter`.
    pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(2);
    pub(crate) const JITTER: Duration = Duration::from_millis(100);
    /// The slack of the goal over wait + jitter.
    pub(crate) const SLACK: Duration = Duration::from_millis(50);

    /// A `nats-server` with a configuration file of its own, restartable on
    /// the same ports.
    pub(crate) struct Node {
        conf: PathBuf,
        pub(crate) port: u16,
        http: Option<u16>,
        child: Option<Child>,
    }

    impl Node {
        fn new(dir: &Path, name: &str, port: u16, http: Option<u16>, extra: &str) -> Res<Node> {
            let conf = dir.join(format!("{name}.conf"));
            let mut text = format!("listen: \"127.0.0.1:{port}\"\n");
            if let Some(h) = http {
                let _ = writeln!(text, "http: \"127.0.0.1:{h}\"");
            }
            text.push_str(extra);
            std::fs::write(&conf, text)?;
            Ok(Node {
                conf,
                port,
                http,
                child: None,
            })
        }

        pub(crate) fn url(&self) -> String {
            format!("nats://127.0.0.1:{}", self.port)
        }

        fn spawn(&mut self) -> Res<()> {
            let bin = server_binary();
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&self.conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            self.child = Some(child);
            Ok(())
        }

        /// SIGKILL and reap.
        pub(crate) fn kill(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }

        /// Polls a TCP connect every 0.5 ms; returns when it first succeeds.
        fn wait_accepting(&self, timeout: Duration) -> Res<Instant> {
            let deadline = Instant::now() + timeout;
            loop {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return Ok(Instant::now());
                }
                if Instant::now() > deadline {
                    return Err(format!("nats-server did not listen on {}", self.port).into());
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        }

        pub(crate) fn start(&mut self) -> Res<Instant> {
            self.spawn()?;
            self.wait_accepting(Duration::from_secs(10))
        }

        /// Distinct route peers in `/routez`.
        fn route_peers(&self) -> Option<usize> {
            use std::io::{Read, Write};
            let mut s = TcpStream::connect(("127.0.0.1", self.http?)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(s, "GET /routez HTTP/1.0\r\n\r\n").ok()?;
            let mut resp = Vec::new();
            s.read_to_end(&mut resp).ok()?;
            let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
            let v: serde_json::Value = serde_json::from_slice(&resp[split + 4..]).ok()?;
            let mut peers: Vec<&str> = v["routes"]
                .as_array()?
                .iter()
                .filter_map(|r| r["remote_id"].as_str())
                .collect();
            peers.sort_unstable();
            peers.dedup();
            Some(peers.len())
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// The servers of the scenario and their directory.
    pub(crate) struct Servers {
        dir: PathBuf,
        pub(crate) single: Arc<Mutex<Node>>,
        pub(crate) cluster: Vec<Arc<Mutex<Node>>>,
    }

    impl Drop for Servers {
        fn drop(&mut self) {
            for n in std::iter::once(&self.single).chain(&self.cluster) {
                if let Ok(mut n) = n.lock() {
                    n.kill();
                }
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Distinct free ports (all listeners held at once).
    fn free_ports(n: usize) -> Vec<u16> {
        let ls: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        ls.iter()
            .map(|l| l.local_addr().expect("local addr").port())
            .collect()
    }

    /// One server on a fixed port, and a 3-node cluster with explicit routes.
    pub(crate) fn start_servers() -> Res<Servers> {
        let dir = std::env::temp_dir().join(format!("nats-actix-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let ports = free_ports(10);
        let mut single = Node::new(&dir, "single", ports[0], None, "")?;
        single.start()?;
        let (client, route, http) = (&ports[1..4], &ports[4..7], &ports[7..10]);
        let mut cluster = Vec::new();
        for i in 0..3 {
            let routes: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| format!("\"nats-route://127.0.0.1:{}\"", route[j]))
                .collect();
            let extra = format!(
                "cluster {{\n  name: bench_recovery\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
                route[i],
                routes.join(", ")
            );
            let mut node = Node::new(&dir, &format!("node{i}"), client[i], Some(http[i]), &extra)?;
            node.start()?;
            cluster.push(Arc::new(Mutex::new(node)));
        }
        let servers = Servers {
            dir,
            single: Arc::new(Mutex::new(single)),
            cluster,
        };
        servers.wait_routes()?;
        Ok(servers)
    }

    impl Servers {
        /// Until every node has routes to the two others (10 s).
        pub(crate) fn wait_routes(&self) -> Res<()> {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let ok = self.cluster.iter().all(|n| {
                    n.lock()
                        .ok()
                        .and_then(|n| n.route_peers())
                        .is_some_and(|p| p >= 2)
                });
                if ok {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err("recovery: the cluster did not form within 10 s".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// A subscriber and a publisher (one connection each) of one client:
    /// the arrivals (sequence number, when received) and the counter of
    /// sequence numbers published.
    pub(crate) struct Flow {
        arrivals: mpsc::UnboundedReceiver<(u64, Instant)>,
        seq: Arc<AtomicU64>,
        tasks: Vec<actix_rt::task::JoinHandle<()>>,
        actix: Vec<Client>,
        async_nats: Vec<async_nats::Client>,
    }

    impl Flow {
        pub(crate) async fn stop(self) {
            for t in &self.tasks {
                t.abort();
            }
            for c in self.actix {
                let _ = tokio::time::timeout(Duration::from_secs(2), c.close()).await;
            }
            drop(self.async_nats);
        }
    }

    fn parse_seq(p: &[u8]) -> Option<u64> {
        std::str::from_utf8(p).ok()?.parse().ok()
    }

    /// Publishes 1, 2, 3, ... every 1 ms, ignoring errors.
    fn ticker<F, Fut>(seq: Arc<AtomicU64>, publish: F) -> actix_rt::task::JoinHandle<()>
    where
        F: Fn(Bytes) -> Fut + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let n = seq.fetch_add(1, Ordering::SeqCst) + 1;
                publish(Bytes::from(n.to_string())).await;
            }
        })
    }

    pub(crate) async fn actix_flow(url: &str, wait: Option<Duration>) -> Res<Flow> {
        let opts = || {
            let o = ConnectOptions::new().server(url);
            match wait {
                Some(w) => o.reconnect_time_wait(w),
                None => o,
            }
        };
        let sub_client = Client::connect(opts()).await?;
        let pub_client = Client::connect(opts()).await?;
        let mut sub = sub_client.subscribe(SUBJECT).await?;
        sub_client.flush().await?;
        let (tx, arrivals) = mpsc::unbounded_channel();
        let receiver = actix_rt::spawn(async move {
            while let Some(m) = sub.next_msg().await {
                let t = Instant::now();
                if let Some(s) = parse_seq(&m.payload)
                    && tx.send((s, t)).is_err()
                {
                    break;
                }
            }
        });
        let seq = Arc::new(AtomicU64::new(0));
        let pc = pub_client.clone();
        let subject = Subject::from(SUBJECT);
        let publisher = ticker(seq.clone(), move |p| {
            let pc = pc.clone();
            let subject = subject.clone();
            async move {
                let _ = pc.publish(subject, p).await;
            }
        });
        Ok(Flow {
            arrivals,
            seq,
            tasks: vec![receiver, publisher],
            actix: vec![pub_client, sub_client],
            async_nats: Vec::new(),
        })
    }

    pub(crate) async fn async_flow(url: &str, wait: Option<Duration>) -> Res<Flow> {
        let opts = || {
            let o = async_nats::ConnectOptions::new();
            match wait {
                Some(w) => o.reconnect_delay_callback(move |_| w),
                None => o,
            }
        };
        let sub_client = opts().connect(url).await?;
        let pub_client = opts().connect(url).await?;
        let mut sub = sub_client.subscribe(SUBJECT).await?;
        sub_client.flush().await?;
        let (tx, arrivals) = mpsc::unbounded_channel();
        let receiver = actix_rt::spawn(async move {
            while let Some(m) = poll_fn(|cx| Pin::new(&mut sub).poll_next(cx)).await {
                let t = Instant::now();
                if let Some(s) = parse_seq(&m.payload)
                    && tx.send((s, t)).is_err()
                {
                    break;
                }
            }
        });
        let seq = Arc::new(AtomicU64::new(0));
        let pc = pub_client.clone();
        let publisher = ticker(seq.clone(), move |p| {
            let pc = pc.clone();
            async move {
                let _ = pc.publish(SUBJECT, p).await;
            }
        });
        Ok(Flow {
            arrivals,
            seq,
            tasks: vec![receiver, publisher],
            actix: Vec::new(),
            async_nats: vec![pub_client, sub_client],
        })
    }

    #[derive(Clone, Copy, PartialEq)]
    pub(crate) enum Fault {
        /// SIGKILL the server, start a replacement on the same port; timed
        /// from when the replacement first accepts a TCP connection.
        Restart,
        /// SIGKILL the node the clients are on; timed from the kill.
        NodeDeath,
    }

    /// Waits for messages to flow, injects the fault on a helper thread
    /// (so that the clients keep running meanwhile) and returns the time to
    /// the first message published after the kill, `None` on a timeout.
    pub(crate) async fn measure(
        flow: &mut Flow,
        node: Arc<Mutex<Node>>,
        fault: Fault,
    ) -> Res<Option<Duration>> {
        match tokio::time::timeout(Duration::from_secs(10), flow.arrivals.recv()).await {
            Ok(Some(_)) => {}
            _ => return Err("recovery: no message flowing before the fault".into()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (tx, rx) = oneshot::channel();
        let seq = flow.seq.clone();
        std::thread::spawn(move || {
            let r = (|| -> Res<(Instant, u64, Option<Instant>)> {
                let mut n = node.lock().map_err(|_| "recovery: node lock poisoned")?;
                n.kill();
                let killed = Instant::now();
                // Every sequence number above this one was published after
                // the server was dead.
                let after = seq.load(Ordering::SeqCst);
                let ready = match fault {
                    Fault::Restart => Some(n.start()?),
                    Fault::NodeDeath => None,
                };
                Ok((killed, after, ready))
            })();
            let _ = tx.send(r);
        });
        let (killed, after, ready) = rx.await.map_err(|_| "recovery: fault thread died")??;
        let from = ready.unwrap_or(killed);
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, flow.arrivals.recv()).await {
                Ok(Some((s, t))) if s > after => {
                    return Ok(Some(t.saturating_duration_since(from)));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Ok(None),
            }
        }
    }
}

/// One line of the recovery table: one fault, one option set.
struct RecRow {
    fault: &'static str,
    options: String,
    /// The goal's bound for nats-actix: wait + jitter + 50 ms.
    bound_ms: f64,
    runs: usize,
    /// Times in ms, `INFINITY` for a timeout: nats-actix, async-nats.
    actix: Vec<f64>,
    async_nats: Vec<f64>,
}

impl RecRow {
    fn max(v: &[f64]) -> f64 {
        v.iter().copied().fold(f64::NAN, f64::max)
    }

    /// nats-actix median / async-nats median: < 1 means nats-actix is faster.
    fn ratio(&self) -> f64 {
        median(self.actix.clone()) / median(self.async_nats.clone())
    }

    fn met(&self) -> bool {
        Self::max(&self.actix) <= self.bound_ms
            && median(self.actix.clone()) <= median(self.async_nats.clone())
    }
}

async fn run_recovery(cfg: &Config) -> Res<Vec<RecRow>> {
    use recovery::{Fault, JITTER, SLACK};
    let servers = recovery::start_servers()?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let sets = [
        ("default", None, recovery::DEFAULT_WAIT),
        (
            "wait 100 ms",
            Some(Duration::from_millis(100)),
            Duration::from_millis(100),
        ),
    ];
    let mut rows = Vec::new();
    for fault in [Fault::Restart, Fault::NodeDeath] {
        let (name, node) = match fault {
            Fault::Restart => ("server restart", servers.single.clone()),
            Fault::NodeDeath => ("cluster node death", servers.cluster[0].clone()),
        };
        let url = node.lock().map_err(|_| "node lock")?.url();
        for (label, wait, configured) in sets {
            let mut row = RecRow {
                fault: name,
                options: label.into(),
                bound_ms: ms(configured + JITTER + SLACK),
                runs: cfg.recovery_runs,
                actix: Vec::new(),
                async_nats: Vec::new(),
            };
            for run in 0..cfg.recovery_runs {
                let mut got = [f64::INFINITY; 2];
                for (i, g) in got.iter_mut().enumerate() {
                    let mut flow = if i == 0 {
                        recovery::actix_flow(&url, wait).await?
                    } else {
                        recovery::async_flow(&url, wait).await?
                    };
                    let d = recovery::measure(&mut flow, node.clone(), fault).await?;
                    flow.stop().await;
                    if let Some(d) = d {
                        *g = ms(d);
                    }
                    if fault == Fault::NodeDeath {
                        node.lock().map_err(|_| "node lock")?.start()?;
                        servers.wait_routes()?;
                    }
                }
                eprintln!(
                    "recovery {name}, {label}, run {run}: actix {:.1} ms  async-nats {:.1} ms",
                    got[0], got[1]
                );
                row.actix.push(got[0]);
                row.async_nats.push(got[1]);
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

fn print_recovery(rows: &[RecRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "recovery: time to the first message published after the kill (restart: from when the \
         replacement accepts TCP; node death: from the kill), median and max of {} runs",
        rows[0].runs
    );
    println!();
    println!(
        "{:<19} {:<12} {:>20} {:>20} {:>11}  {:<36} {:<4}",
        "scenario",
        "options",
        "nats-actix med/max",
        "async-nats med/max",
        "actix/async",
        "goal",
        "met"
    );
    println!("{}", "-".repeat(130));
    let mm = |v: &[f64]| format!("{:.1} / {:.1} ms", median(v.to_vec()), RecRow::max(v));
    for r in rows {
        println!(
            "{:<19} {:<12} {:>20} {:>20} {:>11}  {:<36} {:<4}",
            r.fault,
            r.options,
            mm(&r.actix),
            mm(&r.async_nats),
            format!("{:.2}", r.ratio()),
            format!("max <= {:.0} ms, median <= async-nats", r.bound_ms),
            if r.met() { "yes" } else { "NO" }
        );
    }
    println!();
    println!(
        "actix/async: nats-actix median / async-nats median; < 1.00 means nats-actix is faster."
    );
    println!();
    for r in rows {
        let json = serde_json::json!({
            "bench": "compare",
            "scenario": "recovery",
            "fault": r.fault,
            "options": r.options,
            "unit": "ms",
            "runs": r.runs,
            "nats_actix": r.actix,
            "async_nats": r.async_nats,
            "nats_actix_median": median(r.actix.clone()),
            "nats_actix_max": RecRow::max(&r.actix),
            "async_nats_median": median(r.async_nats.clone()),
            "async_nats_max": RecRow::max(&r.async_nats),
            "ratio": r.ratio(),
            "ratio_kind": "nats-actix/async-nats (median)",
            "target": format!("max <= {:.0} ms, median <= async-nats", r.bound_ms),
            "target_met": r.met(),
        });
        println!("{json}");
    }
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
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

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// msgs/s or requests/s: higher is better.
    Rate,
    /// µs: lower is better.
    Micros,
    /// MiB: lower is better.
    MiB,
    /// seconds: lower is better.
    Secs,
    /// bytes: lower is better.
    Bytes,
    /// MB/s (10^6 bytes): higher is better.
    MBps,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Rate => "msgs/s",
            Unit::Micros => "us",
            Unit::MiB => "MiB",
            Unit::Secs => "s",
            Unit::Bytes => "B",
            Unit::MBps => "MB/s",
        }
    }
}

/// What a row is checked against.
#[derive(Clone, Copy)]
enum Goal {
    /// nats-actix / raw >= x (and, for pub->sub, 0 lost).
    FracAtLeast(f64),
    /// nats-actix / raw <= x.
    FracAtMost(f64),
    /// nats-actix / async-nats >= x.
    RatioAtLeast(f64),
    /// nats-actix's own value <= x.
    ValueAtMost(f64),
    /// nats-actix's own value < x.
    ValueBelow(f64),
}

struct Row {
    scenario: String,
    size: Option<usize>,
    unit: Unit,
    count: usize,
    actix: f64,
    async_nats: Option<f64>,
    raw: Option<f64>,
    /// Messages lost, summed over the runs: nats-actix, async-nats, raw.
    lost: Option<[usize; 3]>,
    goal: Option<Goal>,
    note: String,
}

impl Row {
    fn new(scenario: &str, size: Option<usize>, unit: Unit, count: usize, actix: f64) -> Row {
        Row {
            scenario: scenario.into(),
            size,
            unit,
            count,
            actix,
            async_nats: None,
            raw: None,
            lost: None,
            goal: None,
            note: String::new(),
        }
    }

    /// client / raw ceiling.
    fn frac(&self, v: f64) -> Option<f64> {
        self.raw.map(|r| v / r)
    }

    /// Oriented so that > 1 means nats-actix is better: nats-actix /
    /// async-nats for rates, async-nats / nats-actix for the rest.
    fn ratio(&self) -> Option<f64> {
        let b = self.async_nats?;
        Some(if matches!(self.unit, Unit::Rate | Unit::MBps) {
            self.actix / b
        } else {
            b / self.actix
        })
    }

    fn ratio_kind(&self) -> &'static str {
        if matches!(self.unit, Unit::Rate | Unit::MBps) {
            "nats-actix/async-nats"
        } else {
            "async-nats/nats-actix"
        }
    }

    fn target(&self) -> Option<(String, bool)> {
        let lost_ok = self.lost.is_none_or(|l| l[0] == 0);
        let lost_txt = if self.lost.is_some() { ", 0 lost" } else { "" };
        Some(match self.goal? {
            Goal::FracAtLeast(x) => (
                format!("actix/raw >= {x:.2}{lost_txt}"),
                self.frac(self.actix).is_some_and(|f| f >= x) && lost_ok,
            ),
            Goal::FracAtMost(x) => (
                format!("actix/raw <= {x:.2}"),
                self.frac(self.actix).is_some_and(|f| f <= x),
            ),
            Goal::RatioAtLeast(x) => (
                format!("actix/async >= {x:.2}{lost_txt}"),
                self.ratio().is_some_and(|r| r >= x) && lost_ok,
            ),
            Goal::ValueAtMost(x) => (
                format!("actix <= {}", fmt_value(x, self.unit)),
                self.actix <= x,
            ),
            Goal::ValueBelow(x) => (
                format!("actix < {}", fmt_value(x, self.unit)),
                self.actix < x,
            ),
        })
    }
}

fn fmt_size(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && c != '-' && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Rate => format!("{} msg/s", thousands(v)),
        Unit::Micros => format!("{v:.1} µs"),
        Unit::MiB => format!("{v:.1} MiB"),
        Unit::Secs => format!("{v:.3} s"),
        Unit::Bytes => format!("{} B", thousands(v)),
        Unit::MBps => format!("{v:.0} MB/s"),
    }
}

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

fn print_table(rows: &[Row], header: &str) {
    println!();
    println!("{header}");
    println!("{}", pinning());
    println!();
    println!(
        "{:<13} {:>6} {:>18} {:>18} {:>18} {:>9} {:>9} {:>8}  {:<27} {:<4} note",
        "scenario",
        "size",
        "nats-actix",
        "async-nats",
        "raw (ceiling)",
        "actix/raw",
        "async/raw",
        "ratio",
        "target",
        "met"
    );
    println!("{}", "-".repeat(150));
    for r in rows {
        let mut note = r.note.clone();
        if let Some([a, b, c]) = r.lost {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let _ = write!(note, "lost: actix {a}, async-nats {b}");
            if r.raw.is_some() {
                let _ = write!(note, ", raw {c}");
            }
        }
        let (target, met) = match r.target() {
            Some((t, true)) => (t, "yes"),
            Some((t, false)) => (t, "NO"),
            None => (String::new(), ""),
        };
        println!(
            "{:<13} {:>6} {:>18} {:>18} {:>18} {:>9} {:>9} {:>8}  {:<27} {:<4} {}",
            r.scenario,
            r.size.map(fmt_size).unwrap_or_default(),
            fmt_value(r.actix, r.unit),
            fmt_opt(r.async_nats, |v| fmt_value(v, r.unit)),
            fmt_opt(r.raw, |v| fmt_value(v, r.unit)),
            fmt_opt(r.frac(r.actix), |f| format!("{f:.2}")),
            fmt_opt(r.async_nats.and_then(|b| r.frac(b)), |f| format!("{f:.2}")),
            fmt_opt(r.ratio(), |f| format!("{f:.2}x")),
            target,
            met,
            note
        );
    }
    println!();
    println!(
        "actix/raw, async/raw: the client's figure / the raw writer's (the ceiling), same run."
    );
    println!(
        "ratio: rates = nats-actix / async-nats; latency, memory, time = async-nats / nats-actix."
    );
    println!("       Either way > 1.00 means nats-actix is better.");
    println!();
    for r in rows {
        let target = r.target();
        let json = serde_json::json!({
            "bench": "compare",
            "scenario": r.scenario,
            "size": r.size,
            "unit": r.unit.name(),
            "count": r.count,
            "nats_actix": r.actix,
            "async_nats": r.async_nats,
            "raw": r.raw,
            "frac_nats_actix": r.frac(r.actix),
            "frac_async_nats": r.async_nats.and_then(|b| r.frac(b)),
            "ratio": r.ratio(),
            "ratio_kind": r.async_nats.map(|_| r.ratio_kind()),
            "lost_nats_actix": r.lost.map(|l| l[0]),
            "lost_async_nats": r.lost.map(|l| l[1]),
            "lost_raw": r.lost.filter(|_| r.raw.is_some()).map(|l| l[2]),
            "target": target.as_ref().map(|t| t.0.clone()),
            "target_met": target.map(|t| t.1),
            "pinned": cpus_allowed().1 == 1,
        });
        println!("{json}");
    }
}

// ---------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------

fn svg_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_rate_short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

/// `benches/throughput.svg`: msgs/s against payload size, one panel per
/// scenario (`pub`, `pub->sub`), one line per client.
fn write_svg(rows: &[Row], subtitle: &str) -> std::io::Result<Option<PathBuf>> {
    let panels: Vec<(&str, &str)> = [("pub", "publish-only"), ("pub->sub", "pub → sub")]
        .into_iter()
        .filter(|(s, _)| rows.iter().any(|r| r.scenario == *s))
        .collect();
    if panels.is_empty() {
        return Ok(None);
    }
    let clients: [(&str, &str, &str); 3] = [
        ("nats-actix", "#d62728", ""),
        ("async-nats", "#1f77b4", ""),
        ("raw (ceiling)", "#2ca02c", " stroke-dasharray=\"6 4\""),
    ];
    let (pw, ph) = (460.0, 340.0);
    let (ml, mr, mt, mb) = (70.0, 20.0, 40.0, 50.0);
    let width = pw * panels.len() as f64 + 20.0;
    let height = ph + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"{}\" font-weight=\"bold\">\
         Throughput against payload size (nats-server, one run, medians)</text>\n\
         <text x=\"{}\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
        width / 2.0,
        // one panel is too narrow for the title at 16
        if panels.len() > 1 { 16 } else { 12 },
        width / 2.0,
        svg_escape(subtitle)
    );
    for (pi, (scenario, title)) in panels.iter().enumerate() {
        let mut pts: Vec<&Row> = rows.iter().filter(|r| r.scenario == *scenario).collect();
        pts.sort_by_key(|r| r.size);
        let ymax = nice_max(
            pts.iter()
                .flat_map(|r| [Some(r.actix), r.async_nats, r.raw])
                .flatten()
                .fold(0.0, f64::max),
        );
        let x0 = 10.0 + pw * pi as f64 + ml;
        let y0 = 50.0 + mt;
        let (w, h) = (pw - ml - mr, ph - mt - mb);
        // log2 of the size on x
        let lx: Vec<f64> = pts
            .iter()
            .map(|r| (r.size.unwrap_or(1) as f64).log2())
            .collect();
        let (lmin, lmax) = lx
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let span = if lmax > lmin { lmax - lmin } else { 1.0 };
        let px = |l: f64| x0 + 20.0 + (l - lmin) / span * (w - 40.0);
        let py = |v: f64| y0 + h - v / ymax * h;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>",
            x0 + w / 2.0,
            y0 - 12.0,
            svg_escape(title)
        );
        // grid and y ticks
        for i in 0..=5 {
            let v = ymax * i as f64 / 5.0;
            let y = py(v);
            let _ = writeln!(
                s,
                "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                x0 + w,
                x0 - 6.0,
                y + 4.0,
                fmt_rate_short(v)
            );
        }
        // axes
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <line x1=\"{x0}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">payload size (log scale)</text>\n\
             <text transform=\"translate({:.1},{:.1}) rotate(-90)\" text-anchor=\"middle\">msgs/s</text>",
            y0 + h,
            y0 + h,
            x0 + w,
            y0 + h,
            x0 + w / 2.0,
            y0 + h + 38.0,
            x0 - 52.0,
            y0 + h / 2.0
        );
        for (r, &l) in pts.iter().zip(&lx) {
            let x = px(l);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y0 + h,
                y0 + h + 5.0,
                y0 + h + 18.0,
                fmt_size(r.size.unwrap_or(0))
            );
        }
        // one polyline + points per client
        for (ci, (name, color, dash)) in clients.iter().enumerate() {
            let vals: Vec<(f64, f64)> = pts
                .iter()
                .zip(&lx)
                .filter_map(|(r, &l)| {
                    let v = match ci {
                        0 => Some(r.actix),
                        1 => r.async_nats,
                        _ => r.raw,
                    }?;
                    Some((px(l), py(v)))
                })
                .collect();
            if vals.is_empty() {
                continue;
            }
            let points: Vec<String> = vals.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"><title>{name}</title></polyline>",
                points.join(" ")
            );
            for (x, y) in &vals {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{color}\"/>"
                );
            }
        }
        // legend, top right of the panel
        for (ci, (name, color, dash)) in clients.iter().enumerate() {
            let lx0 = x0 + w - 130.0;
            let ly = y0 + 12.0 + 18.0 * ci as f64;
            let _ = writeln!(
                s,
                "<line x1=\"{lx0:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n\
                 <circle cx=\"{:.1}\" cy=\"{ly:.1}\" r=\"3.5\" fill=\"{color}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                lx0 + 28.0,
                lx0 + 14.0,
                lx0 + 34.0,
                ly + 4.0,
                svg_escape(name)
            );
        }
    }
    s.push_str("</svg>\n");
    // A narrowed run (BENCH_SCENARIOS or BENCH_SIZES set) must not replace
    // the committed chart: it goes to target/ instead.
    let narrowed =
        std::env::var_os("BENCH_SCENARIOS").is_some() || std::env::var_os("BENCH_SIZES").is_some();
    let path = if narrowed {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/throughput-partial.svg")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/throughput.svg")
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, s)?;
    Ok(Some(path))
}

// ---------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------

fn payload(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

fn throughput_row(
    scenario: &str,
    size: usize,
    count: usize,
    v: [Vec<f64>; 3],
    goal: Option<Goal>,
) -> Row {
    let [a, b, c] = v;
    let mut row = Row::new(scenario, Some(size), Unit::Rate, count, median(a));
    row.async_nats = Some(median(b));
    row.raw = Some(median(c));
    row.goal = goal;
    row
}

/// The publish-only and pub->sub targets, as fractions of the raw writer.
fn pub_goal(_size: usize) -> Goal {
    Goal::FracAtLeast(0.9)
}

fn pubsub_goal(size: usize) -> Goal {
    Goal::FracAtLeast(if size <= 16 { 0.85 } else { 0.95 })
}

/// The `pub` scenario (`tls pub` without the raw writer, which speaks
/// plain TCP only, and with the goal nats-actix / async-nats >= 1.2).
async fn pub_rows(
    cfg: &Config,
    url: &str,
    sizes: &[usize],
    name: &str,
    raw: bool,
) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    let n = cfg.pub_count;
    for &size in sizes {
        let mut v: [Vec<f64>; 3] = Default::default();
        for run in 0..cfg.runs {
            let da = actix_side::publish(url, n, payload(size)).await?;
            let db = async_side::publish(url, n, payload(size)).await?;
            v[0].push(n as f64 / da.as_secs_f64());
            v[1].push(n as f64 / db.as_secs_f64());
            let mut line = format!(
                "{name} {size:>5} B run {run}: actix {:>10.0}/s  async-nats {:>10.0}/s",
                v[0][run], v[1][run]
            );
            if raw {
                let dr = raw_side::publish(url, n, payload(size)).await?;
                v[2].push(n as f64 / dr.as_secs_f64());
                let _ = write!(line, "  raw {:>10.0}/s", v[2][run]);
            }
            eprintln!("{line}");
        }
        let goal = if raw {
            pub_goal(size)
        } else {
            Goal::RatioAtLeast(1.2)
        };
        let mut row = throughput_row(name, size, n, v, Some(goal));
        if !raw {
            row.raw = None;
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The `pubsub` scenario (`tls pub->sub`: see [`pub_rows`]).
async fn pubsub_rows(
    cfg: &Config,
    url: &str,
    sizes: &[usize],
    name: &str,
    raw: bool,
) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    let n = cfg.pubsub_count;
    for &size in sizes {
        let mut v: [Vec<f64>; 3] = Default::default();
        let mut lost = [0usize; 3];
        for run in 0..cfg.runs {
            let ra = actix_side::pubsub(url, n, payload(size)).await?;
            let rb = async_side::pubsub(url, n, payload(size)).await?;
            for (i, (got, d)) in [ra, rb].into_iter().enumerate() {
                lost[i] += n - got;
                v[i].push(got as f64 / d.as_secs_f64());
            }
            let mut line = format!(
                "{name} {size:>5} B run {run}: actix {:>10.0}/s (got {})  async-nats {:>10.0}/s (got {})",
                v[0][run], ra.0, v[1][run], rb.0
            );
            if raw {
                let (got, d) = raw_side::pubsub(url, n, payload(size)).await?;
                lost[2] += n - got;
                v[2].push(got as f64 / d.as_secs_f64());
                let _ = write!(line, "  raw {:>10.0}/s (got {got})", v[2][run]);
            }
            eprintln!("{line}");
        }
        let goal = if raw {
            pubsub_goal(size)
        } else {
            Goal::RatioAtLeast(1.2)
        };
        let mut row = throughput_row(name, size, n, v, Some(goal));
        if !raw {
            row.raw = None;
        }
        row.lost = Some(lost);
        rows.push(row);
    }
    Ok(rows)
}

async fn run(cfg: &Config, url: &str) -> Res<Vec<Row>> {
    let mut rows = Vec::new();

    if cfg.wants("pub") {
        rows.extend(pub_rows(cfg, url, &cfg.sizes, "pub", true).await?);
    }
    if cfg.wants("pubsub") {
        rows.extend(pubsub_rows(cfg, url, &cfg.sizes, "pub->sub", true).await?);
    }
    if cfg.wants("tls-pub") || cfg.wants("tls-pubsub") {
        let tls = start_tls_server()?;
        eprintln!("TLS server at {}", tls.url());
        if cfg.wants("tls-pub") {
            rows.extend(pub_rows(cfg, tls.url(), &cfg.tls_sizes, "tls pub", false).await?);
        }
        if cfg.wants("tls-pubsub") {
            let r = pubsub_rows(cfg, tls.url(), &cfg.tls_sizes, "tls pub->sub", false).await?;
            rows.extend(r);
        }
    }

    if cfg.wants("req") {
        let n = cfg.req_count;
        let warmup = (n / 10).clamp(1, 1000);
        let qs = [("req p50", 0.50), ("req p90", 0.90), ("req p99", 0.99)];
        for &size in &cfg.sizes {
            // [quantile][client][run]
            let mut v: Vec<[Vec<f64>; 3]> = (0..qs.len()).map(|_| Default::default()).collect();
            for run in 0..cfg.runs {
                let la = actix_side::request(url, n, warmup, payload(size))
                    .await
                    .map_err(|e| format!("nats-actix request: {e}"))?;
                let lb = async_side::request(url, n, warmup, payload(size))
                    .await
                    .map_err(|e| format!("async-nats request: {e}"))?;
                let lr = raw_side::request(url, n, warmup, payload(size))
                    .await
                    .map_err(|e| format!("raw request: {e}"))?;
                for (c, mut l) in [la, lb, lr].into_iter().enumerate() {
                    l.sort_unstable();
                    for (i, (_, q)) in qs.iter().enumerate() {
                        v[i][c].push(percentile_us(&l, *q));
                    }
                }
                eprintln!(
                    "req {size:>5} B run {run}: p50 actix {:.1} µs  async-nats {:.1} µs  raw {:.1} µs",
                    v[0][0][run], v[0][1][run], v[0][2][run]
                );
            }
            for (i, (name, _)) in qs.iter().enumerate() {
                let [a, b, c] = std::mem::take(&mut v[i]);
                let mut row = Row::new(name, Some(size), Unit::Micros, n, median(a));
                row.async_nats = Some(median(b));
                row.raw = Some(median(c));
                if i == 0 {
                    row.goal = Some(Goal::FracAtMost(1.1));
                }
                rows.push(row);
            }
        }
    }

    if cfg.wants("req64") {
        let k = cfg.inflight;
        let n = (cfg.req64_count / k).max(1) * k;
        let name = format!("req{k} rate");
        for &size in &cfg.sizes {
            let mut v: [Vec<f64>; 3] = Default::default();
            for run in 0..cfg.runs {
                let ra = actix_side::request_concurrent(url, n, k, payload(size))
                    .await
                    .map_err(|e| format!("nats-actix request x{k}: {e}"))?;
                let rb = async_side::request_concurrent(url, n, k, payload(size))
                    .await
                    .map_err(|e| format!("async-nats request x{k}: {e}"))?;
                let rr = raw_side::request_concurrent(url, n, k, payload(size))
                    .await
                    .map_err(|e| format!("raw request x{k}: {e}"))?;
                for (i, (got, d)) in [ra, rb, rr].into_iter().enumerate() {
                    v[i].push(got as f64 / d.as_secs_f64());
                }
                eprintln!(
                    "req x{k} {size:>5} B run {run}: actix {:>9.0}/s  async-nats {:>9.0}/s  raw {:>9.0}/s",
                    v[0][run], v[1][run], v[2][run]
                );
            }
            rows.push(throughput_row(
                &name,
                size,
                n,
                v,
                Some(Goal::RatioAtLeast(1.2)),
            ));
        }
    }
    Ok(rows)
}

/// Runs one memory scenario in a child process (this binary again) and
/// returns the JSON object it prints.
fn child(kind: &str, url: &str, cfg: &Config) -> Res<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .env(CHILD_VAR, kind)
        .env(CHILD_URL_VAR, url)
        .env("BENCH_MEM_COUNT", cfg.mem_count.to_string())
        .env("BENCH_SUBS_COUNT", cfg.subs_count.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("child {kind} failed: {}", out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().ok_or("child printed nothing")?;
    Ok(serde_json::from_str(line)?)
}

/// The child's side of [`child`].
fn child_main(kind: &str) {
    let cfg = Config::from_env();
    let url = std::env::var(CHILD_URL_VAR).expect("BENCH_CHILD_URL");
    let res = actix_rt::System::new().block_on(async move {
        match kind {
            "mem-actix" => actix_side::mem(&url, cfg.mem_count).await,
            "mem-async" => async_side::mem(&url, cfg.mem_count).await,
            "subs-actix" => actix_side::subs(&url, cfg.subs_count).await,
            "subs-async" => async_side::subs(&url, cfg.subs_count).await,
            _ => Err(format!("unknown {CHILD_VAR}={kind}").into()),
        }
    });
    match res {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("compare child {kind}: {e}");
            std::process::exit(1);
        }
    }
}

fn mem_rows(cfg: &Config, url: &str) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    const MIB: f64 = 1024.0 * 1024.0;
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    if cfg.wants("mem") {
        let n = cfg.mem_count;
        let a = child("mem-actix", url, cfg)?;
        let b = child("mem-async", url, cfg)?;
        eprintln!("mem: actix {a}\nmem: async-nats {b}");
        let over = |v: &serde_json::Value| (f(v, "peak") - f(v, "idle")) / MIB;
        let mut row = Row::new("mem peak", Some(16), Unit::MiB, n, over(&a));
        row.async_nats = Some(over(&b));
        row.goal = Some(Goal::ValueAtMost(64.0));
        row.note = format!(
            "peak VmRSS over idle; idle actix {:.1} MiB, async-nats {:.1} MiB; \
             after flush actix +{:.1} MiB, async-nats +{:.1} MiB",
            f(&a, "idle") / MIB,
            f(&b, "idle") / MIB,
            (f(&a, "after") - f(&a, "idle")) / MIB,
            (f(&b, "after") - f(&b, "idle")) / MIB,
        );
        rows.push(row);
        let rate = |v: &serde_json::Value| n as f64 / f(v, "flush_secs");
        let mut row = Row::new("mem rate", Some(16), Unit::Rate, n, rate(&a));
        row.async_nats = Some(rate(&b));
        row.note = "publish rate over the memory run (N publishes + final round trip)".into();
        rows.push(row);
    }
    if cfg.wants("subs") {
        let n = cfg.subs_count;
        let a = child("subs-actix", url, cfg)?;
        let b = child("subs-async", url, cfg)?;
        eprintln!("subs: actix {a}\nsubs: async-nats {b}");
        let mut row = Row::new("subs create", None, Unit::Secs, n, f(&a, "create_secs"));
        row.async_nats = Some(f(&b, "create_secs"));
        row.goal = Some(Goal::ValueBelow(2.0));
        row.note = format!(
            "{n} subscribe calls; with the round trip after: actix {:.3} s, async-nats {:.3} s; \
             drop all + round trip: actix {:.3} s, async-nats {:.3} s",
            f(&a, "flush_secs"),
            f(&b, "flush_secs"),
            f(&a, "drop_secs"),
            f(&b, "drop_secs"),
        );
        rows.push(row);
        let each = |v: &serde_json::Value| (f(v, "after") - f(v, "before")) / n as f64;
        let mut row = Row::new("subs idle", None, Unit::Bytes, n, each(&a));
        row.async_nats = Some(each(&b));
        row.goal = Some(Goal::ValueAtMost(1024.0));
        row.note = format!(
            "(VmRSS after - before) / {n}, handle in the Vec: actix {} B, async-nats {} B; \
             after drop + 100 ms + malloc_trim: actix +{:.1} MiB, async-nats +{:.1} MiB over before",
            f(&a, "handle_bytes"),
            f(&b, "handle_bytes"),
            (f(&a, "after_drop") - f(&a, "before")) / MIB,
            (f(&b, "after_drop") - f(&b, "before")) / MIB,
        );
        rows.push(row);
    }
    Ok(rows)
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD_VAR) {
        child_main(&kind);
        return;
    }
    // `cargo bench` passes `--bench`; ignore arguments.
    let cfg = Config::from_env();
    let server = start_server();
    let header = format!(
        "compare: {} at {} | pub N={} pubsub N={} req N={} req{} N={} mem N={} subs N={} | \
         recovery runs={} | runs={} (median), interleaved nats-actix, async-nats, raw",
        server_version(),
        server.url,
        cfg.pub_count,
        cfg.pubsub_count,
        cfg.req_count,
        cfg.inflight,
        cfg.req64_count,
        cfg.mem_count,
        cfg.subs_count,
        cfg.recovery_runs,
        cfg.runs
    );
    eprintln!("{header}");
    eprintln!("{}", pinning());
    let url = server.url.clone();
    let system = actix_rt::System::new();
    let rows = system.block_on(async { run(&cfg, &url).await });
    let rows = rows.and_then(|mut rows| {
        rows.extend(mem_rows(&cfg, &url)?);
        Ok(rows)
    });
    drop(server);
    // The JetStream scenarios start a `-js` server of their own.
    let rows = rows.and_then(|mut rows| {
        rows.extend(system.block_on(run_js(&cfg))?);
        rows.extend(system.block_on(object::run(&cfg))?);
        Ok(rows)
    });
    let rows = rows.and_then(|mut rows| {
        rows.extend(system.block_on(kv::run(&cfg))?);
        Ok(rows)
    });
    let rows = rows.and_then(|mut rows| {
        rows.extend(system.block_on(service::run_svc(&cfg))?);
        Ok(rows)
    });
    // The recovery scenario starts servers of its own (one on a fixed port,
    // a 3-node cluster).
    let rows = rows.and_then(|rows| {
        let rec = if cfg.wants("recovery") {
            system.block_on(run_recovery(&cfg))?
        } else {
            Vec::new()
        };
        Ok((rows, rec))
    });
    match rows {
        Ok((rows, rec)) => {
            if rows.is_empty() {
                println!("\n{header}\n{}", pinning());
            } else {
                print_table(&rows, &header);
            }
            print_recovery(&rec);
            if !rows.is_empty() {
                let subtitle = format!("{} | {}", server_version(), pinning_short());
                match write_svg(&rows, &subtitle) {
                    Ok(Some(p)) => println!("\nchart: {}", p.display()),
                    Ok(None) => {}
                    Err(e) => eprintln!("compare: cannot write the chart: {e}"),
                }
            }
        }
        Err(e) => {
            eprintln!("compare: failed: {e}");
            std::process::exit(1);
        }
    }
}

#[path = "compare/kv.rs"]
mod kv;
#[path = "compare/object.rs"]
mod object;

fn pinning_short() -> String {
    match cpus_allowed() {
        (list, 1) => format!("pinned (cpu {list})"),
        (list, _) => format!("not pinned (cpus {list})"),
    }
}

/// The Service API scenario `svc` (`benches/compare/service.rs`).
#[path = "compare/service.rs"]
mod service;

// ---------------------------------------------------------------------------
// JetStream: `js-pub` and `js-consume`
// ---------------------------------------------------------------------------

/// The JetStream scenarios (`js-pub`, `js-consume`): nats-actix against
/// async-nats on a server of their own started with `-js -sd <tempdir>`.
/// There is no raw ceiling for these. See `benches/README.md`.
mod js_bench {
    use super::*;
    use std::collections::VecDeque;

    use async_nats::jetstream as ajs;
    use nats_actix::jetstream::{
        ConsumeOptions, ConsumerConfig, Context, FetchOptions, PubAckFuture, PublishOptions,
        StorageType, StreamConfig, WhenFull,
    };

    /// Acks in flight in `js-pub`, for both clients.
    pub(crate) const WINDOW: usize = 256;
    /// Messages per pull in `js-consume`, for both clients.
    pub(crate) const BATCH: usize = 256;
    /// The payload of `js-consume`.
    pub(crate) const CONSUME_SIZE: usize = 1024;
    pub(crate) const PUB_STREAM: &str = "BENCHPUB";
    pub(crate) const PUB_SUBJECT: &str = "bench.js.pub";
    const CONSUME_STREAM: &str = "BENCHCONSUME";
    const CONSUME_SUBJECT: &str = "bench.js.consume";

    /// A `nats-server -js -sd <dir>`; the directory goes with it.
    pub(crate) struct JsServer {
        server: Option<Server>,
        dir: PathBuf,
        pub(crate) url: String,
    }

    impl Drop for JsServer {
        fn drop(&mut self) {
            drop(self.server.take());
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub(crate) fn start() -> Res<JsServer> {
        let dir = std::env::temp_dir().join(format!("nats-actix-bench-js-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let bin = server_binary();
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let url = format!("127.0.0.1:{port}");
        let js = JsServer {
            server: Some(Server {
                child,
                url: url.clone(),
            }),
            dir,
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("nats-server -js did not listen on {port}").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(js)
    }

    async fn admin(url: &str) -> Res<(Client, Context)> {
        let c = Client::connect(ConnectOptions::new().server(url)).await?;
        let js = Context::new(c.clone());
        Ok((c, js))
    }

    /// A fresh (empty) stream, created outside the clock.
    pub(crate) async fn fresh_stream(
        url: &str,
        name: &str,
        subject: &str,
        storage: StorageType,
    ) -> Res<()> {
        let (c, js) = admin(url).await?;
        let _ = js.delete_stream(name).await;
        js.create_stream(StreamConfig::new(name, [subject]).storage(storage))
            .await?;
        c.close().await?;
        Ok(())
    }

    pub(crate) async fn drop_stream(url: &str, name: &str) -> Res<()> {
        let (c, js) = admin(url).await?;
        js.delete_stream(name).await?;
        c.close().await?;
        Ok(())
    }

    /// nats-actix: N `publish_async` with at most `WINDOW` acks in flight,
    /// the acks awaited in order.
    pub(crate) async fn actix_pub(url: &str, n: usize, payload: Bytes) -> Res<Duration> {
        let client = Client::connect(ConnectOptions::new().server(url)).await?;
        let js = Context::new(client.clone()).max_acks_in_flight(WINDOW, WhenFull::Wait);
        client.flush().await?;
        let mut acks: VecDeque<PubAckFuture> = VecDeque::with_capacity(WINDOW);
        let start = Instant::now();
        for _ in 0..n {
            if acks.len() == WINDOW
                && let Some(a) = acks.pop_front()
            {
                a.ack().await?;
            }
            acks.push_back(
                js.publish_async(PUB_SUBJECT, payload.clone(), PublishOptions::default())
                    .await?,
            );
        }
        while let Some(a) = acks.pop_front() {
            a.ack().await?;
        }
        let elapsed = start.elapsed();
        client.close().await?;
        Ok(elapsed)
    }

    /// async-nats: N `publish` with at most `WINDOW` ack futures in flight
    /// (a deque, awaited in order; the context's own bound set to `WINDOW`
    /// too).
    pub(crate) async fn async_pub(url: &str, n: usize, payload: Bytes) -> Res<Duration> {
        let client = async_nats::connect(url).await?;
        let js = ajs::context::ContextBuilder::new()
            .max_ack_inflight(WINDOW)
            .build(client.clone());
        client.flush().await?;
        let subject = async_nats::Subject::from(PUB_SUBJECT);
        let mut acks = VecDeque::with_capacity(WINDOW);
        let start = Instant::now();
        for _ in 0..n {
            if acks.len() == WINDOW
                && let Some(a) = acks.pop_front()
            {
                a.await?;
            }
            acks.push_back(js.publish(subject.clone(), payload.clone()).await?);
        }
        while let Some(a) = acks.pop_front() {
            a.await?;
        }
        let elapsed = start.elapsed();
        drop(js);
        drop(client);
        Ok(elapsed)
    }

    /// Fills the `js-consume` stream with N messages of `CONSUME_SIZE`
    /// (nats-actix, outside the clock).
    pub(crate) async fn prefill(url: &str, n: usize) -> Res<()> {
        fresh_stream(url, CONSUME_STREAM, CONSUME_SUBJECT, StorageType::File).await?;
        let (c, js) = admin(url).await?;
        let js = js.max_acks_in_flight(WINDOW, WhenFull::Wait);
        let payload = payload(CONSUME_SIZE);
        let mut acks: VecDeque<PubAckFuture> = VecDeque::with_capacity(WINDOW);
        for _ in 0..n {
            if acks.len() == WINDOW
                && let Some(a) = acks.pop_front()
            {
                a.ack().await?;
            }
            acks.push_back(
                js.publish_async(CONSUME_SUBJECT, payload.clone(), PublishOptions::default())
                    .await?,
            );
        }
        while let Some(a) = acks.pop_front() {
            a.ack().await?;
        }
        let info = js.stream_info(CONSUME_STREAM).await?;
        if info.state.messages != n as u64 {
            return Err(format!(
                "js-consume: stream holds {} messages, not {n}",
                info.state.messages
            )
            .into());
        }
        c.close().await?;
        Ok(())
    }

    pub(crate) async fn drop_consume_stream(url: &str) -> Res<()> {
        drop_stream(url, CONSUME_STREAM).await
    }

    /// How a client pulls in `js-consume`.
    #[derive(Clone, Copy, PartialEq)]
    pub(crate) enum Pull {
        /// One pull request of `BATCH` at a time (no_wait), every message
        /// acked, then the next pull.
        Fetch,
        /// The client's continuous consumption (nats-actix `consume`,
        /// async-nats `stream().messages()`), `BATCH` per pull.
        Stream,
    }

    /// A durable consumer made outside the clock (nats-actix's API for
    /// both clients: the same config on the server).
    async fn make_consumer(url: &str, name: &str) -> Res<()> {
        let (c, js) = admin(url).await?;
        let _ = js.delete_consumer(CONSUME_STREAM, name).await;
        js.create_consumer(CONSUME_STREAM, ConsumerConfig::durable(name))
            .await?;
        c.close().await?;
        Ok(())
    }

    /// After the run: every message acked (`num_ack_pending` 0 and
    /// nothing pending), then the consumer deleted.
    async fn check_and_delete(url: &str, name: &str, n: usize) -> Res<()> {
        let (c, js) = admin(url).await?;
        let info = js.consumer_info(CONSUME_STREAM, name).await?;
        let res = if info.num_ack_pending != 0 || info.num_pending != 0 {
            Err(format!(
                "js-consume {name}: {} unacked, {} pending after {n} acks",
                info.num_ack_pending, info.num_pending
            )
            .into())
        } else {
            Ok(())
        };
        js.delete_consumer(CONSUME_STREAM, name).await?;
        c.close().await?;
        res
    }

    /// nats-actix: consumes the N messages with an ack each; ends with a
    /// round trip (the acks are fire and forget).
    pub(crate) async fn actix_consume(url: &str, n: usize, how: Pull, name: &str) -> Res<Duration> {
        make_consumer(url, name).await?;
        let client = Client::connect(ConnectOptions::new().server(url)).await?;
        let js = Context::new(client.clone());
        client.flush().await?;
        let mut got = 0usize;
        let start = Instant::now();
        match how {
            Pull::Fetch => {
                while got < n {
                    let opts = FetchOptions::new(BATCH.min(n - got)).no_wait(true);
                    let msgs = js.fetch_with(CONSUME_STREAM, name, opts).await?;
                    if msgs.is_empty() {
                        return Err(format!("nats-actix fetch: nothing after {got}").into());
                    }
                    for m in msgs {
                        m.ack().await?;
                        got += 1;
                    }
                }
            }
            Pull::Stream => {
                let mut msgs =
                    js.consume(CONSUME_STREAM, name, ConsumeOptions::default().batch(BATCH));
                while got < n {
                    match tokio::time::timeout(IDLE, msgs.next()).await {
                        Ok(Some(m)) => {
                            m.ack().await?;
                            got += 1;
                        }
                        _ => return Err(format!("nats-actix consume: nothing after {got}").into()),
                    }
                }
                drop(msgs);
            }
        }
        client.flush().await?;
        let elapsed = start.elapsed();
        client.close().await?;
        check_and_delete(url, name, n).await?;
        Ok(elapsed)
    }

    /// A round trip on an async-nats client (see `async_side::round_trip`).
    async fn async_round_trip(client: &async_nats::Client) -> Res<()> {
        client.flush().await?;
        let subject = format!("bench.sync.{}", client.new_inbox());
        match client.request(subject, Bytes::new()).await {
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => Err("round trip: unexpected reply".into()),
        }
    }

    async fn next_of<S, T>(s: &mut S) -> Option<T>
    where
        S: Stream<Item = T> + Unpin,
    {
        poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
    }

    /// async-nats: the same, with its pull consumer.
    pub(crate) async fn async_consume(url: &str, n: usize, how: Pull, name: &str) -> Res<Duration> {
        make_consumer(url, name).await?;
        let client = async_nats::connect(url).await?;
        let js = ajs::new(client.clone());
        let consumer: ajs::consumer::PullConsumer = js
            .get_stream(CONSUME_STREAM)
            .await?
            .get_consumer(name)
            .await?;
        async_round_trip(&client).await?;
        let mut got = 0usize;
        let start = Instant::now();
        match how {
            Pull::Fetch => {
                while got < n {
                    let want = BATCH.min(n - got);
                    let mut batch = consumer.fetch().max_messages(want).messages().await?;
                    let before = got;
                    while let Some(m) = next_of(&mut batch).await {
                        m?.ack().await?;
                        got += 1;
                    }
                    if got == before {
                        return Err(format!("async-nats fetch: nothing after {got}").into());
                    }
                }
            }
            Pull::Stream => {
                let mut msgs = consumer
                    .stream()
                    .max_messages_per_batch(BATCH)
                    .messages()
                    .await?;
                while got < n {
                    match tokio::time::timeout(IDLE, next_of(&mut msgs)).await {
                        Ok(Some(m)) => {
                            m?.ack().await?;
                            got += 1;
                        }
                        _ => return Err(format!("async-nats messages: nothing after {got}").into()),
                    }
                }
                drop(msgs);
            }
        }
        async_round_trip(&client).await?;
        let elapsed = start.elapsed();
        drop(consumer);
        drop(js);
        drop(client);
        check_and_delete(url, name, n).await?;
        Ok(elapsed)
    }
}

/// `js-pub` and `js-consume` rows, on a JetStream server of their own.
/// `BENCH_JS_COUNT` (default 100,000) messages per run.
async fn run_js(cfg: &Config) -> Res<Vec<Row>> {
    use js_bench::Pull;
    use nats_actix::jetstream::StorageType;
    let mut rows = Vec::new();
    if !cfg.wants("js-pub") && !cfg.wants("js-consume") {
        return Ok(rows);
    }
    let n = env_usize("BENCH_JS_COUNT").unwrap_or(100_000).max(1);
    let server = js_bench::start()?;
    let url = server.url.clone();
    eprintln!(
        "jetstream: {} -js at {url} | N={n} window={} batch={} | runs={} (median), interleaved nats-actix, async-nats",
        server_version(),
        js_bench::WINDOW,
        js_bench::BATCH,
        cfg.runs
    );
    let goal = Some(Goal::RatioAtLeast(1.3));
    // 16 B and 1 KiB unless BENCH_SIZES says otherwise.
    let sizes = if std::env::var_os("BENCH_SIZES").is_some() {
        cfg.sizes.clone()
    } else {
        vec![16, 1024]
    };
    if cfg.wants("js-pub") {
        for (label, storage) in [
            ("js-pub file", StorageType::File),
            ("js-pub mem", StorageType::Memory),
        ] {
            for &size in &sizes {
                let mut v: [Vec<f64>; 2] = Default::default();
                for run in 0..cfg.runs {
                    for (i, slot) in v.iter_mut().enumerate() {
                        js_bench::fresh_stream(
                            &url,
                            js_bench::PUB_STREAM,
                            js_bench::PUB_SUBJECT,
                            storage,
                        )
                        .await?;
                        let d = if i == 0 {
                            js_bench::actix_pub(&url, n, payload(size))
                                .await
                                .map_err(|e| format!("nats-actix {label}: {e}"))?
                        } else {
                            js_bench::async_pub(&url, n, payload(size))
                                .await
                                .map_err(|e| format!("async-nats {label}: {e}"))?
                        };
                        slot.push(n as f64 / d.as_secs_f64());
                    }
                    eprintln!(
                        "{label} {size:>5} B run {run}: actix {:>9.0}/s  async-nats {:>9.0}/s",
                        v[0][run], v[1][run]
                    );
                }
                js_bench::drop_stream(&url, js_bench::PUB_STREAM).await?;
                let [a, b] = v;
                let mut row = Row::new(label, Some(size), Unit::Rate, n, median(a));
                row.async_nats = Some(median(b));
                row.goal = goal;
                row.note = format!("{} acks in flight, awaited in order", js_bench::WINDOW);
                rows.push(row);
            }
        }
    }
    if cfg.wants("js-consume") {
        js_bench::prefill(&url, n).await?;
        for (label, how) in [("js-fetch", Pull::Fetch), ("js-consume", Pull::Stream)] {
            let mut v: [Vec<f64>; 2] = Default::default();
            for run in 0..cfg.runs {
                let tag = if how == Pull::Fetch {
                    "fetch"
                } else {
                    "stream"
                };
                let da = js_bench::actix_consume(&url, n, how, &format!("actix_{tag}_{run}"))
                    .await
                    .map_err(|e| format!("nats-actix {label}: {e}"))?;
                let db = js_bench::async_consume(&url, n, how, &format!("async_{tag}_{run}"))
                    .await
                    .map_err(|e| format!("async-nats {label}: {e}"))?;
                v[0].push(n as f64 / da.as_secs_f64());
                v[1].push(n as f64 / db.as_secs_f64());
                eprintln!(
                    "{label} {:>5} B run {run}: actix {:>9.0}/s  async-nats {:>9.0}/s",
                    js_bench::CONSUME_SIZE,
                    v[0][run],
                    v[1][run]
                );
            }
            let [a, b] = v;
            let mut row = Row::new(
                label,
                Some(js_bench::CONSUME_SIZE),
                Unit::Rate,
                n,
                median(a),
            );
            row.async_nats = Some(median(b));
            row.goal = goal;
            row.note = match how {
                Pull::Fetch => format!(
                    "pulls of {} (no_wait), ack per message, file storage",
                    js_bench::BATCH
                ),
                Pull::Stream => format!(
                    "continuous pull ({} per pull), ack per message, file storage",
                    js_bench::BATCH
                ),
            };
            rows.push(row);
        }
        js_bench::drop_consume_stream(&url).await?;
    }
    drop(server);
    Ok(rows)
}
