//! The Service API (ADR-32) against real nats-server processes: load
//! sharing through the queue group, errors and exact statistics,
//! discovery of every instance (all, by name, by name and id), the JSON
//! documents field by field, discovery that never stops, a server
//! restart, drain, and validation.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use nats_actix::service::discovery::Verb;
use nats_actix::service::{
    Discovery, EndpointConfig, EndpointHandler, Service, ServiceError, ServiceReply,
    ServiceRequest, validate_name, validate_version,
};
use nats_actix::{Client, ConnectOptions, ErrorKind, RequestManyOptions};
use serde_json::Value;
use support::NatsServer;
use support::events::{event_sink, is_reconnected, next_of};

const LIMIT: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_secs(1);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn connect(server: &NatsServer) -> Client {
    within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1),
    ))
    .await
    .expect("connect")
}

/// Answers with its tag by its result; `fail` gets the service error 500.
struct Worker {
    tag: String,
    handled: Arc<AtomicUsize>,
}

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<ServiceRequest> for Worker {
    type Result = ServiceReply;
    fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
        self.handled.fetch_add(1, Ordering::SeqCst);
        if req.payload().as_ref() == b"fail" {
            return req.reply::<&str>(Err(ServiceError::new(500, "requested failure")));
        }
        let tag = self.tag.clone();
        req.reply(Ok(tag))
    }
}

fn worker(tag: &str) -> (Addr<Worker>, Arc<AtomicUsize>) {
    let handled = Arc::new(AtomicUsize::new(0));
    let addr = Worker {
        tag: tag.to_string(),
        handled: handled.clone(),
    }
    .start();
    (addr, handled)
}

async fn start(client: &Client, name: &str) -> Service {
    within(
        client
            .service_builder()
            .name(name)
            .version("1.2.3")
            .description("a test service")
            .metadata("team", "core")
            .start(),
    )
    .await
    .expect("start service")
}

#[actix_rt::test]
async fn queue_group_shares_load_across_three_instances() {
    let server = NatsServer::start();
    let mut services = Vec::new();
    let mut counters = Vec::new();
    for i in 0..3 {
        let client = connect(&server).await;
        let svc = start(&client, "shared").await;
        let (addr, handled) = worker(&format!("w{i}"));
        within(svc.add_endpoint("work", addr))
            .await
            .expect("endpoint");
        services.push(svc);
        counters.push(handled);
    }
    let requester = connect(&server).await;
    let n = 300;
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for _ in 0..n {
        let reply = within(requester.request("work", "x"))
            .await
            .expect("request");
        *seen
            .entry(reply.payload_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(seen.values().sum::<usize>(), n);
    assert_eq!(seen.len(), 3, "every instance answered: {seen:?}");
    let handled: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(handled.iter().sum::<usize>(), n);
    assert!(handled.iter().all(|&h| h > 0), "{handled:?}");
    // Each instance's stats count what it handled; the queue group is `q`.
    for (svc, h) in services.iter().zip(&handled) {
        let st = svc.stats();
        assert_eq!(st.endpoints[0].num_requests, *h as u64);
        assert_eq!(st.endpoints[0].queue_group, "q");
    }
    // Discovery finds every instance.
    let found = within(
        Discovery::new(requester.clone())
            .max_wait(WAIT)
            .ping(Some("shared"), None),
    )
    .await
    .expect("ping");
    let mut ids: Vec<String> = found.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    let mut want: Vec<String> = services.iter().map(|s| s.id().to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[actix_rt::test]
async fn errors_are_counted_and_stats_are_exact_after_n_requests() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "calc").await;
    let (addr, _) = worker("ok");
    within(svc.add_endpoint(EndpointConfig::new("do").subject("calc.do"), addr))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    for _ in 0..40 {
        let r = within(requester.request("calc.do", "x"))
            .await
            .expect("ok request");
        assert_eq!(r.payload_str().unwrap(), "ok");
        assert!(ServiceError::of(&r).is_none());
    }
    for _ in 0..7 {
        let r = within(requester.request("calc.do", "fail"))
            .await
            .expect("failing request");
        let h = r.headers.as_ref().expect("error headers");
        assert_eq!(h.get("Nats-Service-Error-Code"), Some("500"));
        assert_eq!(h.get("Nats-Service-Error"), Some("requested failure"));
        assert_eq!(
            ServiceError::of(&r),
            Some(ServiceError::new(500, "requested failure"))
        );
    }
    let st = svc.stats();
    let e = &st.endpoints[0];
    assert_eq!((e.name.as_str(), e.subject.as_str()), ("do", "calc.do"));
    assert_eq!(e.num_requests, 47);
    assert_eq!(e.num_errors, 7);
    assert_eq!(e.last_error, "500:requested failure");
    assert!(e.processing_time > 0);
    assert_eq!(e.average_processing_time, e.processing_time / 47);
    // The same over the wire.
    let remote = within(
        Discovery::new(requester.clone())
            .max_wait(WAIT)
            .stats(Some("calc"), Some(svc.id())),
    )
    .await
    .expect("stats");
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].endpoints[0].num_requests, 47);
    assert_eq!(remote[0].endpoints[0].num_errors, 7);
    assert_eq!(remote[0].endpoints[0].last_error, "500:requested failure");
    // Reset.
    svc.reset();
    let e = &svc.stats().endpoints[0];
    assert_eq!((e.num_requests, e.num_errors, e.processing_time), (0, 0, 0));
    assert_eq!(e.last_error, "");
}

