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
    // The nak'ed one comes back first, delivered twice.
    let again = within(js.fetch("W", "worker", 1, Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    let meta = again[0].info().unwrap();
    assert_eq!((meta.stream_seq, meta.delivered), (4, 2));
    again[0].ack_with(AckKind::Progress).await.unwrap();
    again[0].ack().await.unwrap();
    // The rest, then nothing more: an empty fetch ends at `expires`.
    let rest = within(js.fetch("W", "worker", 100, Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(rest.len(), 6);
    for m in &rest {
        m.ack().await.unwrap();
    }
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
