//! A small command line client in the spirit of the `nats` CLI, built on
//! nats-actix; arguments are parsed with clap. The interface (names, flags,
//! output shapes) is described in the CLI reference; `--help` lists it.
//!
//! ```text
//! cargo run --example nats -- [GLOBAL] <command> [ARGS] [GLOBAL]
//!
//! commands:
//!   pub SUBJECT BODY [--count N] [--interval-ms MS] [-H KEY:VALUE]... [--reply SUBJ]
//!   sub SUBJECT [--queue Q] [--count N]
//!   req SUBJECT BODY [--timeout-ms T] [-H KEY:VALUE]...
//!   reply SUBJECT BODY [--queue Q] [--count N]
//!   bench pub|pubsub|req --size BYTES --count N [--subject S]
//!   stream add|info|ls|rm|purge|get ...
//!   js pub SUBJECT BODY [--count N] [--msg-id ID] [--expect-...] [--async]
//!   consumer add|info|ls|rm|next|sub|ordered ...
//!   kv add|status|ls|rm|put|create|update|get|del|purge|keys|history|watch ...
//!   obj add|status|ls|rm|put|get|info|del|link|watch ...
//!   micro serve|ping|info|stats ...
//! ```
//!
//! BODY `-` reads the body from stdin; `{{Count}}` in a `pub` BODY becomes
//! the message's number, from 1. With `--json`, messages print as
//! `{"subject","reply","headers":{name:[values]},"payload"}` and `sub` and
//! `reply` print `{"ready":true}` once the subscription is confirmed by the
//! server. With `--events`, status events print as JSON lines on stderr.
//! Errors print `error: <typed error>` on stderr and exit 1 (usage errors
//! exit 2). SIGINT or SIGTERM makes `sub`, `reply`, `consumer sub` and
//! `consumer ordered` drain and exit 0. JetStream commands take
//! `--js-domain D` or `--js-api-prefix P`; API errors print typed
//! (`error: wrong last sequence: ...`, `error: stream not found: ...`).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example nats -- sub 'greet.*' --count 1 &
//! cargo run --example nats -- pub greet.joe hello -H X-Id:1
//! cargo run --example nats -- --json bench req --size 128 --count 1000
//! # JetStream (nats-server -js)
//! cargo run --example nats -- --json stream add ORDERS --subjects 'orders.>'
//! cargo run --example nats -- --json js pub orders.new hi --msg-id o-1
//! cargo run --example nats -- --json consumer add ORDERS w --pull
//! cargo run --example nats -- --json consumer next ORDERS w --count 1
//! ```

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use nats_actix::messages::SubscribeOptions;
use nats_actix::{
    Client, ConnectOptions, Error, ErrorKind, Event, HeaderMap, Msg, Publish, RequestOptions,
    Subscriber,
};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

const DEFAULT_SERVER: &str = "nats://127.0.0.1:4222";
/// How long a drain (SIGINT, SIGTERM) waits for the server's confirmation.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// arguments
// ---------------------------------------------------------------------------

/// A NATS command line client built on nats-actix.
#[derive(Parser, Debug)]
#[command(name = "nats", version)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The options every command takes, before or after the command.
#[derive(Args, Debug)]
struct Global {
    /// Server URL(s); may repeat or be comma-separated
    #[arg(
        short = 's',
        long = "server",
        value_name = "URL",
        value_delimiter = ',',
        global = true
    )]
    servers: Vec<String>,
    /// JSON lines on stdout
    #[arg(long, global = true)]
    json: bool,
    /// Status events as JSON lines on stderr
    #[arg(long, global = true)]
    events: bool,
    /// The protocol trace on stderr
    #[arg(long, global = true)]
    trace: bool,
    /// Client name in CONNECT
    #[arg(long, value_name = "NAME", global = true)]
    name: Option<String>,
    /// User name
    #[arg(long, value_name = "U", global = true)]
    user: Option<String>,
    /// Password
    #[arg(long, value_name = "P", global = true)]
    password: Option<String>,
    /// Authentication token
    #[arg(long, value_name = "T", global = true)]
    token: Option<String>,
    /// A file holding a user nkey seed
    #[arg(long, value_name = "FILE", global = true)]
    nkey: Option<PathBuf>,
    /// A creds file (user JWT and seed)
    #[arg(long, value_name = "FILE", global = true)]
    creds: Option<PathBuf>,
    /// Client certificate (PEM)
    #[arg(long, value_name = "FILE", global = true, requires = "tlskey")]
    tlscert: Option<PathBuf>,
    /// Client private key (PEM)
    #[arg(long, value_name = "FILE", global = true, requires = "tlscert")]
    tlskey: Option<PathBuf>,
    /// CA to verify the server (PEM)
    #[arg(long, value_name = "FILE", global = true)]
    tlsca: Option<PathBuf>,
    /// TLS handshake before the server's INFO
    #[arg(long, global = true)]
    tlsfirst: bool,
    /// Connect timeout in milliseconds
    #[arg(long, value_name = "MS", global = true)]
    connect_timeout_ms: Option<u64>,
    /// Wait between reconnect attempts, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 2000, global = true)]
    reconnect_wait_ms: u64,
    /// Reconnect attempts per server (-1 = unlimited)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true,
        global = true
    )]
    max_reconnects: i64,
    /// Do not reconnect after the connection is lost
    #[arg(long, global = true)]
    no_reconnect: bool,
    /// Keep trying the first connect as a reconnect
    #[arg(long, global = true)]
    wait_on_first_connect: bool,
    /// JetStream domain
    #[arg(
        long,
        value_name = "D",
        global = true,
        conflicts_with = "js_api_prefix"
    )]
    js_domain: Option<String>,
    /// JetStream API prefix, without a trailing dot
    #[arg(long, value_name = "P", global = true)]
    js_api_prefix: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Publish a message (or --count N of them)
    Pub(PubArgs),
    /// Subscribe and print the messages
    Sub(SubArgs),
    /// Send a request and print the reply
    #[command(alias = "request")]
    Req(ReqArgs),
    /// Answer requests with a fixed body
    Reply(ReplyArgs),
    /// Measure publish, publish-subscribe or request throughput
    Bench(BenchArgs),
    /// JetStream streams
    #[command(subcommand)]
    Stream(StreamCmd),
    /// JetStream publishing
    #[command(subcommand)]
    Js(JsCmd),
    /// JetStream consumers
    #[command(subcommand)]
    Consumer(ConsumerCmd),
    /// Key-value store (ADR-8)
    #[command(subcommand)]
    Kv(kv::KvCmd),
    /// Object store (ADR-20)
    #[command(subcommand)]
    Obj(obj::ObjCmd),
    /// Services (ADR-32)
    #[command(subcommand)]
    Micro(micro::MicroCmd),
}

#[path = "nats/kv.rs"]
mod kv;
#[path = "nats/micro.rs"]
mod micro;
#[path = "nats/obj.rs"]
mod obj;

/// A `-H KEY:VALUE` header.
#[derive(Clone, Debug)]
struct Header(String, String);

fn parse_header(s: &str) -> Result<Header, String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("wants KEY:VALUE, got {s:?}"))?;
    Ok(Header(k.trim().to_string(), v.trim().to_string()))
}

#[derive(Args, Debug)]
struct PubArgs {
    subject: String,
    /// The body; `-` reads stdin; `{{Count}}` becomes the message number
    body: String,
    /// How many messages
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Milliseconds between messages
    #[arg(long, value_name = "MS")]
    interval_ms: Option<u64>,
    /// A header; repeat a KEY to add values
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE", value_parser = parse_header)]
    headers: Vec<Header>,
    /// Reply subject
    #[arg(long, value_name = "SUBJ")]
    reply: Option<String>,
}