#[actix_rt::test]
async fn discovery_finds_every_instance_by_all_name_and_id() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let a1 = start(&client, "alpha").await;
    let a2 = start(&client, "alpha").await;
    let b = start(&client, "beta").await;
    let d = Discovery::new(connect(&server).await).max_wait(WAIT);

    let ids = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v
    };
    let all = within(d.ping(None, None)).await.expect("ping all");
    assert_eq!(
        ids(all.iter().map(|p| p.id.clone()).collect()),
        ids(vec![a1.id().into(), a2.id().into(), b.id().into()])
    );
    let alpha = within(d.info(Some("alpha"), None))
        .await
        .expect("info alpha");
    assert_eq!(
        ids(alpha.iter().map(|p| p.id.clone()).collect()),
        ids(vec![a1.id().into(), a2.id().into()])
    );
    assert!(
        alpha
            .iter()
            .all(|i| i.name == "alpha" && i.description == "a test service")
    );
    let one = within(d.stats(Some("alpha"), Some(a2.id())))
        .await
        .expect("stats one");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].id, a2.id());
    let beta = within(d.ping(Some("beta"), Some(b.id())))
        .await
        .expect("ping beta");
    assert_eq!(beta.len(), 1);
    // Nobody there: an empty list, not an error.
    let none = within(d.ping(Some("gamma"), None))
        .await
        .expect("ping gamma");
    assert!(none.is_empty());
    // An id needs a name.
    let err = within(d.ping(None, Some("x")))
        .await
        .expect_err("id without name");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

/// Every JSON object of `raw` in the order it opens, with its depth
/// (the top level is 1) and its keys in the order they appear on the wire.
fn objects_in_order(raw: &[u8]) -> Vec<(usize, Vec<String>)> {
    let text = std::str::from_utf8(raw).expect("utf-8");
    let mut done = Vec::new();
    // Stack of open containers: Some(index into `done`) for objects.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let (mut in_str, mut esc, mut start) = (false, false, 0);
    for (i, c) in text.bytes().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
                if text[i + 1..].trim_start().starts_with(':')
                    && let Some(Some(obj)) = stack.last()
                {
                    let key = text[start..i].to_string();
                    let entry: &mut (usize, Vec<String>) = &mut done[*obj];
                    entry.1.push(key);
                }
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                start = i + 1;
            }
            b'{' => {
                done.push((stack.len() + 1, Vec::new()));
                stack.push(Some(done.len() - 1));
            }
            b'[' => stack.push(None),
            b'}' | b']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    done
}

fn keys_in_order(raw: &[u8]) -> Vec<String> {
    objects_in_order(raw).swap_remove(0).1
}

/// The keys of each endpoint object (depth 3: top, array, endpoint).
fn endpoint_keys(raw: &[u8]) -> Vec<Vec<String>> {
    objects_in_order(raw)
        .into_iter()
        .filter(|(d, _)| *d == 3)
        .map(|(_, k)| k)
        .collect()
}

fn object_keys(v: &Value) -> Vec<String> {
    v.as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect::<Vec<_>>()
}

