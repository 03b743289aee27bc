//! A small command line client in the spirit of the `nats` CLI, built on
//! nats-actix (arguments parsed by hand).
//!
//! ```text
//! cargo run --example nats -- [GLOBAL] <command> [ARGS] [GLOBAL]
//!
//! global options (before or after the command):
//!   -s, --server URL     server(s); may repeat or be comma-separated
//!                        (default nats://127.0.0.1:4222)
//!   --json               machine-readable output, one JSON object per line
//!
//! commands:
//!   pub SUBJECT BODY [--count N] [-H KEY:VALUE]... [--reply SUBJ]
//!   sub SUBJECT [--queue Q] [--count N]
//!   req SUBJECT BODY [--timeout-ms T] [-H KEY:VALUE]...
//!   reply SUBJECT BODY [--queue Q] [--count N]
//!   bench pub|pubsub|req --size BYTES --count N
//! ```
//!
//! BODY `-` reads the body from stdin. With `--json`, messages print as
//! `{"subject","reply","headers":{name:[values]},"payload"}` and `sub` and
//! `reply` print `{"ready":true}` once the subscription is confirmed by the
//! server. Errors print `error: <typed error>` on stderr and exit 1 (usage
//! errors exit 2).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example nats -- sub 'greet.*' --count 1 &
//! cargo run --example nats -- pub greet.joe hello -H X-Id:1
//! cargo run --example nats -- --json bench req --size 128 --count 1000
//! ```

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use nats_actix::messages::SubscribeOptions;
use nats_actix::{
    Client, ConnectOptions, Error, ErrorKind, HeaderMap, Msg, Publish, RequestOptions,
};
use serde_json::{Map, Value, json};

const DEFAULT_SERVER: &str = "nats://127.0.0.1:4222";
const USAGE: &str = "usage: nats [-s URL]... [--json] <command> [args]

commands:
  pub SUBJECT BODY [--count N] [-H KEY:VALUE]... [--reply SUBJ]
  sub SUBJECT [--queue Q] [--count N]
  req SUBJECT BODY [--timeout-ms T] [-H KEY:VALUE]...
  reply SUBJECT BODY [--queue Q] [--count N]
  bench pub|pubsub|req --size BYTES --count N

BODY '-' reads the body from stdin.";

/// What went wrong: a usage mistake (exit 2) or a typed NATS error (exit 1).
enum Failure {
    Usage(String),
    Nats(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Nats(e)
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

struct Global {
    servers: Vec<String>,
    json: bool,
}

enum Command {
    Pub {
        subject: String,
        body: Vec<u8>,
        count: u64,
        headers: Option<HeaderMap>,
        reply: Option<String>,
    },
    Sub {
        subject: String,
        queue: Option<String>,
        count: Option<u64>,
    },
    Req {
        subject: String,
        body: Vec<u8>,
        timeout: Option<Duration>,
        headers: Option<HeaderMap>,
    },
    Reply {
        subject: String,
        body: Vec<u8>,
        queue: Option<String>,
        count: Option<u64>,
    },
    Bench {
        mode: BenchMode,
        size: usize,
        count: u64,
    },
}

#[derive(Clone, Copy)]
enum BenchMode {
    Pub,
    PubSub,
    Req,
}

impl BenchMode {
    fn name(self) -> &'static str {
        match self {
            BenchMode::Pub => "pub",
            BenchMode::PubSub => "pubsub",
            BenchMode::Req => "req",
        }
    }
}

// ---------------------------------------------------------------------------
// argument parsing
// ---------------------------------------------------------------------------

/// The options and positional arguments of a command.
#[derive(Default)]
struct Parsed {
    positional: Vec<String>,
    count: Option<u64>,
    queue: Option<String>,
    reply: Option<String>,
    timeout_ms: Option<u64>,
    size: Option<usize>,
    headers: Vec<(String, String)>,
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Failure> {
    v.parse()
        .map_err(|_| usage(format!("{flag}: not a valid number: {v:?}")))
}

/// Splits out the global options, wherever they are.
fn parse_global(args: Vec<String>) -> Result<(Global, Vec<String>), Failure> {
    let mut global = Global {
        servers: Vec::new(),
        json: false,
    };
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" | "--server" => {
                let v = it.next().ok_or_else(|| usage(format!("{a} needs a URL")))?;
                global.servers.push(v);
            }
            "--json" => global.json = true,
            _ if a.starts_with("--server=") => {
                global.servers.push(a["--server=".len()..].to_string())
            }
            _ => rest.push(a),
        }
    }
    if global.servers.is_empty() {
        global.servers.push(DEFAULT_SERVER.to_string());
    }
    Ok((global, rest))
}