#[derive(Args, Debug)]
struct SubArgs {
    subject: String,
    /// Queue group
    #[arg(long, value_name = "Q")]
    queue: Option<String>,
    /// Exit after N messages
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Args, Debug)]
struct ReqArgs {
    subject: String,
    /// The body; `-` reads stdin
    body: String,
    /// Request timeout in milliseconds
    #[arg(long, value_name = "T")]
    timeout_ms: Option<u64>,
    /// A header; repeat a KEY to add values
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE", value_parser = parse_header)]
    headers: Vec<Header>,
}

#[derive(Args, Debug)]
struct ReplyArgs {
    subject: String,
    /// The reply body; `-` reads stdin
    body: String,
    /// Queue group
    #[arg(long, value_name = "Q")]
    queue: Option<String>,
    /// Exit after N requests
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BenchMode {
    Pub,
    Pubsub,
    Req,
}

impl BenchMode {
    fn name(self) -> &'static str {
        match self {
            BenchMode::Pub => "pub",
            BenchMode::Pubsub => "pubsub",
            BenchMode::Req => "req",
        }
    }
}

#[derive(Args, Debug)]
struct BenchArgs {
    mode: BenchMode,
    /// Payload size in bytes
    #[arg(long, value_name = "BYTES")]
    size: usize,
    /// Number of messages
    #[arg(long)]
    count: u64,
    /// Subject (default `bench.<mode>`)
    #[arg(long, value_name = "S")]
    subject: Option<String>,
}

fn body_arg(arg: &str) -> Result<Vec<u8>, Error> {
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        Ok(arg.as_bytes().to_vec())
    }
}

fn header_map(pairs: &[Header]) -> Option<HeaderMap> {
    if pairs.is_empty() {
        return None;
    }
    let mut h = HeaderMap::new();
    for Header(k, v) in pairs {
        h.append(k.clone(), v.clone());
    }
    Some(h)
}

/// The connect options the global flags describe.
fn connect_options(g: &Global) -> Result<ConnectOptions, Error> {
    let servers: Vec<&str> = if g.servers.is_empty() {
        vec![DEFAULT_SERVER]
    } else {
        g.servers
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut o = ConnectOptions::new()
        .servers(servers)
        .name(g.name.as_deref().unwrap_or("nats-actix-cli"))
        .debug(g.trace)
        .reconnect(!g.no_reconnect)
        .max_reconnect_attempts(g.max_reconnects)
        .reconnect_time_wait(Duration::from_millis(g.reconnect_wait_ms))
        .wait_on_first_connect(g.wait_on_first_connect);
    if let Some(ms) = g.connect_timeout_ms {
        o = o.connection_timeout(Duration::from_millis(ms));
    }
    if let Some(u) = &g.user {
        o = o.user(u.as_str());
    }
    if let Some(p) = &g.password {
        o = o.pass(p.as_str());
    }
    if let Some(t) = &g.token {
        o = o.token(t.as_str());
    }
    if let Some(path) = &g.nkey {
        // Read on each connect; `validate` checks it before the first.
        o = o.nkey_file(path.clone());
    }
    if let Some(path) = &g.creds {
        o = o.credentials_file(path.clone());
    }
    if let (Some(cert), Some(key)) = (&g.tlscert, &g.tlskey) {
        o = o.tls_client_cert(cert.clone(), key.clone());
    }
    if let Some(ca) = &g.tlsca {
        o = o.tls_ca_file(ca.clone());
    }
    if g.tlsfirst {
        o = o.tls_handshake_first(true);
    }
    if g.tlscert.is_some() || g.tlsca.is_some() || g.tlsfirst {
        o = o.tls_required(true);
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------

/// Prints one line and flushes; a closed stdout (`| head`) ends the program.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// An error as the contract prints it: the kind's name first
/// (`authorization violation: ...`, `permissions violation: ...`,
/// `tls: ...`, `timeout: ...`, `no responders: ...`), then the detail.
fn typed_error(e: &Error) -> String {
    let prefix = match e.kind() {
        ErrorKind::Authentication => "authorization violation",
        ErrorKind::AuthorizationViolation => "permissions violation",
        ErrorKind::Tls => "tls",
        ErrorKind::TimedOut => "timeout",
        ErrorKind::NoResponders => "no responders",
        ErrorKind::JetStream => return js_cli::typed_api_error(e),
        _ => return e.to_string(),
    };
    format!("{prefix}: {e}")
}

fn emit_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(line) => emit(&line),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// Headers as `{name:[values]}`, names in order of first appearance.
struct HeadersJson<'a>(Option<&'a HeaderMap>);

impl Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
        if let Some(h) = self.0 {
            for (name, value) in h {
                match grouped.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, values)) => values.push(value),
                    None => grouped.push((name, vec![value])),
                }
            }
        }
        let mut map = s.serialize_map(Some(grouped.len()))?;
        for (name, values) in &grouped {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct MsgJson<'a> {
    subject: &'a str,
    reply: Option<&'a str>,
    headers: HeadersJson<'a>,
    payload: std::borrow::Cow<'a, str>,
}

impl<'a> MsgJson<'a> {
    fn new(m: &'a Msg) -> Self {
        MsgJson {
            subject: m.subject.as_str(),
            reply: m.reply.as_ref().map(|r| r.as_str()),
            headers: HeadersJson(m.headers.as_ref()),
            payload: String::from_utf8_lossy(&m.payload),
        }
    }
}

#[derive(Serialize)]
struct Ready {
    ready: bool,
}

#[derive(Serialize)]
struct BenchResult {
    mode: &'static str,
    size: usize,
    count: u64,
    msgs_per_s: f64,
    mb_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p90_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_us: Option<f64>,
}

fn msg_human(n: u64, m: &Msg) -> String {
    let mut line = format!("[#{n}] Received on \"{}\"", m.subject);
    if let Some(r) = &m.reply {
        line.push_str(&format!(" (reply: {r})"));
    }
    if let Some(h) = &m.headers {
        let hs: Vec<String> = h.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !hs.is_empty() {
            line.push_str(&format!(" [{}]", hs.join(", ")));
        }
    }
    line.push_str(&format!(": {}", String::from_utf8_lossy(&m.payload)));
    line
}

fn print_msg(global: &Global, n: u64, m: &Msg) {
    if global.json {
        emit_json(&MsgJson::new(m));
    } else {
        emit(&msg_human(n, m));
    }
}

fn print_ready(global: &Global, what: &str, subject: &str, queue: Option<&str>) {
    if global.json {
        emit_json(&Ready { ready: true });
    } else {
        match queue {
            Some(q) => emit(&format!("{what} on \"{subject}\" (queue {q})")),
            None => emit(&format!("{what} on \"{subject}\"")),
        }
    }
}

// ---------------------------------------------------------------------------
// status events (--events)
// ---------------------------------------------------------------------------