#[actix_rt::test]
async fn json_documents_match_the_adr32_schema_field_by_field() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = within(
        client
            .service_builder()
            .name("schema")
            .version("2.0.0-rc.1+b7")
            .description("checks the schema")
            .metadata("k", "v")
            .stats_data(|ep| serde_json::json!({ "seen": ep }))
            .start(),
    )
    .await
    .expect("start");
    let (addr, _) = worker("x");
    within(svc.add_endpoint(EndpointConfig::new("ep").metadata("m", "1"), addr))
        .await
        .expect("endpoint");
    within(svc.add_group("g").unwrap().no_queue_group().add_endpoint(
        "plain",
        EndpointHandler::func(|req| async move {
            let _ = req.respond("");
        }),
    ))
    .await
    .expect("endpoint");
    let requester = connect(&server).await;
    within(requester.request("ep", "a")).await.expect("request");
    let d = Discovery::new(requester.clone()).max_wait(WAIT);

    let raw = |verb| {
        let d = d.clone();
        let id = svc.id().to_string();
        async move {
            let msgs = within(d.request(verb, Some("schema"), Some(&id)))
                .await
                .expect("discovery");
            assert_eq!(msgs.len(), 1);
            msgs[0].payload.clone()
        }
    };
    let common = ["type", "name", "id", "version", "metadata"];

    // PING
    let body = raw(Verb::Ping).await;
    assert_eq!(keys_in_order(&body), common);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "io.nats.micro.v1.ping_response");
    assert_eq!(v["name"], "schema");
    assert_eq!(v["id"], svc.id());
    assert_eq!(v["version"], "2.0.0-rc.1+b7");
    assert_eq!(v["metadata"], serde_json::json!({ "k": "v" }));

    // INFO
    let body = raw(Verb::Info).await;
    let mut want: Vec<&str> = common.to_vec();
    want.extend(["description", "endpoints"]);
    assert_eq!(keys_in_order(&body), want);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "io.nats.micro.v1.info_response");
    assert_eq!(v["description"], "checks the schema");
    let eps = v["endpoints"].as_array().expect("endpoints");
    assert_eq!(eps.len(), 2);
    let ek = endpoint_keys(&body);
    assert_eq!(ek.len(), 2);
    for k in ek {
        assert_eq!(k, ["name", "subject", "queue_group", "metadata"]);
    }
    assert_eq!(eps[0]["name"], "ep");
    assert_eq!(eps[0]["subject"], "ep");
    assert_eq!(eps[0]["queue_group"], "q");
    assert_eq!(eps[0]["metadata"], serde_json::json!({ "m": "1" }));
    assert_eq!(eps[1]["name"], "plain");
    assert_eq!(eps[1]["subject"], "g.plain");
    assert_eq!(eps[1]["queue_group"], "");
    assert_eq!(eps[1]["metadata"], serde_json::json!({}));

    // STATS
    let body = raw(Verb::Stats).await;
    let mut want: Vec<&str> = common.to_vec();
    want.extend(["endpoints", "started"]);
    assert_eq!(keys_in_order(&body), want);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "io.nats.micro.v1.stats_response");
    assert_eq!(v["metadata"], serde_json::json!({ "k": "v" }));
    let started = v["started"].as_str().expect("started");
    assert!(started.ends_with('Z'), "{started}");
    humantime::parse_rfc3339(started).expect("RFC 3339");
    let eps = v["endpoints"].as_array().expect("endpoints");
    let e = &eps[0];
    assert_eq!(
        endpoint_keys(&body)[0],
        [
            "name",
            "subject",
            "queue_group",
            "num_requests",
            "num_errors",
            "last_error",
            "data",
            "processing_time",
            "average_processing_time"
        ]
    );
    assert_eq!(object_keys(e).len(), 9);
    assert_eq!(e["name"], "ep");
    assert_eq!(e["subject"], "ep");
    assert_eq!(e["queue_group"], "q");
    assert_eq!(e["num_requests"], 1);
    assert_eq!(e["num_errors"], 0);
    assert_eq!(e["last_error"], "");
    assert_eq!(e["data"], serde_json::json!({ "seen": "ep" }));
    assert!(e["processing_time"].as_u64().expect("ns") > 0);
    assert_eq!(e["average_processing_time"], e["processing_time"]);
}