/// Parses a command's arguments; `allowed` lists the options it takes.
fn parse_command_args(args: &[String], allowed: &[&str]) -> Result<Parsed, Failure> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let is_flag = flag.starts_with("--") || flag == "-H";
        if !is_flag {
            p.positional.push(a.clone());
            i += 1;
            continue;
        }
        let canonical = if flag == "-H" {
            "--header"
        } else {
            flag.as_str()
        };
        if !allowed.contains(&canonical) {
            return Err(usage(format!("unknown option {flag}")));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| usage(format!("{flag} needs a value")))?
            }
        };
        match canonical {
            "--count" => p.count = Some(number(&flag, &value)?),
            "--queue" => p.queue = Some(value),
            "--reply" => p.reply = Some(value),
            "--timeout-ms" => p.timeout_ms = Some(number(&flag, &value)?),
            "--size" => p.size = Some(number(&flag, &value)?),
            "--header" => {
                let (k, v) = value
                    .split_once(':')
                    .ok_or_else(|| usage(format!("-H wants KEY:VALUE, got {value:?}")))?;
                p.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            _ => unreachable!(),
        }
        i += 1;
    }
    Ok(p)
}

fn body_arg(arg: &str) -> Result<Vec<u8>, Failure> {
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Nats(Error::from(e)))?;
        Ok(buf)
    } else {
        Ok(arg.as_bytes().to_vec())
    }
}

fn header_map(pairs: Vec<(String, String)>) -> Option<HeaderMap> {
    if pairs.is_empty() {
        None
    } else {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k, v);
        }
        Some(h)
    }
}

fn positionals(p: &Parsed, names: &[&str], cmd: &str) -> Result<(), Failure> {
    if p.positional.len() != names.len() {
        return Err(usage(format!(
            "{cmd} takes {} (got {} arguments)",
            names.join(" "),
            p.positional.len()
        )));
    }
    Ok(())
}

