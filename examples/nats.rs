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
//! ```
//!
//! BODY `-` reads the body from stdin; `{{Count}}` in a `pub` BODY becomes
//! the message's number, from 1. With `--json`, messages print as
//! `{"subject","reply","headers":{name:[values]},"payload"}` and `sub` and
//! `reply` print `{"ready":true}` once the subscription is confirmed by the
//! server. With `--events`, status events print as JSON lines on stderr.
//! Errors print `error: <typed error>` on stderr and exit 1 (usage errors
//! exit 2). SIGINT or SIGTERM makes `sub` and `reply` drain and exit 0.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example nats -- sub 'greet.*' --count 1 &
//! cargo run --example nats -- pub greet.joe hello -H X-Id:1
//! cargo run --example nats -- --json bench req --size 128 --count 1000
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
}

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
        Cmd::Sub(_) | Cmd::Reply(_) => Some(Shutdown::new()?),
        _ => None,
    };
    let printer = global.events.then(|| EventPrinter.start());
    let connecting = connect(global, printer.as_ref());
    let client = match shutdown.as_mut() {
        Some(s) => tokio::select! {
            c = connecting => c?,
            // nothing received yet, so nothing to drain
            () = s.recv() => return Ok(()),
        },
        None => connecting.await?,
    };
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
                Ok(())
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
                Ok(())
            })
            .await
        }
        Cmd::Bench(a) => bench(global, client, a).await,
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

/// Hands every message to `handle` until `count` messages, a signal (then
/// it drains: what was already received is still handled) or the end of
/// the subscription, which is an error unless it was the drain.
async fn receive(
    client: &Client,
    mut sub: Subscriber,
    count: Option<u64>,
    mut shutdown: Option<Shutdown>,
    mut handle: impl FnMut(u64, Msg) -> Result<(), Error>,
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
                                    n += 1;
                                    handle(n, m)?;
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
        n += 1;
        handle(n, m)?;
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