#[actix_rt::test]
async fn discovery_without_reply_subject_is_skipped_and_discovery_carries_on() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "sturdy").await;
    let other = connect(&server).await;
    // Three verbs with no reply subject, to all and to the name.
    for s in ["$SRV.PING", "$SRV.INFO.sturdy", "$SRV.STATS"] {
        within(other.publish(s, "")).await.expect("publish");
    }
    within(other.flush()).await.expect("flush");
    // Still answers; the server delivered the bad ones first.
    let d = Discovery::new(other.clone()).max_wait(WAIT);
    for verb in Verb::ALL {
        let got = within(d.request(verb, Some("sturdy"), Some(svc.id())))
            .await
            .expect("discovery");
        assert_eq!(got.len(), 1, "{verb:?} answered");
    }
    assert_eq!(svc.discovery_skipped(), 3);
}

#[actix_rt::test]
async fn service_keeps_answering_across_a_server_restart() {
    let mut server = NatsServer::start();
    let (events, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1)
            .event_recipient(events),
    ))
    .await
    .expect("connect");
    let svc = start(&client, "phoenix").await;
    let (addr, _) = worker("alive");
    within(svc.add_endpoint("phoenix", addr))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    assert_eq!(
        within(requester.request("phoenix", ""))
            .await
            .expect("before")
            .payload_str()
            .unwrap(),
        "alive"
    );
    server.restart();
    next_of(&mut rx, is_reconnected).await;
    // Our reconnect replayed the SUBs; the requester may still be
    // reconnecting: retry its request until it gets through.
    within(async {
        loop {
            match requester.request("phoenix", "").await {
                Ok(r) => {
                    assert_eq!(r.payload_str().unwrap(), "alive");
                    break;
                }
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::TimedOut | ErrorKind::NoResponders | ErrorKind::Disconnected
                    ),
                    "{e}"
                ),
            }
        }
    })
    .await;
    within(client.flush()).await.expect("flush");
    let found = within(
        Discovery::new(requester.clone())
            .max_wait(WAIT)
            .ping(Some("phoenix"), None),
    )
    .await
    .expect("ping");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, svc.id());
    assert!(svc.stats().endpoints[0].num_requests >= 2);
}

/// Holds each request for a while before answering.
struct Slow;
impl Actor for Slow {
    type Context = Context<Self>;
}
impl Handler<ServiceRequest> for Slow {
    type Result = ServiceReply;
    fn handle(&mut self, req: ServiceRequest, ctx: &mut Context<Self>) -> ServiceReply {
        ctx.run_later(Duration::from_millis(20), move |_, _| {
            let body = req.payload().clone();
            let _ = req.respond(body);
        });
        ServiceReply::done()
    }
}

/// `n` requests to the `slow` endpoint, waiting until the service has
/// accepted (counted) them all; the tasks end with their replies.
async fn slow_requests_accepted(
    requester: &Client,
    svc: &Service,
    n: u64,
) -> Vec<actix_rt::task::JoinHandle<nats_actix::Result<nats_actix::Msg>>> {
    let mut waiting = Vec::new();
    for i in 0..n {
        let r = requester.clone();
        waiting.push(actix_rt::spawn(async move {
            r.request_with(
                "slow",
                format!("{i}"),
                nats_actix::RequestOptions::default().timeout(Duration::from_secs(10)),
            )
            .await
        }));
    }
    // Every request has reached the service (counted on arrival).
    within(async {
        while svc.stats().endpoints[0].num_requests < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    waiting
}

#[actix_rt::test]
async fn drained_service_answers_every_request_it_accepted() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "drainer").await;
    within(svc.add_endpoint("slow", Slow.start()))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    let waiting = slow_requests_accepted(&requester, &svc, 20).await;
    within(svc.drain()).await.expect("drain");
    assert!(svc.is_stopped());
    within(svc.stopped()).await;
    for (i, w) in waiting.into_iter().enumerate() {
        let reply = within(w).await.expect("task").expect("answered");
        assert_eq!(reply.payload_str().unwrap(), i.to_string());
    }
    // Gone: no endpoint, no discovery.
    let err = within(requester.request("slow", "x"))
        .await
        .expect_err("drained");
    assert_eq!(err.kind(), ErrorKind::NoResponders);
    let none = within(
        Discovery::new(requester.clone())
            .max_wait(WAIT)
            .ping(Some("drainer"), None),
    )
    .await
    .expect("ping");
    assert!(none.is_empty());
}

