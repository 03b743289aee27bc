//! JetStream against real nats-server processes: streams, publish with
//! acks, consumers, pull fetches and acks, typed API errors, version gates,
//! and a publish that survives a server restart.

mod support;

use std::future::Future;
use std::time::Duration;

use nats_actix::jetstream::{
    AckKind, ApiError, ConsumerConfig, Context, PublishOptions, PurgeRequest, StorageType,
    StreamConfig,
};
use nats_actix::{Client, ConnectOptions, ErrorKind};
use support::NatsServer;
use support::events::{event_sink, is_reconnected, next_of};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn js(server: &NatsServer) -> Context {
    let client = within(Client::connect(
        ConnectOptions::new().server(server.client_url()),
    ))
    .await
    .expect("connect");
    Context::new(client)
}

fn api_code(e: &nats_actix::Error) -> u64 {
    ApiError::of(e).map_or(0, |a| a.err_code)
}

#[actix_rt::test]
async fn streams_crud_and_typed_errors() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let info = within(
        js.create_stream(StreamConfig::new("ORDERS", ["orders.>"]).storage(StorageType::Memory)),
    )
    .await
    .unwrap();
    assert_eq!(info.config.name, "ORDERS");
    assert_eq!(info.config.storage, StorageType::Memory);
    for i in 0..5 {
        let ack = within(js.publish(format!("orders.{}", i % 2), format!("{i}")))
            .await
            .unwrap();
        assert_eq!((ack.stream.as_str(), ack.seq), ("ORDERS", i + 1));
    }
    let info = within(js.stream_info("ORDERS")).await.unwrap();
    assert_eq!((info.state.messages, info.state.last_seq), (5, 5));
    let info = within(js.stream_info_with_subjects("ORDERS", ">"))
        .await
        .unwrap();
    let subjects = info.state.subjects.expect("subjects");
    assert_eq!((subjects["orders.0"], subjects["orders.1"]), (3, 2));

    let m = within(js.get_message("ORDERS", 2)).await.unwrap();
    assert_eq!(
        (m.subject.as_str(), &m.payload[..]),
        ("orders.1", &b"1"[..])
    );
    let m = within(js.get_last_message("ORDERS", "orders.0"))
        .await
        .unwrap();
    assert_eq!((m.seq, &m.payload[..]), (5, &b"4"[..]));
    within(js.delete_message("ORDERS", 1, false)).await.unwrap();
    let e = within(js.get_message("ORDERS", 1)).await.unwrap_err();
    assert_eq!(
        (e.kind(), api_code(&e)),
        (ErrorKind::JetStream, ApiError::NO_MESSAGE_FOUND),
        "{e}"
    );

    let mut cfg = info.config.clone();
    cfg.max_msgs = 100;
    let updated = within(js.update_stream(cfg)).await.unwrap();
    assert_eq!(updated.config.max_msgs, 100);
    within(js.create_stream(StreamConfig::new("OTHER", ["other.>"])))
        .await
        .unwrap();
    let mut names = within(js.stream_names(None)).await.unwrap();
    names.sort();
    assert_eq!(names, ["ORDERS", "OTHER"]);
    assert_eq!(
        within(js.stream_names(Some("other.x"))).await.unwrap(),
        ["OTHER"]
    );
    assert_eq!(within(js.streams()).await.unwrap().len(), 2);

    let purged =
        within(js.purge_stream("ORDERS", PurgeRequest::default().filter("orders.0").keep(1)))
            .await
            .unwrap();
    // orders.0 held 3 and 5 (1 was deleted): keeping 1 purges 1.
    assert_eq!(purged, 1);
    within(js.delete_stream("OTHER")).await.unwrap();
    let e = within(js.stream_info("OTHER")).await.unwrap_err();
    assert_eq!(api_code(&e), ApiError::STREAM_NOT_FOUND, "{e}");
    let e = within(js.create_stream(StreamConfig::new("bad.name", ["x"])))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let acct = within(js.account_info()).await.unwrap();
    assert_eq!(acct.streams, 1);
}