fn parse_command(rest: &[String]) -> Result<Command, Failure> {
    let Some((cmd, args)) = rest.split_first() else {
        return Err(usage("missing command"));
    };
    match cmd.as_str() {
        "pub" => {
            let p = parse_command_args(args, &["--count", "--header", "--reply"])?;
            positionals(&p, &["SUBJECT", "BODY"], "pub")?;
            Ok(Command::Pub {
                subject: p.positional[0].clone(),
                body: body_arg(&p.positional[1])?,
                count: p.count.unwrap_or(1),
                headers: header_map(p.headers),
                reply: p.reply,
            })
        }
        "sub" => {
            let p = parse_command_args(args, &["--queue", "--count"])?;
            positionals(&p, &["SUBJECT"], "sub")?;
            Ok(Command::Sub {
                subject: p.positional[0].clone(),
                queue: p.queue,
                count: p.count,
            })
        }
        "req" | "request" => {
            let p = parse_command_args(args, &["--timeout-ms", "--header"])?;
            positionals(&p, &["SUBJECT", "BODY"], "req")?;
            Ok(Command::Req {
                subject: p.positional[0].clone(),
                body: body_arg(&p.positional[1])?,
                timeout: p.timeout_ms.map(Duration::from_millis),
                headers: header_map(p.headers),
            })
        }
        "reply" => {
            let p = parse_command_args(args, &["--queue", "--count"])?;
            positionals(&p, &["SUBJECT", "BODY"], "reply")?;
            Ok(Command::Reply {
                subject: p.positional[0].clone(),
                body: body_arg(&p.positional[1])?,
                queue: p.queue,
                count: p.count,
            })
        }
        "bench" => {
            let p = parse_command_args(args, &["--size", "--count"])?;
            positionals(&p, &["pub|pubsub|req"], "bench")?;
            let mode = match p.positional[0].as_str() {
                "pub" => BenchMode::Pub,
                "pubsub" => BenchMode::PubSub,
                "req" => BenchMode::Req,
                other => return Err(usage(format!("unknown bench mode {other:?}"))),
            };
            Ok(Command::Bench {
                mode,
                size: p.size.ok_or_else(|| usage("bench needs --size BYTES"))?,
                count: p.count.ok_or_else(|| usage("bench needs --count N"))?,
            })
        }
        other => Err(usage(format!("unknown command {other:?}"))),
    }
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

/// A JSON object with its keys in the given order (serde_json's `Map`
/// sorts them), as the CLI's documented shapes list them.
fn ordered(pairs: &[(&str, Value)]) -> String {
    let fields: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String((*k).to_string()), v))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn msg_json(m: &Msg) -> String {
    let mut headers = Map::new();
    if let Some(h) = &m.headers {
        for (name, value) in h {
            let entry = headers
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(value.to_string()));
            }
        }
    }
    ordered(&[
        ("subject", json!(m.subject.as_str())),
        ("reply", json!(m.reply.as_ref().map(|r| r.as_str()))),
        ("headers", Value::Object(headers)),
        ("payload", json!(String::from_utf8_lossy(&m.payload))),
    ])
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
        emit(&msg_json(m));
    } else {
        emit(&msg_human(n, m));
    }
}

fn print_ready(global: &Global, what: &str, subject: &str, queue: Option<&str>) {
    if global.json {
        emit(&json!({"ready": true}).to_string());
    } else {
        match queue {
            Some(q) => emit(&format!("{what} on \"{subject}\" (queue {q})")),
            None => emit(&format!("{what} on \"{subject}\"")),
        }
    }
}

// ---------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------

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

async fn run(global: &Global, cmd: Command) -> Result<(), Failure> {
    let client = Client::connect(
        ConnectOptions::new()
            .servers(&global.servers)
            .name("nats-actix-cli"),
    )
    .await?;
    let result = run_with(global, &client, cmd).await;
    // flush what is still buffered (replies sent with `respond`) and close
    let _ = client.flush().await;
    client.close().await?;
    result
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
) -> Result<Option<nats_actix::Subscriber>, Failure> {
    let sub = client
        .subscribe_with(subject, sub_options(queue, count))
        .await?;
    client.flush().await?;
    print_ready(global, what, subject, queue);
    Ok((count != Some(0)).then_some(sub))
}