/// One status event as a JSON line: `{"event":"<kind>",...}`.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum EventJson<'a> {
    Connected {
        server: &'a str,
    },
    Disconnected {
        server: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Reconnecting {
        attempt: usize,
        server: &'a str,
    },
    Reconnected {
        server: &'a str,
    },
    Update {
        added: &'a [String],
        deleted: &'a [String],
    },
    LameDuck {
        server: &'a str,
    },
    Error {
        error: String,
    },
    SlowConsumer {
        sid: u64,
        subject: &'a str,
    },
    Closed {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An event kind this CLI does not know yet.
    Other {
        description: String,
    },
}

impl<'a> EventJson<'a> {
    fn new(e: &'a Event) -> Self {
        match e {
            Event::Connected { server } => EventJson::Connected { server },
            Event::Disconnected { server, reason } => EventJson::Disconnected {
                server,
                reason: reason.as_ref().map(ToString::to_string),
            },
            Event::Reconnecting { attempt, server } => EventJson::Reconnecting {
                attempt: *attempt,
                server,
            },
            Event::Reconnected { server } => EventJson::Reconnected { server },
            Event::ServersChanged { added, deleted } => EventJson::Update { added, deleted },
            Event::LameDuckMode { server } => EventJson::LameDuck { server },
            Event::Error(err) => EventJson::Error {
                error: err.to_string(),
            },
            Event::SlowConsumer { sid, subject } => EventJson::SlowConsumer { sid: *sid, subject },
            Event::Closed { reason } => EventJson::Closed {
                reason: reason.as_ref().map(ToString::to_string),
            },
            other => EventJson::Other {
                description: other.to_string(),
            },
        }
    }
}

/// Prints every status event it receives to stderr.
struct EventPrinter;

impl Actor for EventPrinter {
    type Context = Context<Self>;
}

impl Handler<Event> for EventPrinter {
    type Result = ();

    fn handle(&mut self, e: Event, _: &mut Context<Self>) {
        if let Ok(line) = serde_json::to_string(&EventJson::new(&e)) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}").and_then(|_| err.flush());
        }
    }
}

/// Answered once every event sent to the printer before it is printed.
struct Sync;

impl actix::Message for Sync {
    type Result = ();
}

impl Handler<Sync> for EventPrinter {
    type Result = ();

    fn handle(&mut self, _: Sync, _: &mut Context<Self>) {}
}

// ---------------------------------------------------------------------------
// signals
// ---------------------------------------------------------------------------