#[actix_rt::test]
async fn publish_acks_dedupe_and_expectations() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("P", ["p.>"])))
        .await
        .unwrap();
    let opts = PublishOptions::default().msg_id("one");
    let a = within(js.publish_with("p.a", "1", opts.clone()))
        .await
        .unwrap();
    let b = within(js.publish_with("p.a", "1", opts)).await.unwrap();
    assert!(!a.duplicate && b.duplicate && a.seq == b.seq);
    let e = within(js.publish_with(
        "p.a",
        "2",
        PublishOptions::default().expected_last_sequence(7),
    ))
    .await
    .unwrap_err();
    assert_eq!(api_code(&e), ApiError::WRONG_LAST_SEQUENCE, "{e}");
    within(
        js.publish_with(
            "p.b",
            "2",
            PublishOptions::default()
                .expected_last_subject_sequence(0)
                .expected_stream("P"),
        ),
    )
    .await
    .unwrap();
    let e = within(js.publish_with("p.b", "3", PublishOptions::default().expected_stream("Q")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JetStream, "{e}");
    // No stream: no responders after the ADR-22 retries.
    let start = std::time::Instant::now();
    let e = within(js.publish("nowhere", "x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoResponders, "{e}");
    assert!(start.elapsed() >= Duration::from_millis(500), "retried");
}

#[actix_rt::test]
async fn pull_consumer_fetch_and_every_ack() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("W", ["w.>"])))
        .await
        .unwrap();
    for i in 0..10 {
        within(js.publish("w.job", format!("{i}"))).await.unwrap();
    }
    let info = within(js.create_consumer(
        "W",
        ConsumerConfig::durable("worker").ack_wait(Duration::from_secs(30)),
    ))
    .await
    .unwrap();
    assert_eq!((info.name.as_str(), info.num_pending), ("worker", 10));
    assert_eq!(within(js.consumer_names("W")).await.unwrap(), ["worker"]);
    assert_eq!(within(js.consumers("W")).await.unwrap().len(), 1);

    let batch = within(js.fetch("W", "worker", 4, Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(batch.len(), 4);
    let meta = batch[0].info().unwrap();
    assert_eq!(
        (
            meta.stream.as_str(),
            meta.consumer.as_str(),
            meta.stream_seq,
            meta.delivered
        ),
        ("W", "worker", 1, 1)
    );
    batch[0].ack().await.unwrap();
    batch[1].double_ack(Duration::from_secs(5)).await.unwrap();
    batch[2].term(Some("poison".into())).await.unwrap();
    batch[3].nak(None).await.unwrap();
    // The nak'ed one comes back (delivered twice) with the six others;
    // the termed one never does.
    let mut rest = Vec::new();
    while rest.len() < 7 {
        let got = within(js.fetch("W", "worker", 100, Duration::from_millis(500)))
            .await
            .unwrap();
        assert!(!got.is_empty(), "only {} of 7 came", rest.len());
        rest.extend(got);
    }
    assert_eq!(rest.len(), 7);
    let mut seqs: Vec<(u64, u64)> = rest
        .iter()
        .map(|m| m.info().map(|i| (i.stream_seq, i.delivered)).unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        [(4, 2), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1)]
    );
    for m in &rest {
        m.ack_with(AckKind::Progress).await.unwrap();
        m.ack().await.unwrap();
    }
    // Then nothing more: an empty fetch ends at `expires`.
    let none = within(js.fetch("W", "worker", 5, Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(none.is_empty());
    within(js.delete_consumer("W", "worker")).await.unwrap();
    let e = within(js.consumer_info("W", "worker")).await.unwrap_err();
    assert_eq!(api_code(&e), ApiError::CONSUMER_NOT_FOUND, "{e}");
}

/// 2.10 fields are refused on older servers with the reason; accepted on
/// newer ones.
#[actix_rt::test]
async fn consumer_fields_gated_by_server_version() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("G", ["g.>"])))
        .await
        .unwrap();
    let cfg = ConsumerConfig::durable("multi").filter_subjects(["g.a", "g.b"]);
    let res = within(js.create_consumer("G", cfg)).await;
    if support::server_version() < (2, 10, 0) {
        let e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("needs nats-server >= 2.10.0"), "{e}");
        eprintln!("SKIPPED multi-filter consumer on this server: {e}");
    } else {
        let info = res.unwrap();
        assert_eq!(info.config.filter_subjects, ["g.a", "g.b"]);
    }
}