async fn run_with(global: &Global, client: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Pub {
            subject,
            body,
            count,
            headers,
            reply,
        } => {
            let body = bytes::Bytes::from(body);
            for _ in 0..count {
                let mut p = Publish::new(subject.as_str(), body.clone());
                p.headers = headers.clone();
                if let Some(r) = &reply {
                    p = p.reply(r.as_str());
                }
                client.publish_msg(p).await?;
            }
            client.flush().await?;
            if !global.json {
                emit(&format!("published {count} message(s) to \"{subject}\""));
            }
            Ok(())
        }
        Command::Sub {
            subject,
            queue,
            count,
        } => {
            let Some(mut sub) = subscribe_ready(
                global,
                client,
                "Subscribed",
                &subject,
                queue.as_deref(),
                count,
            )
            .await?
            else {
                return Ok(());
            };
            let mut n = 0;
            while let Some(m) = sub.next_msg().await {
                n += 1;
                print_msg(global, n, &m);
                if count.is_some_and(|c| n >= c) {
                    break;
                }
            }
            match sub.end_reason() {
                Some(e) if count.is_none_or(|c| n < c) => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Req {
            subject,
            body,
            timeout,
            headers,
        } => {
            let mut opts = RequestOptions::default();
            if let Some(t) = timeout {
                opts = opts.timeout(t);
            }
            if let Some(h) = headers {
                opts = opts.headers(h);
            }
            let m = client.request_with(subject, body, opts).await?;
            if global.json {
                emit(&msg_json(&m));
            } else {
                emit(&String::from_utf8_lossy(&m.payload));
            }
            Ok(())
        }
        Command::Reply {
            subject,
            body,
            queue,
            count,
        } => {
            let Some(mut sub) = subscribe_ready(
                global,
                client,
                "Replying",
                &subject,
                queue.as_deref(),
                count,
            )
            .await?
            else {
                return Ok(());
            };
            let body = bytes::Bytes::from(body);
            let mut n = 0;
            while let Some(m) = sub.next_msg().await {
                n += 1;
                m.respond(body.clone())?;
                print_msg(global, n, &m);
                if count.is_some_and(|c| n >= c) {
                    break;
                }
            }
            Ok(())
        }
        Command::Bench { mode, size, count } => bench(global, client, mode, size, count).await,
    }
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

async fn bench(
    global: &Global,
    client: &Client,
    mode: BenchMode,
    size: usize,
    count: u64,
) -> Result<(), Failure> {
    let subject = format!("_bench.{}", nats_actix::nuid::next());
    let payload = bytes::Bytes::from(vec![b'x'; size]);
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
        BenchMode::PubSub => {
            let limit_msgs = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let limit_bytes = limit_msgs.saturating_mul(size.saturating_add(64));
            let mut sub = client
                .subscribe_with(
                    subject.as_str(),
                    SubscribeOptions::default().pending_limits(limit_msgs, limit_bytes),
                )
                .await?;
            client.flush().await?;
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
            match tokio::time::timeout(left, receiver).await {
                Ok(Ok((n, end))) if n == count => end.duration_since(start),
                Ok(_) => return Err(Error::new(ErrorKind::Closed).into()),
                Err(_) => return Err(Error::new(ErrorKind::TimedOut).into()),
            }
        }
        BenchMode::Req => {
            let mut svc = client.subscribe(subject.as_str()).await?;
            let replier = actix_rt::spawn(async move {
                while let Some(m) = svc.next_msg().await {
                    let _ = m.respond(m.payload.clone());
                }
            });
            client.flush().await?;
            latencies_us.reserve(usize::try_from(count).unwrap_or(0));
            let start = Instant::now();
            for _ in 0..count {
                let t = Instant::now();
                client.request(subject.as_str(), payload.clone()).await?;
                latencies_us.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let elapsed = start.elapsed();
            replier.abort();
            elapsed
        }
    };

    let secs = elapsed.as_secs_f64().max(1e-9);
    let msgs_per_s = count as f64 / secs;
    let mut out = vec![
        ("mode", json!(mode.name())),
        ("size", json!(size)),
        ("count", json!(count)),
        ("msgs_per_s", json!(round2(msgs_per_s))),
        ("mb_per_s", json!(round2(msgs_per_s * size as f64 / 1e6))),
    ];
    if let BenchMode::Req = mode {
        latencies_us.sort_by(f64::total_cmp);
        out.push(("p50_us", json!(round2(percentile(&latencies_us, 0.50)))));
        out.push(("p90_us", json!(round2(percentile(&latencies_us, 0.90)))));
        out.push(("p99_us", json!(round2(percentile(&latencies_us, 0.99)))));
    }
    let _ = global; // the result line is JSON in both output modes
    emit(&ordered(&out));
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") || args.first().is_some_and(|a| a == "help")
    {
        println!("{USAGE}");
        return;
    }
    let parsed = parse_global(args).and_then(|(g, rest)| Ok((g, parse_command(&rest)?)));
    let code = match parsed {
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            2
        }
        Err(Failure::Nats(e)) => {
            eprintln!("error: {e}");
            1
        }
        Ok((global, cmd)) => {
            let result = actix_rt::System::new().block_on(run(&global, cmd));
            match result {
                Ok(()) => 0,
                Err(Failure::Usage(msg)) => {
                    eprintln!("error: {msg}");
                    2
                }
                Err(Failure::Nats(e)) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}