/// Resolves at the first SIGINT or SIGTERM (registered when created, so a
/// signal that arrives before it is awaited is not lost).
struct Shutdown {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn new() -> Result<Shutdown, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Shutdown {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// `fut`'s output, or `None` when SIGINT or SIGTERM comes first.
async fn unless_stopped<T>(
    shutdown: &mut Option<Shutdown>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match shutdown.as_mut() {
        Some(s) => tokio::select! {
            out = fut => Some(out),
            () = s.recv() => None,
        },
        None => Some(fut.await),
    }
}

// ---------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------

async fn connect(global: &Global, printer: Option<&Addr<EventPrinter>>) -> Result<Client, Error> {
    let mut opts = connect_options(global)?;
    if let Some(p) = printer {
        opts = opts.event_recipient(p.clone().recipient());
    }
    Client::connect(opts).await
}

async fn run(global: &Global, cmd: Cmd) -> Result<(), Error> {
    // receiving commands drain on SIGINT/SIGTERM; the others keep the
    // default action (exit at once)
    let mut shutdown = match cmd {
        Cmd::Sub(_)
        | Cmd::Reply(_)
        | Cmd::Consumer(ConsumerCmd::Sub(_) | ConsumerCmd::Ordered(_))
        | Cmd::Kv(kv::KvCmd::Watch(_))
        | Cmd::Obj(obj::ObjCmd::Watch(_))
        | Cmd::Micro(micro::MicroCmd::Serve(_)) => Some(Shutdown::new()?),
        _ => None,
    };
    let printer = global.events.then(|| EventPrinter.start());
    let connecting = connect(global, printer.as_ref());
    // A signal now: nothing received yet, so nothing to drain.
    let Some(client) = unless_stopped(&mut shutdown, connecting).await else {
        return Ok(());
    };
    let client = client?;
    let result = run_with(global, &client, cmd, shutdown).await;
    // flush what is still buffered (replies sent with `respond`) and close
    let _ = client.flush().await;
    client.close().await?;
    if let Some(p) = printer {
        // the `closed` event is printed before the program exits
        let _ = p.send(Sync).await;
    }
    result
}

async fn run_with(
    global: &Global,
    client: &Client,
    cmd: Cmd,
    shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    match cmd {
        Cmd::Pub(a) => publish(global, client, a).await,
        Cmd::Sub(a) => {
            let count = a.count;
            let Some(sub) = subscribe_ready(
                global,
                client,
                "Subscribed",
                &a.subject,
                a.queue.as_deref(),
                count,
            )
            .await?
            else {
                return Ok(());
            };
            receive(client, sub, count, shutdown, |n, m| {
                print_msg(global, n, &m);
                Ok(true)
            })
            .await
        }
        Cmd::Req(a) => {
            let mut opts = RequestOptions::default();
            if let Some(t) = a.timeout_ms {
                opts = opts.timeout(Duration::from_millis(t));
            }
            if let Some(h) = header_map(&a.headers) {
                opts = opts.headers(h);
            }
            let body = body_arg(&a.body)?;
            let m = client.request_with(a.subject, body, opts).await?;
            if global.json {
                emit_json(&MsgJson::new(&m));
            } else {
                emit(&String::from_utf8_lossy(&m.payload));
            }
            Ok(())
        }
        Cmd::Reply(a) => {
            let body = Bytes::from(body_arg(&a.body)?);
            let count = a.count;
            let Some(sub) = subscribe_ready(
                global,
                client,
                "Replying",
                &a.subject,
                a.queue.as_deref(),
                count,
            )
            .await?
            else {
                return Ok(());
            };
            receive(client, sub, count, shutdown, |n, m| {
                m.respond(body.clone())?;
                print_msg(global, n, &m);
                Ok(true)
            })
            .await
        }
        Cmd::Bench(a) => bench(global, client, a).await,
        Cmd::Stream(c) => js_cli::stream(global, client, c).await,
        Cmd::Js(JsCmd::Pub(a)) => js_cli::publish(global, client, a).await,
        Cmd::Consumer(c) => js_cli::consumer(global, client, c, shutdown).await,
        Cmd::Kv(c) => kv::run(global, client, c, shutdown).await,
        Cmd::Obj(c) => obj::run(global, client, c, shutdown).await,
        Cmd::Micro(c) => micro::run(global, client, c, shutdown).await,
    }
}

/// `pub`: N messages `--interval-ms` apart, `{{Count}}` replaced, then a
/// flush.
async fn publish(global: &Global, client: &Client, a: PubArgs) -> Result<(), Error> {
    let body = body_arg(&a.body)?;
    let template = String::from_utf8(body.clone())
        .ok()
        .filter(|s| s.contains("{{Count}}"));
    let headers = header_map(&a.headers);
    let interval = a.interval_ms.map(Duration::from_millis);
    let fixed = Bytes::from(body);
    // a permissions violation comes back as an asynchronous error event
    let mut events = client.events().await;
    for i in 1..=a.count {
        if i > 1
            && let Some(d) = interval
        {
            tokio::time::sleep(d).await;
        }
        let payload = match &template {
            Some(t) => Bytes::from(t.replace("{{Count}}", &i.to_string())),
            None => fixed.clone(),
        };
        let mut p = Publish::new(a.subject.as_str(), payload);
        p.headers = headers.clone();
        if let Some(r) = &a.reply {
            p = p.reply(r.as_str());
        }
        client.publish_msg(p).await?;
    }
    client.flush().await?;
    if let Some(e) = publish_denied(client, &mut events).await {
        return Err(e);
    }
    if !global.json {
        emit(&format!(
            "published {} message(s) to \"{}\"",
            a.count, a.subject
        ));
    }
    Ok(())
}

/// A permissions violation the server reported before the flush that
/// just returned. The server's `-ERR` came before its `PONG`, so its event
/// is on its way to the supervisor; two round trips with the supervisor
/// make sure it has reached the stream.
async fn publish_denied(client: &Client, events: &mut nats_actix::EventStream) -> Option<Error> {
    for _ in 0..2 {
        let _ = client.connected_server().await;
    }
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next_event()).await {
        if let Event::Error(e) = event
            && e.kind() == ErrorKind::AuthorizationViolation
        {
            return Some(e);
        }
    }
    None
}

fn sub_options(queue: Option<&str>, count: Option<u64>) -> SubscribeOptions {
    let mut opts = SubscribeOptions::default();
    if let Some(q) = queue {
        opts = opts.queue(q);
    }
    if let Some(n) = count {
        opts = opts.max(n);
    }
    opts
}

/// Subscribes, confirms it with a flush, prints the ready line; `None`
/// when `--count 0` asks for nothing more.
async fn subscribe_ready(
    global: &Global,
    client: &Client,
    what: &str,
    subject: &str,
    queue: Option<&str>,
    count: Option<u64>,
) -> Result<Option<Subscriber>, Error> {
    let sub = client
        .subscribe_with(subject, sub_options(queue, count))
        .await?;
    client.flush().await?;
    print_ready(global, what, subject, queue);
    Ok((count != Some(0)).then_some(sub))
}

/// Hands every message to `handle` (which says whether it counts) until
/// `count` messages, a signal (then
/// it drains: what was already received is still handled) or the end of
/// the subscription, which is an error unless it was the drain.
async fn receive(
    client: &Client,
    mut sub: Subscriber,
    count: Option<u64>,
    mut shutdown: Option<Shutdown>,
    mut handle: impl FnMut(u64, Msg) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut n = 0;
    let mut draining = false;
    loop {
        let next = match shutdown.as_mut() {
            Some(s) if !draining => {
                tokio::select! {
                    m = sub.next_msg() => m,
                    () = s.recv() => {
                        draining = true;
                        match tokio::time::timeout(DRAIN_TIMEOUT, sub.drain()).await {
                            // the stream ends after what the server sent
                            Ok(Ok(())) => {}
                            // already ended: what is queued still arrives
                            Ok(Err(e)) if e.kind() == ErrorKind::Closed => {}
                            // no confirmation (disconnected, ...): handle
                            // what was received, take nothing more
                            Ok(Err(_)) | Err(_) => {
                                while let Ok(Some(m)) =
                                    tokio::time::timeout(Duration::ZERO, sub.next_msg()).await
                                {
                                    if handle(n + 1, m)? {
                                        n += 1;
                                    }
                                    if count.is_some_and(|c| n >= c) {
                                        break;
                                    }
                                }
                                return Ok(());
                            }
                        }
                        continue;
                    }
                }
            }
            _ => sub.next_msg().await,
        };
        let Some(m) = next else { break };
        if handle(n + 1, m)? {
            n += 1;
        }
        if count.is_some_and(|c| n >= c) {
            return Ok(());
        }
    }
    if let Some(e) = sub.end_reason() {
        return Err(e);
    }
    if draining {
        return Ok(());
    }
    // the subscription ended before --count: a loss, never exit 0
    let reason = if client.is_closed() {
        tokio::time::timeout(Duration::from_secs(1), client.closed())
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    Err(reason.unwrap_or_else(|| {
        Error::with_source(
            ErrorKind::Closed,
            format!("the subscription ended after {n} message(s)"),
        )
    }))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `bench`: as `nats bench`, the subscriber (pubsub) or the responder
/// (req) has a connection of its own.
async fn bench(global: &Global, client: &Client, a: BenchArgs) -> Result<(), Error> {
    let BenchArgs {
        mode,
        size,
        count,
        subject,
    } = a;
    let subject = subject.unwrap_or_else(|| format!("bench.{}", mode.name()));
    let payload = Bytes::from(vec![b'x'; size]);
    let mut latencies_us: Vec<f64> = Vec::new();

    let elapsed = match mode {
        BenchMode::Pub => {
            let start = Instant::now();
            for _ in 0..count {
                client.publish(subject.as_str(), payload.clone()).await?;
            }
            client.flush().await?;
            start.elapsed()
        }
        BenchMode::Pubsub => {
            let other = connect(global, None).await?;
            let limit_msgs = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let limit_bytes = limit_msgs.saturating_mul(size.saturating_add(64));
            let mut sub = other
                .subscribe_with(
                    subject.as_str(),
                    SubscribeOptions::default().pending_limits(limit_msgs, limit_bytes),
                )
                .await?;
            other.flush().await?;
            let receiver = actix_rt::spawn(async move {
                let mut n = 0u64;
                while n < count {
                    match sub.next_msg().await {
                        Some(_) => n += 1,
                        None => break,
                    }
                }
                (n, Instant::now())
            });
            let start = Instant::now();
            for _ in 0..count {
                client.publish(subject.as_str(), payload.clone()).await?;
            }
            client.flush().await?;
            let left = Duration::from_secs(60).saturating_sub(start.elapsed());
            let result = tokio::time::timeout(left, receiver).await;
            let _ = other.close().await;
            match result {
                Ok(Ok((n, end))) if n == count => end.duration_since(start),
                Ok(Ok((n, _))) => {
                    return Err(Error::with_source(
                        ErrorKind::Closed,
                        format!("the subscriber got {n} of {count} messages"),
                    ));
                }
                Ok(Err(_)) => return Err(Error::new(ErrorKind::Closed)),
                Err(_) => return Err(Error::new(ErrorKind::TimedOut)),
            }
        }
        BenchMode::Req => {
            let other = connect(global, None).await?;
            let mut svc = other.subscribe(subject.as_str()).await?;
            other.flush().await?;
            let replier = actix_rt::spawn(async move {
                while let Some(m) = svc.next_msg().await {
                    let _ = m.respond(m.payload.clone());
                }
            });
            latencies_us.reserve(usize::try_from(count).unwrap_or(0));
            let start = Instant::now();
            let mut result = Ok(());
            for _ in 0..count {
                let t = Instant::now();
                if let Err(e) = client.request(subject.as_str(), payload.clone()).await {
                    result = Err(e);
                    break;
                }
                latencies_us.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let elapsed = start.elapsed();
            let _ = other.close().await;
            replier.abort();
            result?;
            elapsed
        }
    };

    let secs = elapsed.as_secs_f64().max(1e-9);
    let msgs_per_s = count as f64 / secs;
    latencies_us.sort_by(f64::total_cmp);
    let latency = |q| match mode {
        BenchMode::Req => Some(round2(percentile(&latencies_us, q))),
        _ => None,
    };
    // the result line is JSON in both output modes
    emit_json(&BenchResult {
        mode: mode.name(),
        size,
        count,
        msgs_per_s: round2(msgs_per_s),
        mb_per_s: round2(msgs_per_s * size as f64 / 1e6),
        p50_us: latency(0.50),
        p90_us: latency(0.90),
        p99_us: latency(0.99),
    });
    Ok(())
}

/// `--trace`: the library's protocol trace (target `nats_actix::trace`,
/// which redacts passwords, tokens and seeds itself) on stderr.
fn init_trace() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(Targets::new().with_target("nats_actix::trace", LevelFilter::DEBUG)),
        )
        .init();
}

fn main() {
    // usage errors (and --help) exit through clap: 2 (0 for --help)
    let cli = Cli::parse();
    if cli.global.trace {
        init_trace();
    }
    let result = actix_rt::System::new().block_on(run(&cli.global, cli.cmd));
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", typed_error(&e));
            1
        }
    };
    std::process::exit(code);
}