/// A publish survives a server restart: 200 publishes with message ids,
/// the server killed and restarted in the middle (file storage), each one
/// retried with its id until acknowledged: the stream holds exactly 200.
#[actix_rt::test]
async fn publish_with_msg_id_survives_a_restart() {
    let mut server = NatsServer::with_jetstream();
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1)
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let js = Context::new(client).timeout(Duration::from_millis(500));
    within(
        js.create_stream(
            StreamConfig::new("S", ["s.>"]).duplicate_window(Duration::from_secs(120)),
        ),
    )
    .await
    .unwrap();
    let mut retries = 0;
    for i in 0..200 {
        if i == 100 {
            server.kill();
            server.restart();
        }
        let opts = PublishOptions::default().msg_id(format!("m{i}"));
        let mut attempts = 0;
        loop {
            match within(js.publish_with("s.x", format!("{i}"), opts.clone())).await {
                Ok(_) => break,
                Err(e) => {
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::TimedOut | ErrorKind::NoResponders | ErrorKind::Disconnected
                        ),
                        "{e}"
                    );
                    retries += 1;
                    attempts += 1;
                    assert!(attempts < 100, "publish {i} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    next_of(&mut rx, is_reconnected).await;
    let info = within(js.stream_info("S")).await.unwrap();
    eprintln!(
        "200 publishes across a restart: {retries} retries, {} stored",
        info.state.messages
    );
    assert_eq!(info.state.messages, 200, "every acknowledged publish once");
}

// ------------------------------------------------------------ consume into actors

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use nats_actix::jetstream::{ConsumeOptions, JsMsg};

/// Acks most, naks each odd payload once, terms "poison"; records what it
/// acked.
struct Worker {
    acked: Arc<Mutex<BTreeSet<u64>>>,
    naked: BTreeSet<u64>,
    stop_after: Option<usize>,
    seen: usize,
}

impl Actor for Worker {
    type Context = actix::Context<Self>;
}

impl Handler<JsMsg> for Worker {
    type Result = MessageResult<JsMsg>;
    fn handle(&mut self, m: JsMsg, ctx: &mut actix::Context<Self>) -> Self::Result {
        self.seen += 1;
        if self.stop_after.is_some_and(|n| self.seen > n) {
            ctx.stop();
        }
        let seq = m.info().expect("metadata").stream_seq;
        let body = std::str::from_utf8(m.payload())
            .unwrap_or_default()
            .to_string();
        if body == "poison" {
            return MessageResult(AckKind::Term(Some("poison".into())));
        }
        let n: u64 = body.parse().unwrap_or(0);
        if n % 2 == 1 && self.naked.insert(seq) {
            return MessageResult(AckKind::Nak(None));
        }
        self.acked.lock().unwrap().insert(n);
        MessageResult(AckKind::Ack)
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    tokio::time::timeout(LIMIT, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// The actor answers each message with its ack kind; naks come back,
/// terms do not; nothing stays pending.
#[actix_rt::test]
async fn consume_into_an_actor_applies_its_answers() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("A", ["a.>"])))
        .await
        .unwrap();
    within(js.create_consumer("A", ConsumerConfig::durable("w").max_ack_pending(50)))
        .await
        .unwrap();
    for i in 0..100u64 {
        within(js.publish("a.job", i.to_string())).await.unwrap();
    }
    within(js.publish("a.job", "poison")).await.unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let worker = Worker {
        acked: acked.clone(),
        naked: BTreeSet::new(),
        stop_after: None,
        seen: 0,
    }
    .start();
    let handle = js.consume_into(
        "A",
        "w",
        worker.recipient(),
        ConsumeOptions::default().batch(20),
    );
    let a = acked.clone();
    wait_for("100 acks", move || a.lock().unwrap().len() == 100).await;
    wait_for("no ack pending", || true).await;
    within(async {
        loop {
            let info = js.consumer_info("A", "w").await.unwrap();
            if info.num_ack_pending == 0 && info.num_pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(*acked.lock().unwrap(), (0..100).collect::<BTreeSet<_>>());
    handle.stop();
}

/// A handler that stops mid-way loses nothing: its unanswered messages
/// are nak'ed and a second worker gets them.
#[actix_rt::test]
async fn a_stopped_handler_leads_to_redelivery_not_loss() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("B", ["b.>"])))
        .await
        .unwrap();
    // A short ack wait: a message handed to the first consumption's pull
    // after it stopped is redelivered soon.
    within(js.create_consumer(
        "B",
        ConsumerConfig::durable("w").ack_wait(Duration::from_secs(2)),
    ))
    .await
    .unwrap();
    for i in 0..40u64 {
        within(js.publish("b.job", (i * 2).to_string()))
            .await
            .unwrap();
    }
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let quitter = Worker {
        acked: acked.clone(),
        naked: BTreeSet::new(),
        stop_after: Some(10),
        seen: 0,
    }
    .start();
    let opts = ConsumeOptions::default()
        .batch(40)
        .expires(Duration::from_secs(2));
    let h1 = js.consume_into("B", "w", quitter.recipient(), opts.clone());
    let a = acked.clone();
    wait_for("the first worker's acks", move || {
        a.lock().unwrap().len() >= 10
    })
    .await;
    h1.stop();
    let steady = Worker {
        acked: acked.clone(),
        naked: BTreeSet::new(),
        stop_after: None,
        seen: 0,
    }
    .start();
    let h2 = js.consume_into("B", "w", steady.recipient(), opts);
    let a = acked.clone();
    wait_for("all 40 acked", move || a.lock().unwrap().len() == 40).await;
    h2.stop();
}

/// The consumption survives a server restart (file storage) and the
/// deletion and recreation of its consumer.
#[actix_rt::test]
async fn consume_survives_restart_and_consumer_recreation() {
    let mut server = NatsServer::with_jetstream();
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1)
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let js = Context::new(client);
    within(js.create_stream(StreamConfig::new("R", ["r.>"])))
        .await
        .unwrap();
    within(js.create_consumer("R", ConsumerConfig::durable("w")))
        .await
        .unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let worker = Worker {
        acked: acked.clone(),
        naked: BTreeSet::new(),
        stop_after: None,
        seen: 0,
    }
    .start();
    let handle = js.consume_into(
        "R",
        "w",
        worker.recipient(),
        ConsumeOptions::default()
            .batch(10)
            .expires(Duration::from_secs(2)),
    );
    for i in 0..20u64 {
        within(js.publish("r.job", (i * 2).to_string()))
            .await
            .unwrap();
    }
    let a = acked.clone();
    wait_for("20 before the restart", move || {
        a.lock().unwrap().len() == 20
    })
    .await;
    server.kill();
    server.restart();
    next_of(&mut rx, is_reconnected).await;
    for i in 20..40u64 {
        loop {
            if js.publish("r.job", (i * 2).to_string()).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let a = acked.clone();
    wait_for("40 after the restart", move || {
        a.lock().unwrap().len() == 40
    })
    .await;
    // Deleted under it: reported, not terminal; recreated: it resumes.
    within(js.delete_consumer("R", "w")).await.unwrap();
    within(js.create_consumer(
        "R",
        ConsumerConfig::durable("w").deliver_policy(nats_actix::jetstream::DeliverPolicy::New),
    ))
    .await
    .unwrap();
    for i in 40..50u64 {
        within(js.publish("r.job", (i * 2).to_string()))
            .await
            .unwrap();
    }
    let a = acked.clone();
    wait_for("50 after the recreation", move || {
        a.lock().unwrap().len() == 50
    })
    .await;
    assert!(handle.is_running());
    handle.stop();
}

/// The ordered consumer delivers every message exactly once, in order,
/// across a server restart.
#[actix_rt::test]
async fn ordered_consumer_exactly_once_in_order_across_a_restart() {
    let mut server = NatsServer::with_jetstream();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1),
    ))
    .await
    .unwrap();
    let js = Context::new(client);
    within(js.create_stream(StreamConfig::new("O", ["o.>"])))
        .await
        .unwrap();
    for i in 0..50u64 {
        within(js.publish(format!("o.{}", i % 3), i.to_string()))
            .await
            .unwrap();
    }
    let mut ordered = js.ordered("O", None);
    let mut got = Vec::new();
    while got.len() < 50 {
        if let Some(m) = within(ordered.next()).await.unwrap() {
            got.push(
                std::str::from_utf8(m.payload())
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
    }
    server.kill();
    server.restart();
    for i in 50..100u64 {
        loop {
            if js
                .publish(format!("o.{}", i % 3), i.to_string())
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    while got.len() < 100 {
        if let Some(m) = within(ordered.next()).await.unwrap() {
            got.push(
                std::str::from_utf8(m.payload())
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(ordered.created >= 2, "recreated after the restart");
    // Filtered, from the start.
    let mut only0 = js.ordered("O", Some("o.0"));
    let mut seen = Vec::new();
    while let Some(m) = within(only0.next()).await.unwrap() {
        seen.push(
            std::str::from_utf8(m.payload())
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert_eq!(seen, (0..100).filter(|i| i % 3 == 0).collect::<Vec<_>>());
}

/// Missed heartbeats (a silent link) are reported; the consumption
/// recovers when the link answers again.
#[actix_rt::test]
async fn missed_heartbeats_reported_and_recovered() {
    let server = NatsServer::with_jetstream();
    let proxy = support::proxy::Proxy::start(server.client_port());
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(proxy.url())
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let js = Context::new(client);
    within(js.create_stream(StreamConfig::new("H", ["h.>"])))
        .await
        .unwrap();
    within(js.create_consumer("H", ConsumerConfig::durable("w")))
        .await
        .unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let worker = Worker {
        acked: acked.clone(),
        naked: BTreeSet::new(),
        stop_after: None,
        seen: 0,
    }
    .start();
    let handle = js.consume_into(
        "H",
        "w",
        worker.recipient(),
        ConsumeOptions::default().expires(Duration::from_secs(1)),
    );
    within(js.publish("h.x", "0")).await.unwrap();
    let a = acked.clone();
    wait_for("the first message", move || a.lock().unwrap().len() == 1).await;
    proxy.pause();
    let e = next_of(&mut rx, |e| {
        e.to_string().contains("missed idle heartbeats")
    })
    .await;
    assert!(matches!(e, nats_actix::Event::Error(_)), "{e}");
    proxy.resume();
    within(js.publish("h.x", "2")).await.unwrap();
    let a = acked.clone();
    wait_for("a message after the silence", move || {
        a.lock().unwrap().len() == 2
    })
    .await;
    handle.stop();
}

/// A fetch asks for idle heartbeats; when they stop (the link is paused)
/// it ends with a typed `TimedOut` long before its 10 s expiry, and a
/// fetch after the link is back works.
#[actix_rt::test]
async fn fetch_ends_on_missed_heartbeats() {
    use nats_actix::jetstream::FetchOptions;
    let server = NatsServer::with_jetstream();
    let proxy = support::proxy::Proxy::start(server.client_port());
    let client = within(Client::connect(ConnectOptions::new().server(proxy.url())))
        .await
        .unwrap();
    let js = Context::new(client);
    within(js.create_stream(StreamConfig::new("FH", ["fh.>"])))
        .await
        .unwrap();
    within(js.create_consumer("FH", ConsumerConfig::durable("w")))
        .await
        .unwrap();
    let opts = FetchOptions::new(10)
        .expires(Duration::from_secs(10))
        .heartbeat(Duration::from_millis(300));
    // Heartbeats keep an idle fetch going: nothing arrives, no error.
    let idle = FetchOptions::new(10)
        .expires(Duration::from_secs(2))
        .heartbeat(Duration::from_millis(300));
    assert!(
        within(js.fetch_with("FH", "w", idle))
            .await
            .unwrap()
            .is_empty()
    );
    proxy.pause();
    let err = tokio::time::timeout(Duration::from_secs(8), js.fetch_with("FH", "w", opts))
        .await
        .expect("the fetch ended before its 10 s expiry")
        .expect_err("missed heartbeats are an error");
    assert_eq!(err.kind(), nats_actix::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("heartbeats"), "{err}");
    proxy.resume();
    within(js.publish("fh.x", "1")).await.unwrap();
    let got = within(js.fetch("FH", "w", 1, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

/// Async publish: written in call order, acks awaited later, bounded in
/// flight (wait or a typed error at the bound).
#[actix_rt::test]
async fn publish_async_bounded_in_flight() {
    use nats_actix::jetstream::WhenFull;
    let server = NatsServer::with_jetstream();
    let base = js(&server).await;
    within(base.create_stream(StreamConfig::new("AS", ["as.>"])))
        .await
        .unwrap();
    let js = base.clone().max_acks_in_flight(16, WhenFull::Wait);
    let mut acks = Vec::new();
    for i in 0..1000u64 {
        acks.push(
            within(js.publish_async("as.x", i.to_string(), PublishOptions::default()))
                .await
                .unwrap(),
        );
        // Keep at most 16 unawaited: await the oldest ones.
        if acks.len() == 16 {
            let first = acks.remove(0);
            within(first.ack()).await.unwrap();
        }
    }
    let mut last = 0;
    for a in acks {
        last = within(a.ack()).await.unwrap().seq;
    }
    assert_eq!(last, 1000, "in call order");
    let info = within(js.stream_info("AS")).await.unwrap();
    assert_eq!(info.state.messages, 1000);

    let strict = base.max_acks_in_flight(2, WhenFull::Error);
    let a = within(strict.publish_async("as.y", "1", PublishOptions::default()))
        .await
        .unwrap();
    let b = within(strict.publish_async("as.y", "2", PublishOptions::default()))
        .await
        .unwrap();
    let e = within(strict.publish_async("as.y", "3", PublishOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferFull, "{e}");
    within(a.ack()).await.unwrap();
    let c = within(strict.publish_async("as.y", "3", PublishOptions::default()))
        .await
        .unwrap();
    within(b.ack()).await.unwrap();
    assert_eq!(within(c.ack()).await.unwrap().seq, 1003);
    // No stream: the ack is a typed error, not a silent loss.
    let lost = within(strict.publish_async("nowhere.x", "x", PublishOptions::default()))
        .await
        .unwrap();
    let e = within(lost.ack()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoResponders, "{e}");
}

/// A 3-node JetStream cluster with an R3 stream: 10,000 publishes with
/// acks while one node is killed and restarted; every acknowledged
/// message is in the stream exactly once (retries carry their msg id).
#[actix_rt::test]
async fn r3_stream_keeps_every_acked_publish_once_across_a_node_restart() {
    let mut cluster =
        support::NatsCluster::with_config(3, "jetstream { store_dir: \"{{DIR}}/js\" }\n");
    let client = within(Client::connect(
        ConnectOptions::new()
            .servers(cluster.urls())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1),
    ))
    .await
    .unwrap();
    let js = Context::new(client).timeout(Duration::from_secs(2));
    // The meta leader may take a moment to be elected.
    within(async {
        loop {
            match js
                .create_stream(StreamConfig::new("R3", ["r3.>"]).replicas(3))
                .await
            {
                Ok(_) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    const N: u64 = 10_000;
    let mut retries = 0u64;
    let started = std::time::Instant::now();
    for i in 0..N {
        if i == N / 3 {
            cluster.nodes[1].kill();
        }
        if i == 2 * N / 3 {
            cluster.nodes[1].restart();
        }
        let opts = PublishOptions::default().msg_id(format!("r3-{i}"));
        let mut attempts = 0;
        loop {
            match js.publish_with("r3.x", i.to_string(), opts.clone()).await {
                Ok(_) => break,
                Err(e) => {
                    retries += 1;
                    attempts += 1;
                    assert!(attempts < 200, "publish {i} never acknowledged: {e}");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
    }
    let info = within(js.stream_info("R3")).await.unwrap();
    eprintln!(
        "R3: {N} acknowledged publishes across a node restart in {:?}, {retries} retries, {} stored",
        started.elapsed(),
        info.state.messages
    );
    assert_eq!(info.state.messages, N, "0 lost, 0 duplicated");
    // Read them all back in order: each payload once.
    // `next` answers `None` after a second without messages; the cluster
    // may still be electing the new consumer's leader, so only a minute
    // without progress is a failure.
    let mut ordered = js.ordered("R3", None);
    let mut next = 0u64;
    let mut idle_since = std::time::Instant::now();
    while next < N {
        match within(ordered.next()).await.unwrap() {
            Some(m) => {
                assert_eq!(std::str::from_utf8(m.payload()).unwrap(), next.to_string());
                next += 1;
                idle_since = std::time::Instant::now();
            }
            None => assert!(
                idle_since.elapsed() < Duration::from_secs(60),
                "only {next} of {N} read back"
            ),
        }
    }
}

/// `fetch_with` no_wait returns at once; `ordered_from` starts at a
/// sequence; the info types keep the server's other fields.
#[actix_rt::test]
async fn no_wait_fetch_ordered_from_and_raw_fields() {
    use nats_actix::jetstream::FetchOptions;
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let info = within(js.create_stream(StreamConfig::new("NW", ["nw.>"])))
        .await
        .unwrap();
    assert!(
        info.extra.contains_key("created"),
        "{:?}",
        info.extra.keys()
    );
    for i in 1..=5u64 {
        within(js.publish("nw.x", i.to_string())).await.unwrap();
    }
    let c = within(js.create_consumer("NW", ConsumerConfig::durable("d")))
        .await
        .unwrap();
    assert!(c.extra.contains_key("created"), "{:?}", c.extra.keys());
    let start = std::time::Instant::now();
    let got = within(js.fetch_with("NW", "d", FetchOptions::new(100).no_wait(true)))
        .await
        .unwrap();
    assert_eq!(got.len(), 5);
    for m in &got {
        m.ack().await.unwrap();
    }
    let none = within(js.fetch_with("NW", "d", FetchOptions::new(100).no_wait(true)))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    let mut from3 = js.ordered_from("NW", None, 3);
    let first = within(from3.next()).await.unwrap().expect("a message");
    assert_eq!(first.info().unwrap().stream_seq, 3);
}

/// Direct get, and push consumers (flow control answered, a queue group
/// sharing the work).
#[actix_rt::test]
async fn direct_get_and_push_consumers() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("D", ["d.>"]).allow_direct(true)))
        .await
        .unwrap();
    for i in 0..300u64 {
        within(js.publish(format!("d.{}", i % 2), vec![b'x'; 1024]))
            .await
            .unwrap();
    }
    let m = within(js.direct_get("D", 2)).await.unwrap();
    assert_eq!((m.subject.as_str(), m.seq), ("d.1", 2));
    let m = within(js.direct_get_last("D", "d.0")).await.unwrap();
    assert_eq!(m.seq, 299);
    let e = within(js.direct_get("D", 10_000)).await.unwrap_err();
    assert_eq!(ApiError::of(&e).map(|a| a.code), Some(404), "{e}");

    // A push consumer with flow control: all 300 arrive.
    let mut cfg = ConsumerConfig::durable("push");
    cfg.flow_control = true;
    cfg.idle_heartbeat = Duration::from_secs(1);
    let mut push = within(js.push_subscribe("D", cfg)).await.unwrap();
    for _ in 0..300 {
        let m = within(push.next()).await.expect("a message");
        m.ack().await.unwrap();
    }
    // A queue push consumer: two members share the messages.
    let mut q = ConsumerConfig::durable("qpush");
    q.deliver_subject = Some("deliver.qpush".into());
    q.deliver_group = Some("g".into());
    let mut a = within(js.push_subscribe("D", q.clone())).await.unwrap();
    let mut b = within(js.push_subscribe("D", q)).await.unwrap();
    let (mut na, mut nb) = (0, 0);
    while na + nb < 300 {
        tokio::select! {
            Some(m) = a.next() => { m.ack().await.unwrap(); na += 1; }
            Some(m) = b.next() => { m.ack().await.unwrap(); nb += 1; }
            _ = tokio::time::sleep(LIMIT) => panic!("only {} of 300", na + nb),
        }
    }
    assert_eq!(na + nb, 300);
}

/// Consumption bounded by bytes as well as messages: every message still
/// arrives, a few kilobytes at a time.
#[actix_rt::test]
async fn consume_bounded_by_bytes() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    within(js.create_stream(StreamConfig::new("MB", ["mb.>"])))
        .await
        .unwrap();
    within(js.create_consumer("MB", ConsumerConfig::durable("w")))
        .await
        .unwrap();
    for i in 0..60u64 {
        within(js.publish("mb.x", format!("{i:>1024}")))
            .await
            .unwrap();
    }
    let mut msgs = js.consume(
        "MB",
        "w",
        ConsumeOptions::default()
            .batch(50)
            .max_bytes(4 * 1024)
            .expires(Duration::from_secs(2)),
    );
    let mut got = Vec::new();
    while got.len() < 60 {
        let m = within(msgs.next()).await.expect("a message");
        got.push(m.info().unwrap().stream_seq);
        m.ack().await.unwrap();
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 60);
}

/// A push consumer whose heartbeats stop (its consumer deleted) reports
/// it and keeps waiting.
#[actix_rt::test]
async fn push_consumer_reports_missed_heartbeats() {
    let server = NatsServer::with_jetstream();
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let js = Context::new(client);
    within(js.create_stream(StreamConfig::new("PH", ["ph.>"])))
        .await
        .unwrap();
    let mut cfg = ConsumerConfig::durable("hb");
    cfg.idle_heartbeat = Duration::from_millis(500);
    let mut push = within(js.push_subscribe("PH", cfg)).await.unwrap();
    within(js.delete_consumer("PH", "hb")).await.unwrap();
    let waiter = actix_rt::spawn(async move { push.next().await.is_some() });
    let e = next_of(&mut rx, |e| {
        e.to_string().contains("missed idle heartbeats")
    })
    .await;
    assert!(matches!(e, nats_actix::Event::Error(_)), "{e}");
    assert!(!waiter.is_finished(), "still waiting");
    waiter.abort();
}