#[actix_rt::test]
async fn groups_queue_choices_and_closure_handlers() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = within(
        client
            .service_builder()
            .name("layout")
            .version("0.0.1")
            .queue_group("svcq")
            .start(),
    )
    .await
    .expect("start");
    let v1 = svc
        .add_group("api")
        .unwrap()
        .add_group("v1")
        .unwrap()
        .queue_group("grpq");
    within(v1.add_endpoint(
        "echo",
        EndpointHandler::func(|req| async move {
            let body = req.payload().clone();
            req.reply(Ok(body))
        }),
    ))
    .await
    .expect("echo");
    within(
        v1.add_endpoint(
            EndpointConfig::new("json")
                .subject("j.*")
                .queue_group("epq"),
            EndpointHandler::func(|req| async move {
                let _ = req.respond_json(&serde_json::json!({ "subject": req.subject().as_str() }));
            }),
        ),
    )
    .await
    .expect("json");
    within(svc.add_endpoint(EndpointConfig::new("top").no_queue_group(), worker("t").0))
        .await
        .expect("top");
    within(svc.add_endpoint("dflt", worker("d").0))
        .await
        .expect("dflt");

    let info = svc.info();
    let got: Vec<(&str, &str, &str)> = info
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.subject.as_str(), e.queue_group.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("echo", "api.v1.echo", "grpq"),
            ("json", "api.v1.j.*", "epq"),
            ("top", "top", ""),
            ("dflt", "dflt", "svcq"),
        ]
    );
    let requester = connect(&server).await;
    let r = within(requester.request("api.v1.echo", "hi"))
        .await
        .expect("echo");
    assert_eq!(r.payload_str().unwrap(), "hi");
    let r = within(requester.request("api.v1.j.k", ""))
        .await
        .expect("json");
    let v: Value = r.json().unwrap();
    assert_eq!(v["subject"], "api.v1.j.k");
    assert_eq!(svc.stats().endpoints[1].num_requests, 1);
    // The connection's subscriptions use those queue groups.
    let connz = server.http_get_json("/connz?subs=detail");
    let subs: Vec<(String, String)> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["subscriptions_list_detail"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| {
            (
                s["subject"].as_str().unwrap_or("").to_string(),
                s["qgroup"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("api.v1.echo", "grpq"),
        ("api.v1.j.*", "epq"),
        ("top", ""),
        ("dflt", "svcq"),
    ] {
        assert!(
            subs.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {subs:?}"
        );
    }
    // Stop: nothing answers any more.
    within(svc.stop()).await.expect("stop");
    let err = within(requester.request("dflt", ""))
        .await
        .expect_err("stopped");
    assert_eq!(err.kind(), ErrorKind::NoResponders);
    let err = within(svc.add_endpoint("late", worker("l").0))
        .await
        .expect_err("stopped");
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[actix_rt::test]
async fn names_versions_and_subjects_are_validated() {
    for ok in ["calc", "Calc-2_x", "0"] {
        assert!(validate_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a.b", "a b", "a*", "ä", "$SRV"] {
        assert_eq!(
            validate_name(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{bad}"
        );
    }
    for ok in [
        "0.0.0",
        "1.2.3",
        "10.20.30-alpha.1",
        "1.0.0+build.11.e0f985a",
        "1.0.0-0.3.7",
        "1.0.0-x-y-z.--",
    ] {
        assert!(validate_version(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.3-",
        "1.2.3-01",
        "1.2.3+",
        "v1.2.3",
        "1.2.3-a..b",
    ] {
        assert_eq!(
            validate_version(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{bad}"
        );
    }

    let server = NatsServer::start();
    let client = connect(&server).await;
    let err = within(
        client
            .service_builder()
            .name("bad.name")
            .version("1.0.0")
            .start(),
    )
    .await
    .expect_err("bad name");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("bad.name"), "{err}");
    let err = within(client.service_builder().name("ok").version("1.0").start())
        .await
        .expect_err("bad version");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("1.0"), "{err}");
    let err = within(
        client
            .service_builder()
            .name("ok")
            .version("1.0.0")
            .queue_group("a b")
            .start(),
    )
    .await
    .expect_err("bad queue");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let svc = start(&client, "valid").await;
    assert_eq!(
        svc.add_group("a.>").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        svc.add_group("a..b").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let err = within(svc.add_endpoint("bad name", worker("x").0))
        .await
        .expect_err("endpoint name");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = within(svc.add_endpoint(EndpointConfig::new("e").subject("a..b"), worker("x").0))
        .await
        .expect_err("endpoint subject");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(svc.info().endpoints.is_empty());
}

#[actix_rt::test]
async fn dropped_request_counts_time_but_no_error_and_request_many_sees_no_answer() {
    struct Dropper;
    impl Actor for Dropper {
        type Context = Context<Self>;
    }
    impl Handler<ServiceRequest> for Dropper {
        type Result = ServiceReply;
        fn handle(&mut self, _req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
            ServiceReply::done()
        }
    }
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "dropper").await;
    within(svc.add_endpoint("drop", Dropper.start()))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    let got = within(requester.request_many(
        "drop",
        "",
        RequestManyOptions::default().max_wait(Duration::from_millis(200)),
    ))
    .await
    .expect("request many");
    assert!(got.is_empty());
    let e = &svc.stats().endpoints[0];
    assert_eq!((e.num_requests, e.num_errors), (1, 0));
    assert!(e.processing_time > 0);
}

#[actix_rt::test]
async fn documents_interoperate_with_async_nats_services() {
    use futures_core::Stream;
    use std::pin::Pin;

    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "ours").await;
    let (addr, _) = worker("x");
    within(svc.add_endpoint("ep", addr))
        .await
        .expect("endpoint");
    within(client.request("ep", "fail")).await.expect("request");
    let d = Discovery::new(client.clone()).max_wait(WAIT);

    // async-nats's own types read our documents.
    let one = |verb| {
        let d = d.clone();
        let id = svc.id().to_string();
        async move {
            let v = within(d.request(verb, Some("ours"), Some(&id)))
                .await
                .expect("discovery");
            assert_eq!(v.len(), 1);
            v[0].payload.clone()
        }
    };
    let p: async_nats::service::PingResponse =
        serde_json::from_slice(&one(Verb::Ping).await).expect("async-nats reads PING");
    assert_eq!((p.name.as_str(), p.id.as_str()), ("ours", svc.id()));
    assert_eq!(p.metadata.get("team").map(String::as_str), Some("core"));
    let i: async_nats::service::Info =
        serde_json::from_slice(&one(Verb::Info).await).expect("async-nats reads INFO");
    assert_eq!(i.description, "a test service");
    assert_eq!(i.endpoints[0].queue_group, "q");
    let s: async_nats::service::Stats =
        serde_json::from_slice(&one(Verb::Stats).await).expect("async-nats reads STATS");
    assert_eq!(s.endpoints[0].requests, 1);
    assert_eq!(s.endpoints[0].errors, 1);
    let last = s.endpoints[0].last_error.as_ref().expect("last error");
    assert_eq!(
        (last.code, last.status.as_str()),
        (500, "requested failure")
    );

    // Our discovery client reads an async-nats service.
    use async_nats::service::ServiceExt;
    let anc = within(async_nats::connect(server.client_url()))
        .await
        .expect("async-nats");
    let theirs = within(
        anc.service_builder()
            .description("theirs")
            .start("theirs", "0.9.0"),
    )
    .await
    .expect("async-nats service");
    let mut ep = within(theirs.endpoint("theirs.ep"))
        .await
        .expect("their endpoint");
    let task = actix_rt::spawn(async move {
        while let Some(req) = std::future::poll_fn(|cx| Pin::new(&mut ep).poll_next(cx)).await {
            let body = req.message.payload.clone();
            let _ = req.respond(Ok(body)).await;
        }
    });
    // Their subscriptions reach the server on their own schedule.
    let found = within(async {
        loop {
            let v = d.ping(Some("theirs"), None).await.expect("ping");
            if !v.is_empty() {
                return v;
            }
        }
    })
    .await;
    assert_eq!(found[0].version, "0.9.0");
    let r = within(client.request("theirs.ep", "hi"))
        .await
        .expect("their endpoint answers");
    assert_eq!(r.payload_str().unwrap(), "hi");
    let info = within(d.info(Some("theirs"), None)).await.expect("info");
    assert_eq!(info[0].description, "theirs");
    assert_eq!(info[0].endpoints[0].subject, "theirs.ep");
    assert_eq!(info[0].endpoints[0].queue_group, "q");
    let stats = within(d.stats(Some("theirs"), Some(&found[0].id)))
        .await
        .expect("stats");
    assert_eq!(stats[0].endpoints[0].num_requests, 1);
    assert_eq!(stats[0].endpoints[0].last_error, "");
    task.abort();
}

#[actix_rt::test]
async fn discovery_answer_over_max_payload_is_counted_and_discovery_carries_on() {
    let server = NatsServer::with_config("max_payload: 1024");
    let client = connect(&server).await;
    let svc = start(&client, "bulky").await;
    let (addr, _) = worker("x");
    // INFO carries the endpoint metadata (over 1 KiB); PING and STATS do not.
    within(svc.add_endpoint(
        EndpointConfig::new("ep").metadata("blob", "b".repeat(1500)),
        addr,
    ))
    .await
    .expect("endpoint");
    let d = Discovery::new(connect(&server).await).max_wait(WAIT);
    let info = within(d.info(Some("bulky"), Some(svc.id())))
        .await
        .expect("info");
    assert!(info.is_empty(), "the INFO answer cannot be sent");
    assert_eq!(svc.discovery_skipped(), 1);
    let ping = within(d.ping(Some("bulky"), Some(svc.id())))
        .await
        .expect("ping");
    assert_eq!(ping.len(), 1, "discovery still answers");
    let stats = within(d.stats(Some("bulky"), None)).await.expect("stats");
    assert_eq!(stats.len(), 1);
    assert_eq!(svc.discovery_skipped(), 1);
    // The endpoint itself is unaffected.
    let r = within(client.request("ep", "")).await.expect("request");
    assert_eq!(r.payload_str().unwrap(), "x");
}

#[actix_rt::test]
async fn discovery_prefix_can_be_changed() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = within(
        client
            .service_builder()
            .name("prefixed")
            .version("1.0.0")
            .discovery_prefix("$SRV.eu")
            .start(),
    )
    .await
    .expect("start");
    let d = Discovery::new(connect(&server).await).max_wait(WAIT);
    assert!(within(d.ping(None, None)).await.expect("ping").is_empty());
    let d = d.prefix("$SRV.eu");
    let found = within(d.ping(Some("prefixed"), Some(svc.id())))
        .await
        .expect("ping");
    assert_eq!(found.len(), 1);
    let err = within(
        client
            .service_builder()
            .name("x")
            .version("1.0.0")
            .discovery_prefix("a..b")
            .start(),
    )
    .await
    .expect_err("bad prefix");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[actix_rt::test]
async fn without_a_queue_group_every_instance_answers() {
    let server = NatsServer::start();
    let mut services = Vec::new();
    for i in 0..2 {
        let client = connect(&server).await;
        let svc = within(
            client
                .service_builder()
                .name("fanout")
                .version("1.0.0")
                .no_queue_group()
                .start(),
        )
        .await
        .expect("start");
        within(svc.add_endpoint("fan", worker(&format!("i{i}")).0))
            .await
            .expect("endpoint");
        services.push(svc);
    }
    let requester = connect(&server).await;
    let replies = within(
        requester.request_many(
            "fan",
            "",
            RequestManyOptions::default()
                .max_messages(2)
                .max_wait(Duration::from_secs(5)),
        ),
    )
    .await
    .expect("request many");
    let mut got: Vec<String> = replies
        .iter()
        .map(|m| m.payload_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["i0", "i1"]);
    for s in &services {
        assert_eq!(s.info().endpoints[0].queue_group, "");
        assert_eq!(s.stats().endpoints[0].num_requests, 1);
    }
}

#[actix_rt::test]
async fn error_headers_count_as_errors_and_a_null_stats_hook_leaves_data_out() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = within(
        client
            .service_builder()
            .name("hdrs")
            .version("1.0.0")
            .stats_data(|ep| {
                if ep == "with" {
                    serde_json::json!(42)
                } else {
                    Value::Null
                }
            })
            .start(),
    )
    .await
    .expect("start");
    within(svc.add_endpoint(
        "with",
        EndpointHandler::func(|req| async move {
            let mut h = nats_actix::HeaderMap::new();
            h.insert("Nats-Service-Error", "teapot");
            h.insert("Nats-Service-Error-Code", "418");
            h.insert("X-Extra", "1");
            let _ = req.respond_with_headers(h, "body");
        }),
    ))
    .await
    .expect("with");
    within(svc.add_endpoint(
        "without",
        EndpointHandler::func(|req| async move {
            let mut h = nats_actix::HeaderMap::new();
            h.insert("X-Extra", "1");
            let _ = req.respond_with_headers(h, "ok");
        }),
    ))
    .await
    .expect("without");
    let r = within(client.request("with", "")).await.expect("with");
    assert_eq!(ServiceError::of(&r), Some(ServiceError::new(418, "teapot")));
    assert_eq!(r.headers.as_ref().unwrap().get("X-Extra"), Some("1"));
    let r = within(client.request("without", ""))
        .await
        .expect("without");
    assert!(ServiceError::of(&r).is_none());
    let st = svc.stats();
    assert_eq!(
        (
            st.endpoints[0].num_errors,
            st.endpoints[0].last_error.as_str()
        ),
        (1, "418:teapot")
    );
    assert_eq!(st.endpoints[0].data, Some(serde_json::json!(42)));
    assert_eq!(
        (st.endpoints[1].num_errors, st.endpoints[1].data.as_ref()),
        (0, None)
    );
    let raw = within(Discovery::new(client.clone()).max_wait(WAIT).request(
        Verb::Stats,
        Some("hdrs"),
        Some(svc.id()),
    ))
    .await
    .expect("stats");
    let keys = endpoint_keys(&raw[0].payload);
    assert!(keys[0].contains(&"data".to_string()));
    assert!(!keys[1].contains(&"data".to_string()));
}

/// Draining the whole connection (not just the service) also answers
/// every request the service accepted: endpoint deliveries count for the
/// connection's drain like any subscription's.
#[actix_rt::test]
async fn a_connection_drain_answers_every_accepted_service_request() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "conndrain").await;
    within(svc.add_endpoint("slow", Slow.start()))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    let waiting = slow_requests_accepted(&requester, &svc, 20).await;
    within(client.drain()).await.expect("drain");
    for (i, w) in waiting.into_iter().enumerate() {
        let reply = within(w).await.expect("task").expect("answered");
        assert_eq!(reply.payload_str().unwrap(), i.to_string());
    }
}

/// An actor that stops on its first request (without answering).
struct Quitter;
impl Actor for Quitter {
    type Context = Context<Self>;
}
impl Handler<ServiceRequest> for Quitter {
    type Result = ServiceReply;
    fn handle(&mut self, _req: ServiceRequest, ctx: &mut Context<Self>) -> ServiceReply {
        ctx.stop();
        ServiceReply::done()
    }
}

/// When an endpoint's handler actor has stopped, the next request gets
/// the service error 503 at once (not a timeout), counted as an error,
/// and the endpoint leaves INFO and stops listening.
#[actix_rt::test]
async fn a_stopped_handler_answers_503_and_leaves_the_service() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let svc = start(&client, "quits").await;
    within(svc.add_endpoint("once", Quitter.start()))
        .await
        .expect("endpoint");
    within(svc.add_endpoint("stays", Slow.start()))
        .await
        .expect("endpoint");
    let requester = connect(&server).await;
    // The first request stops the actor (and gets no answer).
    let first = within(requester.request_with(
        "once",
        "x",
        nats_actix::RequestOptions::default().timeout(Duration::from_millis(300)),
    ))
    .await;
    assert_eq!(first.expect_err("unanswered").kind(), ErrorKind::TimedOut);
    let r = within(requester.request("once", "x"))
        .await
        .expect("a reply");
    assert_eq!(
        ServiceError::of(&r),
        Some(ServiceError::new(503, "the endpoint's handler has stopped"))
    );
    let names: Vec<String> = svc
        .info()
        .endpoints
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(names, ["stays"]);
    // The service's UNSUB went out with the 503: a round trip on its
    // connection makes sure the server has it.
    within(client.flush()).await.unwrap();
    let gone = within(requester.request("once", "x")).await;
    assert_eq!(
        gone.expect_err("no listener").kind(),
        ErrorKind::NoResponders
    );
    let r = within(requester.request("stays", "y"))
        .await
        .expect("the other endpoint");
    assert_eq!(r.payload_str().unwrap(), "y");
}