// ---------------------------------------------------------------------------
// JetStream: arguments
// ---------------------------------------------------------------------------

#[derive(Subcommand, Debug)]
enum StreamCmd {
    /// Create a stream (prints its StreamInfo)
    Add(StreamAddArgs),
    /// A stream's StreamInfo
    Info { name: String },
    /// The names of the streams
    Ls,
    /// Delete a stream
    Rm { name: String },
    /// Purge a stream's messages (all, a subject, up to a sequence, or keep N)
    Purge(StreamPurgeArgs),
    /// A stored message, by sequence or the last on a subject
    Get(StreamGetArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StorageArg {
    File,
    Memory,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RetentionArg {
    Limits,
    Interest,
    Workqueue,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DiscardArg {
    Old,
    New,
}

#[derive(Args, Debug)]
struct StreamAddArgs {
    name: String,
    /// The subjects the stream captures
    #[arg(long, value_name = "S", value_delimiter = ',', required = true)]
    subjects: Vec<String>,
    /// Where the messages are kept
    #[arg(long, value_enum, default_value = "file")]
    storage: StorageArg,
    /// Replicas
    #[arg(long, value_name = "N", default_value_t = 1)]
    replicas: i64,
    /// When messages leave the stream
    #[arg(long, value_enum, default_value = "limits")]
    retention: RetentionArg,
    /// Most messages kept (-1 unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_msgs: Option<i64>,
    /// Most bytes kept (-1 unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_bytes: Option<i64>,
    /// Oldest message kept, in milliseconds (0 unlimited)
    #[arg(long, value_name = "MS")]
    max_age_ms: Option<u64>,
    /// Largest message accepted (-1 unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_msg_size: Option<i64>,
    /// What a full stream does with a new message
    #[arg(long, value_enum, default_value = "old")]
    discard: DiscardArg,
    /// The duplicate window in milliseconds
    #[arg(long, value_name = "MS")]
    dupe_window_ms: Option<u64>,
    /// Allow direct gets
    #[arg(long)]
    allow_direct: bool,
}

#[derive(Args, Debug)]
struct StreamPurgeArgs {
    name: String,
    /// Only this subject
    #[arg(long, value_name = "S")]
    subject: Option<String>,
    /// Up to (not including) this sequence
    #[arg(long, value_name = "N")]
    seq: Option<u64>,
    /// Keep the newest N
    #[arg(long, value_name = "N")]
    keep: Option<u64>,
}

#[derive(Args, Debug)]
struct StreamGetArgs {
    name: String,
    /// The stream sequence
    #[arg(required_unless_present = "last_for", conflicts_with = "last_for")]
    seq: Option<u64>,
    /// The last message stored on this subject
    #[arg(long, value_name = "SUBJECT")]
    last_for: Option<String>,
}

#[derive(Subcommand, Debug)]
enum JsCmd {
    /// Publish to a stream; prints one line per acknowledgement
    Pub(JsPubArgs),
}

#[derive(Args, Debug)]
struct JsPubArgs {
    subject: String,
    /// The body; `-` reads stdin; `{{Count}}` becomes the message number
    body: String,
    /// How many messages
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// A header; repeat a KEY to add values
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE", value_parser = parse_header)]
    headers: Vec<Header>,
    /// Nats-Msg-Id (deduplication); `{{Count}}` becomes the message number
    #[arg(long, value_name = "ID")]
    msg_id: Option<String>,
    /// Nats-Expected-Stream
    #[arg(long, value_name = "S")]
    expect_stream: Option<String>,
    /// Nats-Expected-Last-Sequence
    #[arg(long, value_name = "N")]
    expect_last_seq: Option<u64>,
    /// Nats-Expected-Last-Subject-Sequence
    #[arg(long, value_name = "N")]
    expect_last_subject_seq: Option<u64>,
    /// Nats-Expected-Last-Msg-Id
    #[arg(long, value_name = "ID")]
    expect_last_msg_id: Option<String>,
    /// Publish all N, then wait for every ack
    #[arg(long = "async")]
    is_async: bool,
    /// How long each publish waits for its ack, in milliseconds
    #[arg(long, value_name = "T")]
    timeout_ms: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum ConsumerCmd {
    /// Create a durable consumer (prints its ConsumerInfo)
    Add(ConsumerAddArgs),
    /// A consumer's ConsumerInfo
    Info { stream: String, name: String },
    /// The names of a stream's consumers
    Ls { stream: String },
    /// Delete a consumer
    Rm { stream: String, name: String },
    /// Pull messages from a pull consumer and act on each
    Next(ConsumerNextArgs),
    /// Consume continuously (pull or push), acking each message
    Sub(ConsumerSubArgs),
    /// Read a stream through an ordered consumer
    Ordered(ConsumerOrderedArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AckArg {
    Explicit,
    None,
    All,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DeliverArg {
    All,
    New,
    Last,
    LastPerSubject,
}

#[derive(Args, Debug)]
struct ConsumerAddArgs {
    stream: String,
    name: String,
    /// A pull consumer (the default)
    #[arg(long, conflicts_with = "deliver")]
    pull: bool,
    /// A push consumer delivering to SUBJECT
    #[arg(long, value_name = "SUBJECT")]
    deliver: Option<String>,
    /// Only these subjects
    #[arg(long, value_name = "S", value_delimiter = ',')]
    filter: Vec<String>,
    /// The ack policy
    #[arg(long, value_enum, default_value = "explicit")]
    ack: AckArg,
    /// Where delivery starts
    #[arg(long, value_enum, default_value = "all")]
    deliver_policy: DeliverArg,
    /// Start at this stream sequence
    #[arg(long, value_name = "N")]
    start_seq: Option<u64>,
    /// Most deliveries of a message (-1 unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_deliver: Option<i64>,
    /// How long the server waits for an ack, in milliseconds
    #[arg(long, value_name = "MS")]
    ack_wait_ms: Option<u64>,
    /// Most unacknowledged messages in flight
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_ack_pending: Option<i64>,
    /// Remove the consumer after this long unused, in milliseconds
    #[arg(long, value_name = "MS")]
    inactive_threshold_ms: Option<u64>,
    /// Idle heartbeat of a push consumer, in milliseconds
    #[arg(long, value_name = "MS")]
    heartbeat_ms: Option<u64>,
    /// Flow control of a push consumer
    #[arg(long)]
    flow_control: bool,
    /// Deliver group of a push consumer
    #[arg(long, value_name = "GROUP", requires = "deliver")]
    queue: Option<String>,
}

#[derive(Args, Debug)]
struct ConsumerNextArgs {
    stream: String,
    name: String,
    /// How many messages
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Messages asked for per pull (default: N)
    #[arg(long, value_name = "B")]
    batch: Option<usize>,
    /// How long to wait for the N messages, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    expires_ms: u64,
    /// Exit 0 as soon as the stream has nothing more
    #[arg(long)]
    no_wait: bool,
    /// Acknowledge each message and wait for the confirmation (the default)
    #[arg(long, conflicts_with_all = ["no_ack", "nak", "term"])]
    ack: bool,
    /// Leave each message unacknowledged
    #[arg(long, conflicts_with_all = ["nak", "term"])]
    no_ack: bool,
    /// Ask for each message's redelivery
    #[arg(long, conflicts_with = "term")]
    nak: bool,
    /// Never redeliver each message
    #[arg(long)]
    term: bool,
}

#[derive(Args, Debug)]
struct ConsumerSubArgs {
    stream: String,
    name: String,
    /// Exit after N messages
    #[arg(long)]
    count: Option<u64>,
    /// Do not acknowledge the messages
    #[arg(long)]
    no_ack: bool,
}

#[derive(Args, Debug)]
struct ConsumerOrderedArgs {
    stream: String,
    /// Only this subject
    #[arg(long, value_name = "S")]
    filter: Option<String>,
    /// Exit after N messages
    #[arg(long)]
    count: Option<u64>,
    /// Start at this stream sequence
    #[arg(long, value_name = "N")]
    start_seq: Option<u64>,
}

// ---------------------------------------------------------------------------
// JetStream: commands
// ---------------------------------------------------------------------------

mod js_cli {
    use super::*;
    use nats_actix::StatusCode;
    use nats_actix::jetstream::{
        self as js, AckPolicy, ApiError, ConsumeOptions, ConsumerConfig, DeliverPolicy,
        DiscardPolicy, JsMsg, MsgInfo, PubAck, PublishOptions, PurgeRequest, RetentionPolicy,
        StorageType, StoredMessage, StreamConfig,
    };

    /// How long `--no-wait` lets a pull wait on the server (the library's
    /// `fetch` has no `no_wait`; see the report).
    const NO_WAIT: Duration = Duration::from_millis(250);

    /// The JetStream context the global flags describe.
    pub(super) fn context(global: &Global, client: &Client) -> js::Context {
        let c = client.clone();
        match (&global.js_domain, &global.js_api_prefix) {
            (Some(d), _) => js::Context::with_domain(c, d),
            (None, Some(p)) => js::Context::with_prefix(c, p.as_str()),
            (None, None) => js::Context::new(c),
        }
    }

    /// A JetStream API error as the contract prints it: the kind the
    /// server's `err_code` names, then the detail.
    pub(super) fn typed_api_error(e: &Error) -> String {
        let Some(api) = ApiError::of(e) else {
            return e.to_string();
        };
        let prefix = match api.err_code {
            ApiError::WRONG_LAST_SEQUENCE | ApiError::WRONG_LAST_SEQUENCE_CLUSTERED => {
                "wrong last sequence"
            }
            10070 => "wrong last msg id",
            10060 => "wrong expected stream",
            ApiError::STREAM_NOT_FOUND => "stream not found",
            ApiError::CONSUMER_NOT_FOUND => "consumer not found",
            ApiError::NO_MESSAGE_FOUND => "no message found",
            ApiError::STREAM_NAME_IN_USE => "stream name in use",
            _ => "jetstream",
        };
        if api.description.starts_with(&format!("{prefix}:")) {
            api.to_string()
        } else {
            format!("{prefix}: {api}")
        }
    }

    fn to_json(v: &impl Serialize) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(v).map_err(|e| Error::with_source(ErrorKind::Codec, e.to_string()))
    }

    /// One API call whose reply is printed as the server sent it.
    async fn api_raw(
        js: &js::Context,
        suffix: &str,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, Error> {
        js.api_request(suffix, body).await
    }

    fn print_value(global: &Global, v: &serde_json::Value) {
        if global.json {
            emit_json(v);
        } else {
            emit(&serde_json::to_string_pretty(v).unwrap_or_default());
        }
    }

    #[derive(Serialize)]
    struct Deleted {
        deleted: bool,
    }

    fn print_deleted(global: &Global, what: &str) {
        if global.json {
            emit_json(&Deleted { deleted: true });
        } else {
            emit(&format!("deleted {what}"));
        }
    }

    #[derive(Serialize)]
    struct Streams<'a> {
        streams: &'a [String],
    }

    #[derive(Serialize)]
    struct Consumers<'a> {
        consumers: &'a [String],
    }

    #[derive(Serialize)]
    struct Purged {
        purged: u64,
    }

    #[derive(Serialize)]
    struct StoredJson<'a> {
        subject: &'a str,
        seq: u64,
        headers: HeadersJson<'a>,
        payload: std::borrow::Cow<'a, str>,
        time: &'a str,
    }

    #[derive(Serialize)]
    struct AckJson<'a> {
        stream: &'a str,
        seq: u64,
        duplicate: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        domain: Option<&'a str>,
    }

    /// A consumed message: the message shape plus what its ack subject says.
    #[derive(Serialize)]
    struct JsMsgJson<'a> {
        subject: &'a str,
        reply: Option<&'a str>,
        headers: HeadersJson<'a>,
        payload: std::borrow::Cow<'a, str>,
        stream: &'a str,
        stream_seq: u64,
        consumer_seq: u64,
        delivered: u64,
    }

    fn print_js(global: &Global, n: u64, m: &Msg, info: Option<&MsgInfo>) {
        let Some(i) = info else {
            return print_msg(global, n, m);
        };
        if global.json {
            emit_json(&JsMsgJson {
                subject: m.subject.as_str(),
                reply: m.reply.as_ref().map(|r| r.as_str()),
                headers: HeadersJson(m.headers.as_ref()),
                payload: String::from_utf8_lossy(&m.payload),
                stream: &i.stream,
                stream_seq: i.stream_seq,
                consumer_seq: i.consumer_seq,
                delivered: i.delivered,
            });
        } else {
            emit(&format!(
                "[#{n}] {} #{} (consumer #{}, delivery {}) on \"{}\": {}",
                i.stream,
                i.stream_seq,
                i.consumer_seq,
                i.delivered,
                m.subject,
                String::from_utf8_lossy(&m.payload)
            ));
        }
    }

    fn print_stored(global: &Global, m: &StoredMessage) {
        if global.json {
            emit_json(&StoredJson {
                subject: &m.subject,
                seq: m.seq,
                headers: HeadersJson(m.headers.as_ref()),
                payload: String::from_utf8_lossy(&m.payload),
                time: &m.time,
            });
        } else {
            emit(&format!(
                "#{} on \"{}\" at {}: {}",
                m.seq,
                m.subject,
                m.time,
                String::from_utf8_lossy(&m.payload)
            ));
        }
    }

    fn print_ack(global: &Global, ack: &PubAck) {
        if global.json {
            emit_json(&AckJson {
                stream: &ack.stream,
                seq: ack.seq,
                duplicate: ack.duplicate,
                domain: ack.domain.as_deref(),
            });
        } else {
            emit(&format!(
                "stored in {} as #{}{}",
                ack.stream,
                ack.seq,
                if ack.duplicate { " (duplicate)" } else { "" }
            ));
        }
    }

    pub(super) async fn stream(
        global: &Global,
        client: &Client,
        cmd: StreamCmd,
    ) -> Result<(), Error> {
        let js = context(global, client);
        match cmd {
            StreamCmd::Add(a) => {
                let mut c = StreamConfig::new(a.name.clone(), a.subjects.clone());
                c.storage = match a.storage {
                    StorageArg::File => StorageType::File,
                    StorageArg::Memory => StorageType::Memory,
                };
                c.replicas = a.replicas;
                c.retention = match a.retention {
                    RetentionArg::Limits => RetentionPolicy::Limits,
                    RetentionArg::Interest => RetentionPolicy::Interest,
                    RetentionArg::Workqueue => RetentionPolicy::WorkQueue,
                };
                c.discard = match a.discard {
                    DiscardArg::Old => DiscardPolicy::Old,
                    DiscardArg::New => DiscardPolicy::New,
                };
                if let Some(n) = a.max_msgs {
                    c.max_msgs = n;
                }
                if let Some(n) = a.max_bytes {
                    c.max_bytes = n;
                }
                if let Some(n) = a.max_msg_size {
                    c.max_message_size = n;
                }
                if let Some(ms) = a.max_age_ms {
                    c.max_age = Duration::from_millis(ms);
                }
                if let Some(ms) = a.dupe_window_ms {
                    c.duplicate_window = Duration::from_millis(ms);
                }
                c.allow_direct = a.allow_direct;
                let info = api_raw(&js, &format!("STREAM.CREATE.{}", a.name), to_json(&c)?).await?;
                print_value(global, &info);
            }
            StreamCmd::Info { name } => {
                let info = api_raw(&js, &format!("STREAM.INFO.{name}"), Vec::new()).await?;
                print_value(global, &info);
            }
            StreamCmd::Ls => {
                let names = js.stream_names(None).await?;
                if global.json {
                    emit_json(&Streams { streams: &names });
                } else {
                    names.iter().for_each(|n| emit(n));
                }
            }
            StreamCmd::Rm { name } => {
                js.delete_stream(&name).await?;
                print_deleted(global, &format!("stream {name}"));
            }
            StreamCmd::Purge(a) => {
                let mut p = PurgeRequest::default();
                if let Some(s) = a.subject {
                    p = p.filter(s);
                }
                if let Some(seq) = a.seq {
                    p = p.up_to(seq);
                }
                if let Some(k) = a.keep {
                    p = p.keep(k);
                }
                let purged = js.purge_stream(&a.name, p).await?;
                if global.json {
                    emit_json(&Purged { purged });
                } else {
                    emit(&format!("purged {purged} message(s) from {}", a.name));
                }
            }
            StreamCmd::Get(a) => {
                let m = match (a.seq, &a.last_for) {
                    (Some(seq), _) => js.get_message(&a.name, seq).await?,
                    (None, Some(subject)) => js.get_last_message(&a.name, subject).await?,
                    (None, None) => unreachable!("clap requires SEQ or --last-for"),
                };
                print_stored(global, &m);
            }
        }
        Ok(())
    }

    /// `js pub`: N publishes, one ack line each, in publish order.
    pub(super) async fn publish(
        global: &Global,
        client: &Client,
        a: JsPubArgs,
    ) -> Result<(), Error> {
        let js = context(global, client);
        let body = body_arg(&a.body)?;
        let template = String::from_utf8(body.clone())
            .ok()
            .filter(|s| s.contains("{{Count}}"));
        let fixed = Bytes::from(body);
        let headers = header_map(&a.headers);
        let payload_for = |i: u64| match &template {
            Some(t) => Bytes::from(t.replace("{{Count}}", &i.to_string())),
            None => fixed.clone(),
        };
        let options_for = |i: u64| {
            let mut o = PublishOptions::default();
            if let Some(id) = &a.msg_id {
                o = o.msg_id(id.replace("{{Count}}", &i.to_string()));
            }
            if let Some(s) = &a.expect_stream {
                o = o.expected_stream(s.as_str());
            }
            if let Some(seq) = a.expect_last_seq {
                o = o.expected_last_sequence(seq);
            }
            if let Some(seq) = a.expect_last_subject_seq {
                o = o.expected_last_subject_sequence(seq);
            }
            if let Some(id) = &a.expect_last_msg_id {
                o = o.expected_last_msg_id(id.as_str());
            }
            if let Some(h) = &headers {
                o = o.headers(h.clone());
            }
            if let Some(ms) = a.timeout_ms {
                o = o.timeout(Duration::from_millis(ms));
            }
            o
        };
        if a.is_async {
            // Every publish is written, in order, before the first ack is
            // awaited (the context bounds the acks in flight).
            let mut pending = Vec::with_capacity(a.count as usize);
            for i in 1..=a.count {
                pending.push(
                    js.publish_async(a.subject.as_str(), payload_for(i), options_for(i))
                        .await?,
                );
            }
            for p in pending {
                print_ack(global, &p.ack().await?);
            }
        } else {
            for i in 1..=a.count {
                let ack = js
                    .publish_with(a.subject.as_str(), payload_for(i), options_for(i))
                    .await?;
                print_ack(global, &ack);
            }
        }
        Ok(())
    }

    pub(super) async fn consumer(
        global: &Global,
        client: &Client,
        cmd: ConsumerCmd,
        shutdown: Option<Shutdown>,
    ) -> Result<(), Error> {
        let js = context(global, client);
        match cmd {
            ConsumerCmd::Add(a) => {
                let info = add_consumer(&js, a).await?;
                print_value(global, &info);
            }
            ConsumerCmd::Info { stream, name } => {
                let info =
                    api_raw(&js, &format!("CONSUMER.INFO.{stream}.{name}"), Vec::new()).await?;
                print_value(global, &info);
            }
            ConsumerCmd::Ls { stream } => {
                let names = js.consumer_names(&stream).await?;
                if global.json {
                    emit_json(&Consumers { consumers: &names });
                } else {
                    names.iter().for_each(|n| emit(n));
                }
            }
            ConsumerCmd::Rm { stream, name } => {
                js.delete_consumer(&stream, &name).await?;
                print_deleted(global, &format!("consumer {stream} > {name}"));
            }
            ConsumerCmd::Next(a) => next(global, &js, a).await?,
            ConsumerCmd::Sub(a) => {
                let info = js.consumer_info(&a.stream, &a.name).await?;
                match info.config.deliver_subject.clone() {
                    Some(deliver) => {
                        let group = info.config.deliver_group.clone();
                        push_sub(global, client, a, &deliver, group.as_deref(), shutdown).await?;
                    }
                    None => pull_sub(global, client, &js, a, shutdown).await?,
                }
            }
            ConsumerCmd::Ordered(a) => ordered(global, &js, a, shutdown).await?,
        }
        Ok(())
    }

    async fn add_consumer(
        js: &js::Context,
        a: ConsumerAddArgs,
    ) -> Result<serde_json::Value, Error> {
        let mut c = ConsumerConfig::durable(a.name.clone());
        c.deliver_subject = a.deliver;
        c.deliver_group = a.queue;
        match a.filter.len() {
            0 => {}
            1 => c.filter_subject = a.filter.first().cloned(),
            _ => c.filter_subjects = a.filter,
        }
        c.ack_policy = match a.ack {
            AckArg::Explicit => AckPolicy::Explicit,
            AckArg::None => AckPolicy::None,
            AckArg::All => AckPolicy::All,
        };
        c.deliver_policy = match a.deliver_policy {
            DeliverArg::All => DeliverPolicy::All,
            DeliverArg::New => DeliverPolicy::New,
            DeliverArg::Last => DeliverPolicy::Last,
            DeliverArg::LastPerSubject => DeliverPolicy::LastPerSubject,
        };
        if let Some(seq) = a.start_seq {
            c.deliver_policy = DeliverPolicy::ByStartSequence;
            c.opt_start_seq = Some(seq);
        }
        if let Some(n) = a.max_deliver {
            c.max_deliver = n;
        }
        if let Some(n) = a.max_ack_pending {
            c.max_ack_pending = n;
        }
        if let Some(ms) = a.ack_wait_ms {
            c.ack_wait = Duration::from_millis(ms);
        }
        if let Some(ms) = a.inactive_threshold_ms {
            c.inactive_threshold = Duration::from_millis(ms);
        }
        if let Some(ms) = a.heartbeat_ms {
            c.idle_heartbeat = Duration::from_millis(ms);
        }
        c.flow_control = a.flow_control;
        // the subject the library's `create_consumer` uses
        let suffix = match &c.filter_subject {
            Some(f) => format!("CONSUMER.CREATE.{}.{}.{f}", a.stream, a.name),
            None => format!("CONSUMER.CREATE.{}.{}", a.stream, a.name),
        };
        let body = serde_json::json!({ "stream_name": a.stream, "config": c });
        api_raw(js, &suffix, to_json(&body)?).await
    }

    #[derive(Clone, Copy)]
    enum Action {
        Ack,
        NoAck,
        Nak,
        Term,
    }

    async fn act(m: &JsMsg, action: Action) -> Result<(), Error> {
        match action {
            Action::Ack => m.double_ack(js::DEFAULT_TIMEOUT).await,
            Action::NoAck => Ok(()),
            Action::Nak => m.nak(None).await,
            Action::Term => m.term(None).await,
        }
    }

    /// `consumer next`: fetches until N messages, `--expires-ms` or (with
    /// `--no-wait`) an empty pull.
    async fn next(global: &Global, js: &js::Context, a: ConsumerNextArgs) -> Result<(), Error> {
        let action = match (a.no_ack, a.nak, a.term) {
            (true, _, _) => Action::NoAck,
            (_, true, _) => Action::Nak,
            (_, _, true) => Action::Term,
            _ => Action::Ack,
        };
        let batch = a
            .batch
            .unwrap_or(usize::try_from(a.count).unwrap_or(usize::MAX))
            .clamp(1, 10_000);
        let deadline = Instant::now() + Duration::from_millis(a.expires_ms);
        let mut n = 0u64;
        while n < a.count {
            let wait = if a.no_wait {
                NO_WAIT
            } else {
                let left = deadline.saturating_duration_since(Instant::now());
                if left < Duration::from_millis(10) {
                    break;
                }
                left
            };
            let want = batch.min(usize::try_from(a.count - n).unwrap_or(usize::MAX));
            let msgs = js.fetch(&a.stream, &a.name, want, wait).await?;
            if msgs.is_empty() && a.no_wait {
                return Ok(());
            }
            for m in msgs {
                n += 1;
                print_js(global, n, &m.msg, m.info().ok().as_ref());
                act(&m, action).await?;
            }
        }
        if n < a.count {
            return Err(Error::with_source(
                ErrorKind::TimedOut,
                format!(
                    "{n} of {} message(s) before --expires-ms {} passed",
                    a.count, a.expires_ms
                ),
            ));
        }
        Ok(())
    }

    /// The reason a consumption ended before `--count`.
    async fn lost(client: &Client, n: u64) -> Error {
        let reason = if client.is_closed() {
            tokio::time::timeout(Duration::from_secs(1), client.closed())
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        reason.unwrap_or_else(|| {
            Error::with_source(
                ErrorKind::Closed,
                format!("the consumption ended after {n} message(s)"),
            )
        })
    }

    /// `consumer sub` on a pull consumer: the library's continuous pull.
    async fn pull_sub(
        global: &Global,
        client: &Client,
        js: &js::Context,
        a: ConsumerSubArgs,
        mut shutdown: Option<Shutdown>,
    ) -> Result<(), Error> {
        let batch = a.count.map_or(100, |c| c.clamp(1, 100) as usize);
        let mut msgs = js.consume(&a.stream, &a.name, ConsumeOptions::default().batch(batch));
        client.flush().await?;
        print_ready(
            global,
            "Consuming",
            &format!("{} > {}", a.stream, a.name),
            None,
        );
        if a.count == Some(0) {
            return Ok(());
        }
        let mut n = 0u64;
        let handle = |n: u64, m: &JsMsg| {
            print_js(global, n, &m.msg, m.info().ok().as_ref());
        };
        loop {
            let next = match shutdown.as_mut() {
                Some(s) => tokio::select! {
                    m = msgs.next() => m,
                    () = s.recv() => {
                        // drain: no more pulls; what already arrived is
                        // still printed and acked
                        msgs.handle().stop();
                        while let Ok(Some(m)) = tokio::time::timeout(Duration::ZERO, msgs.next()).await {
                            n += 1;
                            handle(n, &m);
                            if !a.no_ack {
                                m.ack().await?;
                            }
                            if a.count.is_some_and(|c| n >= c) {
                                break;
                            }
                        }
                        return Ok(());
                    }
                },
                None => msgs.next().await,
            };
            let Some(m) = next else {
                return Err(lost(client, n).await);
            };
            n += 1;
            handle(n, &m);
            if !a.no_ack {
                m.ack().await?;
            }
            if a.count.is_some_and(|c| n >= c) {
                return Ok(());
            }
        }
    }

    /// `consumer sub` on a push consumer: its deliver subject, flow control
    /// and heartbeats answered (the library has no push consumer).
    async fn push_sub(
        global: &Global,
        client: &Client,
        a: ConsumerSubArgs,
        deliver: &str,
        group: Option<&str>,
        shutdown: Option<Shutdown>,
    ) -> Result<(), Error> {
        let sub = client
            .subscribe_with(deliver, sub_options(group, None))
            .await?;
        client.flush().await?;
        print_ready(global, "Consuming", deliver, group);
        if a.count == Some(0) {
            return Ok(());
        }
        let stalled_to = client.clone();
        receive(client, sub, a.count, shutdown, |n, m| {
            if m.status() == Some(StatusCode::IDLE_HEARTBEAT) {
                if m.reply.is_some() {
                    // a flow control request
                    m.respond(Bytes::new())?;
                } else if let Some(s) = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Consumer-Stalled"))
                {
                    let (c, s) = (stalled_to.clone(), s.to_string());
                    actix_rt::spawn(async move {
                        let _ = c.publish(s, Bytes::new()).await;
                    });
                }
                return Ok(false);
            }
            if m.status().is_some() {
                return Ok(false);
            }
            let info = m.reply.as_deref().and_then(|r| MsgInfo::parse(r).ok());
            print_js(global, n, &m, info.as_ref());
            if !a.no_ack && info.is_some() {
                m.respond(Bytes::from_static(b"+ACK"))?;
            }
            Ok(true)
        })
        .await
    }

    /// `consumer ordered`: every message once, in order (the library's
    /// ordered consumer; `--start-seq` skips what comes before it).
    async fn ordered(
        global: &Global,
        js: &js::Context,
        a: ConsumerOrderedArgs,
        mut shutdown: Option<Shutdown>,
    ) -> Result<(), Error> {
        let mut oc = js.ordered(&a.stream, a.filter.as_deref());
        let mut ready = false;
        let mut n = 0u64;
        loop {
            let Some(next) = unless_stopped(&mut shutdown, oc.next()).await else {
                return Ok(());
            };
            let next = next?;
            if !ready {
                ready = true;
                print_ready(global, "Reading", &a.stream, None);
                if a.count == Some(0) {
                    return Ok(());
                }
            }
            let Some(m) = next else { continue };
            let info = m.info()?;
            if a.start_seq.is_some_and(|s| info.stream_seq < s) {
                continue;
            }
            n += 1;
            print_js(global, n, &m.msg, Some(&info));
            if a.count.is_some_and(|c| n >= c) {
                return Ok(());
            }
        }
    }
}
