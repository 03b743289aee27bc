//! `micro serve|ping|info|stats`: the Service API (ADR-32) part of the CLI.

use std::time::Duration;

use clap::{Args, Subcommand};
use nats_actix::service::discovery::Verb;
use nats_actix::service::{Discovery, EndpointConfig, EndpointHandler, Service};
use nats_actix::{Client, Error, ErrorKind, Msg};

use super::{Global, Header, Ready, Shutdown, emit, emit_json, parse_header, print_msg};

/// Service API commands
#[derive(Subcommand, Debug)]
pub(crate) enum MicroCmd {
    /// Run a service whose endpoints echo the request (`fail` gets error 500)
    Serve(ServeArgs),
    /// Ping services: all, by name, or one instance
    Ping(FindArgs),
    /// Services' descriptions and endpoints
    Info(FindArgs),
    /// Services' endpoint statistics
    Stats(FindArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The service name
    name: String,
    /// SemVer version
    #[arg(long = "version", value_name = "SEMVER")]
    semver: String,
    /// Description
    #[arg(long, value_name = "D")]
    description: Option<String>,
    /// Metadata entry; may repeat
    #[arg(long, value_name = "K:V", value_parser = parse_header)]
    metadata: Vec<Header>,
    /// Queue group (default `q`)
    #[arg(long, value_name = "Q", conflicts_with = "no_queue")]
    queue: Option<String>,
    /// No queue group: every instance gets every request
    #[arg(long)]
    no_queue: bool,
    /// An endpoint: NAME, or NAME=SUBJECT; may repeat
    #[arg(long, value_name = "NAME[=SUBJECT]", required = true)]
    endpoint: Vec<String>,
    /// Put the endpoints under this subject prefix
    #[arg(long, value_name = "PREFIX")]
    group: Option<String>,
    /// Exit after N requests across all endpoints
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct FindArgs {
    /// Only services of this name
    name: Option<String>,
    /// Only this instance (needs NAME)
    id: Option<String>,
    /// How long to gather answers
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    wait_ms: u64,
}

pub(crate) async fn run(
    global: &Global,
    client: &Client,
    cmd: MicroCmd,
    shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    match cmd {
        MicroCmd::Serve(a) => serve(global, client, a, shutdown).await,
        MicroCmd::Ping(a) => find(global, client, Verb::Ping, a).await,
        MicroCmd::Info(a) => find(global, client, Verb::Info, a).await,
        MicroCmd::Stats(a) => find(global, client, Verb::Stats, a).await,
    }
}

/// Answers one request: an echo, or the service error 500 for `fail`.
fn echo_handler(tx: tokio::sync::mpsc::UnboundedSender<Msg>) -> EndpointHandler {
    EndpointHandler::func(move |req| {
        let tx = tx.clone();
        async move {
            let sent = if req.payload().as_ref() == b"fail" {
                req.respond_error(500, "requested failure")
            } else {
                req.respond(req.payload().clone())
            };
            if let Err(e) = sent {
                eprintln!("warning: reply not sent: {e}");
            }
            let _ = tx.send(req.msg().clone());
        }
    })
}

async fn serve(
    global: &Global,
    client: &Client,
    a: ServeArgs,
    mut shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    let mut b = client.service_builder().name(&a.name).version(&a.semver);
    if let Some(d) = &a.description {
        b = b.description(d);
    }
    for Header(k, v) in &a.metadata {
        b = b.metadata(k, v);
    }
    if a.no_queue {
        b = b.no_queue_group();
    } else if let Some(q) = &a.queue {
        b = b.queue_group(q);
    }
    let svc: Service = b.start().await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let group = match &a.group {
        Some(g) => Some(svc.add_group(g)?),
        None => None,
    };
    for e in &a.endpoint {
        let cfg = match e.split_once('=') {
            Some((name, subject)) => EndpointConfig::new(name).subject(subject),
            None => EndpointConfig::new(e.as_str()),
        };
        match &group {
            Some(g) => g.add_endpoint(cfg, echo_handler(tx.clone())).await?,
            None => svc.add_endpoint(cfg, echo_handler(tx.clone())).await?,
        }
    }
    drop(tx);
    if global.json {
        emit_json(&Ready { ready: true });
    } else {
        let subjects: Vec<String> = svc
            .info()
            .endpoints
            .iter()
            .map(|e| e.subject.clone())
            .collect();
        emit(&format!(
            "Service {} {} ({}) on {}",
            svc.name(),
            svc.version(),
            svc.id(),
            subjects.join(", ")
        ));
    }
    let mut n = 0u64;
    if a.count == Some(0) {
        return Ok(());
    }
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else {
                    return Err(Error::with_source(ErrorKind::Closed, "the service ended"));
                };
                n += 1;
                print_msg(global, n, &m);
                if a.count.is_some_and(|c| n >= c) {
                    return Ok(());
                }
            }
            () = async {
                match shutdown.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                // Drain: take nothing new, answer what was accepted.
                let drained = svc.drain().await;
                while let Ok(m) = rx.try_recv() {
                    n += 1;
                    print_msg(global, n, &m);
                }
                return drained;
            }
            reason = client.closed() => {
                return Err(reason.unwrap_or_else(|| {
                    Error::with_source(ErrorKind::Closed, "the connection closed before --count requests")
                }));
            }
        }
    }
}

/// `micro ping|info|stats`: one line per answering instance.
async fn find(global: &Global, client: &Client, verb: Verb, a: FindArgs) -> Result<(), Error> {
    let d = Discovery::new(client.clone()).max_wait(Duration::from_millis(a.wait_ms));
    let msgs = d.request(verb, a.name.as_deref(), a.id.as_deref()).await?;
    for m in msgs {
        if global.json {
            // The document as the service sent it, on one line.
            let text = String::from_utf8_lossy(&m.payload).replace(['\r', '\n'], "");
            emit(&text);
        } else {
            emit(&human(verb, &m));
        }
    }
    Ok(())
}

fn human(verb: Verb, m: &Msg) -> String {
    let v: serde_json::Value = match m.json() {
        Ok(v) => v,
        Err(_) => return String::from_utf8_lossy(&m.payload).into_owned(),
    };
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let head = format!("{} {} {}", s("name"), s("id"), s("version"));
    let eps = v["endpoints"].as_array().cloned().unwrap_or_default();
    match verb {
        Verb::Ping => head,
        Verb::Info => {
            let list: Vec<String> = eps
                .iter()
                .map(|e| {
                    format!(
                        "{} on {} (queue {})",
                        e["name"].as_str().unwrap_or_default(),
                        e["subject"].as_str().unwrap_or_default(),
                        e["queue_group"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("{head} \"{}\": {}", s("description"), list.join(", "))
        }
        Verb::Stats => {
            let list: Vec<String> = eps
                .iter()
                .map(|e| {
                    format!(
                        "{}: {} requests, {} errors, avg {} ns",
                        e["name"].as_str().unwrap_or_default(),
                        e["num_requests"].as_u64().unwrap_or(0),
                        e["num_errors"].as_u64().unwrap_or(0),
                        e["average_processing_time"].as_u64().unwrap_or(0)
                    )
                })
                .collect();
            format!("{head} started {}: {}", s("started"), list.join("; "))
        }
    }
}
