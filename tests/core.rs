//! Conformance tests of the core client against a real nats-server:
//! sections A (connect), B (pub/sub/request), C (subscription lifecycle),
//! D (slow consumers), E (max payload) and K (drain) of the checklist, and
//! a test per connection option that changes behaviour.
//!
//! Every await is bounded by `within`, so a hang is a failure.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nats_actix::messages::{RequestOptions, SubscribeOptions};
use nats_actix::{
    Client, ConnectOptions, ErrorKind, Event, HeaderMap, Msg, RequestManyOptions, StatusCode,
    Subscriber,
};
use support::NatsServer;

const LIMIT: Duration = Duration::from_secs(10);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn connect(server: &NatsServer) -> Client {
    connect_with(server, ConnectOptions::new()).await
}

async fn connect_with(server: &NatsServer, opts: ConnectOptions) -> Client {
    within(Client::connect(opts.server(server.client_url())))
        .await
        .expect("connect")
}

/// Receives exactly `n` messages.
async fn take(sub: &mut Subscriber, n: usize) -> Vec<Msg> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(
            within(sub.next_msg())
                .await
                .expect("subscription ended early"),
        );
    }
    out
}

/// Asserts that nothing more arrives within a short window.
async fn assert_quiet(sub: &mut Subscriber) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(150), sub.next_msg()).await {
        panic!("unexpected message {m:?}");
    }
}

// ---------------------------------------------------------------- A. connect

#[actix_rt::test]
async fn connect_basic() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    within(client.flush()).await.unwrap();
    let info = within(client.server_info()).await.expect("info");
    assert!(!info.server_id.is_empty());
    assert!(info.max_payload > 0);
    assert!(info.proto >= 1);
    assert_eq!(info.port, server.client_port());
    within(client.close()).await.unwrap();
    assert!(within(client.closed()).await.is_none());
}

#[actix_rt::test]
async fn connect_refused_fails_fast() {
    let port = support::free_port();
    let start = Instant::now();
    let err = within(Client::connect(
        ConnectOptions::new()
            .server(format!("127.0.0.1:{port}"))
            .connection_timeout(Duration::from_secs(2)),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// What a [`FakeServer`] answers to PINGs.
#[derive(Clone, Copy, PartialEq)]
enum Pongs {
    Never,
    /// Only the handshake's.
    First,
    Always,
}

/// A scripted server for faults a real one will not produce.
struct FakeServer {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    /// `send_info`: greet with INFO; `pongs`: which PINGs to answer;
    /// `after_handshake`: bytes sent right after the first PONG.
    fn scripted(send_info: bool, pongs: Pongs, after_handshake: Vec<u8>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut w = stream.try_clone().unwrap();
            if send_info {
                let _ = w.write_all(
                    b"INFO {\"server_id\":\"FAKE\",\"version\":\"2.10.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n",
                );
            }
            let mut pongs_sent = 0;
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line.clone());
                let answer = match pongs {
                    Pongs::Never => false,
                    Pongs::First => pongs_sent == 0,
                    Pongs::Always => true,
                };
                if line == "PING" && answer {
                    let _ = w.write_all(b"PONG\r\n");
                    if pongs_sent == 0 {
                        let _ = w.write_all(&after_handshake);
                    }
                    pongs_sent += 1;
                }
            }
        });
        FakeServer { port, lines }
    }

    fn start(send_info: bool, pong: bool) -> FakeServer {
        let pongs = if pong { Pongs::Always } else { Pongs::Never };
        FakeServer::scripted(send_info, pongs, Vec::new())
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// Conformance A3 and A4: no INFO, or INFO but no PONG.
#[actix_rt::test]
async fn connect_timeout_no_info_or_no_pong() {
    for send_info in [false, true] {
        let fake = FakeServer::start(send_info, false);
        let start = Instant::now();
        let err = within(Client::connect(
            ConnectOptions::new()
                .server(fake.url())
                .connection_timeout(Duration::from_millis(500)),
        ))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "send_info={send_info}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "send_info={send_info}: {took:?}"
        );
    }
}

#[actix_rt::test]
async fn connect_sends_headers_and_no_responders() {
    let fake = FakeServer::start(true, true);
    let client = within(Client::connect(
        ConnectOptions::new().server(fake.url()).name("probe"),
    ))
    .await
    .unwrap();
    let lines = fake.lines.lock().unwrap().clone();
    let connect = lines
        .iter()
        .find_map(|l| l.strip_prefix("CONNECT "))
        .expect("CONNECT sent");
    let json: serde_json::Value = serde_json::from_str(connect).unwrap();
    assert_eq!(json["headers"], true);
    assert_eq!(json["no_responders"], true);
    assert_eq!(json["verbose"], false);
    assert_eq!(json["name"], "probe");
    assert_eq!(json["lang"], "rust");
    within(client.close()).await.unwrap();
}

#[actix_rt::test]
async fn connect_skips_dead_urls() {
    let server = NatsServer::start();
    let dead = support::free_port();
    let client = within(Client::connect(
        ConnectOptions::new()
            .servers([format!("127.0.0.1:{dead}"), server.client_url()])
            .no_randomize(true),
    ))
    .await
    .unwrap();
    within(client.flush()).await.unwrap();
    assert_eq!(
        within(client.server_info()).await.unwrap().port,
        server.client_port()
    );
}

#[actix_rt::test]
async fn no_echo() {
    let server = NatsServer::start();
    for (no_echo, expect_own) in [(true, false), (false, true)] {
        let client = connect_with(&server, ConnectOptions::new().no_echo(no_echo)).await;
        let other = connect(&server).await;
        let mut sub = within(client.subscribe("echo")).await.unwrap();
        within(client.flush()).await.unwrap();
        within(client.publish("echo", "own")).await.unwrap();
        within(client.flush()).await.unwrap();
        within(other.publish("echo", "other")).await.unwrap();
        within(other.flush()).await.unwrap();
        let first = within(sub.next_msg()).await.unwrap();
        assert_eq!(first.payload == "own", expect_own, "no_echo={no_echo}");
        if expect_own {
            assert_eq!(within(sub.next_msg()).await.unwrap().payload, "other");
        }
    }
}

#[actix_rt::test]
async fn inbox_prefix_custom_and_validated() {
    let server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().inbox_prefix("my.inbox")).await;
    let mut svc = within(client.subscribe("svc")).await.unwrap();
    within(client.flush()).await.unwrap();
    let c = client.clone();
    let req = actix_rt::spawn(async move { c.request("svc", "x").await });
    let m = within(svc.next_msg()).await.unwrap();
    let reply = m.reply.clone().expect("reply subject");
    assert!(reply.starts_with("my.inbox."), "{reply}");
    assert!(m.respond("ok").unwrap());
    assert_eq!(within(req).await.unwrap().unwrap().payload, "ok");
    assert!(client.new_inbox().starts_with("my.inbox."));

    for bad in ["my.*", "a.>", "", "a b"] {
        let err = within(Client::connect(
            ConnectOptions::new()
                .server(server.client_url())
                .inbox_prefix(bad),
        ))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
}

// --------------------------------------------------- B. pub / sub / request

#[actix_rt::test]
async fn pub_sub_order() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("order")).await.unwrap();
    for i in 0..10 {
        within(client.publish("order", i.to_string()))
            .await
            .unwrap();
    }
    let got: Vec<String> = take(&mut sub, 10)
        .await
        .iter()
        .map(|m| m.payload_str().unwrap().to_string())
        .collect();
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(sub.processed(), 10);
    let stats = client.stats();
    assert_eq!((stats.in_msgs, stats.out_msgs), (10, 10));
    assert_eq!(stats.out_bytes, 10);
}

#[actix_rt::test]
async fn empty_payload() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("empty")).await.unwrap();
    within(client.publish("empty", Bytes::new())).await.unwrap();
    let m = within(sub.next_msg()).await.unwrap();
    assert_eq!(m.subject, "empty");
    assert!(m.payload.is_empty());
}

#[actix_rt::test]
async fn wildcards() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut star = within(client.subscribe("foo.*")).await.unwrap();
    let mut full = within(client.subscribe("foo.>")).await.unwrap();
    for s in ["foo", "foo.a", "foo.a.b", "bar.a"] {
        within(client.publish(s, s)).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    assert_eq!(take(&mut star, 1).await[0].subject, "foo.a");
    let f: Vec<String> = take(&mut full, 2)
        .await
        .iter()
        .map(|m| m.subject.to_string())
        .collect();
    assert_eq!(f, ["foo.a", "foo.a.b"]);
    assert_quiet(&mut star).await;
    assert_quiet(&mut full).await;
}

#[actix_rt::test]
async fn queue_group_one_delivery() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut subs = Vec::new();
    for _ in 0..5 {
        subs.push(within(client.queue_subscribe("work", "q")).await.unwrap());
    }
    within(client.flush()).await.unwrap();
    within(client.publish("work", "one")).await.unwrap();
    within(client.flush()).await.unwrap();
    let mut got = 0;
    for s in &mut subs {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), s.next_msg()).await
        {
            got += 1;
        }
    }
    assert_eq!(got, 1);

    let mut three: Vec<Subscriber> = subs.drain(..3).collect();
    drop(subs);
    within(client.flush()).await.unwrap();
    for i in 0..20 {
        within(client.publish("work", i.to_string())).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    let mut total = 0;
    for s in &mut three {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), s.next_msg()).await
        {
            total += 1;
        }
    }
    assert_eq!(total, 20);
}

#[actix_rt::test]
async fn queue_and_plain_independent() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut q = within(client.queue_subscribe("both", "q")).await.unwrap();
    let mut plain = within(client.subscribe("both")).await.unwrap();
    for _ in 0..5 {
        within(client.publish("both", "x")).await.unwrap();
    }
    assert_eq!(take(&mut q, 5).await.len(), 5);
    assert_eq!(take(&mut plain, 5).await.len(), 5);
}

#[actix_rt::test]
async fn reply_subject_roundtrip() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("rr")).await.unwrap();
    let mut replies = within(client.subscribe("rr.reply")).await.unwrap();
    within(client.publish_with_reply("rr", "rr.reply", "q"))
        .await
        .unwrap();
    within(client.publish("rr", "no reply")).await.unwrap();
    let [with, without]: [Msg; 2] = take(&mut sub, 2).await.try_into().unwrap();
    assert_eq!(with.reply.as_deref(), Some("rr.reply"));
    assert!(with.respond("answer").unwrap());
    assert!(without.reply.is_none());
    assert!(!without.respond("nobody").unwrap());
    assert_eq!(within(replies.next_msg()).await.unwrap().payload, "answer");
}

async fn echo_service(client: &Client, subject: &str) {
    let mut svc = within(client.subscribe(subject.to_string())).await.unwrap();
    within(client.flush()).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let _ = m.respond(m.payload.clone());
        }
    });
}

#[actix_rt::test]
async fn request_reply() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    echo_service(&client, "echo").await;
    let reply = within(client.request("echo", "hi")).await.unwrap();
    assert_eq!(reply.payload, "hi");
}

#[actix_rt::test]
async fn request_timeout() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let _silent = within(client.subscribe("silent")).await.unwrap();
    within(client.flush()).await.unwrap();
    let start = Instant::now();
    let err = within(client.request_with(
        "silent",
        "x",
        RequestOptions::default().timeout(Duration::from_millis(100)),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(95) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(within(client.pending_requests()).await, 0);
}

#[actix_rt::test]
async fn request_default_timeout_is_one_second() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let _silent = within(client.subscribe("silent")).await.unwrap();
    within(client.flush()).await.unwrap();
    let start = Instant::now();
    let err = within(client.request("silent", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // The connection option changes the default.
    let client = connect_with(
        &server,
        ConnectOptions::new().request_timeout(Duration::from_millis(200)),
    )
    .await;
    let _silent = within(client.subscribe("silent")).await.unwrap();
    within(client.flush()).await.unwrap();
    let start = Instant::now();
    within(client.request("silent", "x")).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(900));
}

#[actix_rt::test]
async fn request_no_responders() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    for opts in [
        RequestOptions::default(),
        RequestOptions::default().no_mux(true),
    ] {
        let start = Instant::now();
        let err = within(client.request_with("nobody.home", "x", opts))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoResponders);
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
    }
}

#[actix_rt::test]
async fn requests_concurrent_mux() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    echo_service(&client, "echo").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let c = client.clone();
        tasks.push(actix_rt::spawn(async move {
            (i, c.request("echo", format!("req-{i}")).await)
        }));
    }
    for t in tasks {
        let (i, res) = within(t).await.unwrap();
        assert_eq!(res.unwrap().payload, format!("req-{i}"));
    }
    assert_eq!(within(client.pending_requests()).await, 0);
    // One muxed inbox subscription served them all.
    let connz = server.connz();
    let subs: Vec<String> = connz["connections"][0]["subscriptions_list_detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap().to_string())
        .filter(|s| s.starts_with("_INBOX."))
        .collect();
    assert_eq!(subs.len(), 1, "{subs:?}");
}

#[actix_rt::test]
async fn request_no_mux_and_reply() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    echo_service(&client, "echo").await;
    let r = within(client.request_with("echo", "a", RequestOptions::default().no_mux(true)))
        .await
        .unwrap();
    assert_eq!(r.payload, "a");
    let r = within(client.request_with("echo", "b", RequestOptions::default().reply("my.reply")))
        .await
        .unwrap();
    assert_eq!(r.payload, "b");
    assert_eq!(r.subject, "my.reply");
    let bad = RequestOptions {
        reply: Some("x".into()),
        ..Default::default()
    };
    let err = within(client.request_with("echo", "c", bad))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[actix_rt::test]
async fn request_with_headers() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut svc = within(client.subscribe("hdr")).await.unwrap();
    within(client.flush()).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let mut h = HeaderMap::new();
            h.insert(
                "Echo",
                m.headers
                    .as_ref()
                    .and_then(|h| h.get("X-Id"))
                    .unwrap_or("none"),
            );
            let _ = m.respond_with_headers(Some(h), "ok");
        }
    });
    let mut h = HeaderMap::new();
    h.insert("X-Id", "42");
    let r = within(client.request_with("hdr", "x", RequestOptions::default().headers(h)))
        .await
        .unwrap();
    assert_eq!(r.headers.unwrap().get("echo"), Some("42"));
}

#[actix_rt::test]
async fn dropped_request_removes_waiter() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let _silent = within(client.subscribe("silent")).await.unwrap();
    within(client.flush()).await.unwrap();
    let fut = client.request_with("silent", "x", RequestOptions::default().timeout(LIMIT));
    // Give up after 50 ms: the waiter must go with the future.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), fut)
            .await
            .is_err()
    );
    within(client.flush()).await.unwrap();
    assert_eq!(within(client.pending_requests()).await, 0);
}

#[actix_rt::test]
async fn request_many_strategies() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    for i in 0..3 {
        let mut s = within(client.subscribe("many")).await.unwrap();
        actix_rt::spawn(async move {
            while let Some(m) = s.next_msg().await {
                let _ = m.respond(format!("r{i}"));
            }
        });
    }
    let mut sentinel = within(client.subscribe("many.sentinel")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = sentinel.next_msg().await {
            let _ = m.respond("a");
            let _ = m.respond("b");
            let _ = m.respond(Bytes::new());
            let _ = m.respond("after");
        }
    });
    within(client.flush()).await.unwrap();

    let by_count =
        within(client.request_many("many", "x", RequestManyOptions::default().max_messages(2)))
            .await
            .unwrap();
    assert_eq!(by_count.len(), 2);
    let start = Instant::now();
    let by_gap = within(
        client.request_many(
            "many",
            "x",
            RequestManyOptions::default()
                .idle_gap(Duration::from_millis(200))
                .max_wait(Duration::from_secs(5)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(by_gap.len(), 3);
    assert!(start.elapsed() < Duration::from_secs(2));
    let by_time = within(client.request_many(
        "many",
        "x",
        RequestManyOptions::default().max_wait(Duration::from_millis(300)),
    ))
    .await
    .unwrap();
    assert_eq!(by_time.len(), 3);
    let by_sentinel = within(
        client.request_many(
            "many.sentinel",
            "x",
            RequestManyOptions::default()
                .sentinel(true)
                .max_wait(Duration::from_secs(5)),
        ),
    )
    .await
    .unwrap();
    let p: Vec<&[u8]> = by_sentinel.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(p, [&b"a"[..], b"b"]);
    let err = within(client.request_many("nobody", "x", RequestManyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoResponders);
}

#[actix_rt::test]
async fn max_payload_messages_intact() {
    let server = NatsServer::with_config("max_payload: 65536");
    let client = connect(&server).await;
    let max = within(client.server_info()).await.unwrap().max_payload;
    assert_eq!(max, 65536);
    let mut sub = within(client.subscribe("big")).await.unwrap();
    for i in 0..100u8 {
        within(client.publish_with_reply("big", format!("r.{i}"), vec![i; max]))
            .await
            .unwrap();
    }
    let msgs = take(&mut sub, 100).await;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.payload.len(), max);
        assert!(m.payload.iter().all(|b| *b == i as u8));
        assert_eq!(m.subject, "big");
        assert_eq!(m.reply.as_deref(), Some(format!("r.{i}").as_str()));
    }
}

#[actix_rt::test]
async fn headers_roundtrip() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("h")).await.unwrap();
    let mut h = HeaderMap::new();
    h.insert("X-Trace-ID", "abc");
    h.append("Multi", "1");
    h.append("Multi", "2");
    h.insert("lower-case", "v v");
    within(client.publish_with_headers("h", h.clone(), "body"))
        .await
        .unwrap();
    let m = within(sub.next_msg()).await.unwrap();
    let got = m.headers.expect("headers");
    assert_eq!(got, h);
    assert_eq!(got.get("x-trace-id"), Some("abc"));
    assert_eq!(got.get_all("multi").collect::<Vec<_>>(), ["1", "2"]);
    assert!(got.iter().any(|(k, _)| k == "X-Trace-ID"));
    assert_eq!(m.payload, "body");
}

#[actix_rt::test]
async fn headers_status_and_malformed() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("raw.>")).await.unwrap();
    within(client.flush()).await.unwrap();
    // A raw publisher sends header blocks our encoder would never write.
    let blocks: [&[u8]; 4] = [
        b"NATS/1.0 404 No Messages\r\n\r\n",
        b"NATS/1.0\r\nNo-Colon-Line\r\nA:  padded  \r\n\r\n",
        b"NATS/1.0 503\r\n\r\n",
        b"NATS/1.0\r\nK:v\r\nk: w\r\n\r\n",
    ];
    let mut raw = TcpStream::connect(("127.0.0.1", server.client_port())).unwrap();
    raw.write_all(b"CONNECT {\"headers\":true,\"verbose\":false}\r\n")
        .unwrap();
    for (i, b) in blocks.iter().enumerate() {
        raw.write_all(format!("HPUB raw.{i} {} {}\r\n", b.len(), b.len() + 1).as_bytes())
            .unwrap();
        raw.write_all(b).unwrap();
        raw.write_all(b"x\r\n").unwrap();
    }
    raw.write_all(b"PING\r\n").unwrap();
    let msgs = take(&mut sub, 4).await;
    assert_eq!(msgs[0].status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        msgs[0].headers.as_ref().unwrap().description(),
        Some("No Messages")
    );
    assert_eq!(msgs[1].headers.as_ref().unwrap().get("a"), Some("padded"));
    assert_eq!(msgs[2].status(), Some(StatusCode::NO_RESPONDERS));
    assert_eq!(msgs[3].headers.as_ref().unwrap().get_all("K").count(), 2);
    assert!(msgs.iter().all(|m| m.payload == "x"));
}

#[actix_rt::test]
async fn subject_validation() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    for bad in ["a b", "a\tb", "a\r", "a\nb", "", "a..b", ".a", "a."] {
        let e = within(client.publish(bad, "x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubject, "publish {bad:?}");
        let e = within(client.subscribe(bad)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubject, "subscribe {bad:?}");
        let e = within(client.publish_with_reply("ok", bad, "x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubject, "reply {bad:?}");
    }
    for bad in ["a.*", "a.>", "*"] {
        let e = within(client.publish(bad, "x")).await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidSubject,
            "publish wildcard {bad:?}"
        );
        let e = within(client.request(bad, "x")).await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidSubject,
            "request wildcard {bad:?}"
        );
    }
    let e = within(client.subscribe("a.>.b")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSubject);
    for bad in ["q q", "", "q\t"] {
        let e = within(client.queue_subscribe("ok", bad)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubject, "queue {bad:?}");
    }
    // Nothing invalid reached the server: the connection is healthy.
    within(client.flush()).await.unwrap();
    assert!(server.connz()["connections"][0]["subscriptions_list_detail"].is_null());
}

// ------------------------------------------------ C. subscription lifecycle

#[actix_rt::test]
async fn unsubscribe_stops_delivery() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("u")).await.unwrap();
    for _ in 0..4 {
        within(client.publish("u", "x")).await.unwrap();
    }
    let first = within(sub.next_msg()).await.unwrap();
    drop(first);
    within(sub.unsubscribe()).await.unwrap();
    // Already-queued messages may drain out of the channel, but the
    // subscription ended at the first: the stream ends.
    let mut after = 0;
    while within(sub.next_msg()).await.is_some() {
        after += 1;
    }
    assert_eq!(after, 0, "messages delivered after unsubscribe");
    within(client.flush()).await.unwrap();
    assert!(server.connz()["connections"][0]["subscriptions_list_detail"].is_null());
}

#[actix_rt::test]
async fn auto_unsubscribe_max() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe_with("m", SubscribeOptions::default().max(3)))
        .await
        .unwrap();
    let mut later = within(client.subscribe("m")).await.unwrap();
    within(sub.unsubscribe_after(3)).await.unwrap();
    for i in 0..10 {
        within(client.publish("m", i.to_string())).await.unwrap();
    }
    assert_eq!(take(&mut sub, 3).await.len(), 3);
    assert!(
        within(sub.next_msg()).await.is_none(),
        "stream must end after max"
    );
    assert_eq!(take(&mut later, 10).await.len(), 10);
    assert_eq!(sub.processed(), 3);
}

#[actix_rt::test]
async fn first_message_timeout_ends_subscription() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let start = Instant::now();
    let mut sub = within(client.subscribe_with(
        "never",
        SubscribeOptions::default().timeout(Duration::from_millis(200)),
    ))
    .await
    .unwrap();
    assert!(within(sub.next_msg()).await.is_none());
    assert!(start.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        sub.end_reason().map(|e| e.kind()),
        Some(ErrorKind::TimedOut)
    );
    // A message in time cancels the timeout.
    let mut sub = within(client.subscribe_with(
        "soon",
        SubscribeOptions::default().timeout(Duration::from_millis(300)),
    ))
    .await
    .unwrap();
    within(client.publish("soon", "x")).await.unwrap();
    assert!(within(sub.next_msg()).await.is_some());
    within(client.publish("soon", "y")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(within(sub.next_msg()).await.unwrap().payload, "y");
    assert!(sub.end_reason().is_none());
}

#[actix_rt::test]
async fn subscription_drain_delivers_pending() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("d")).await.unwrap();
    for i in 0..1000 {
        within(client.publish("d", i.to_string())).await.unwrap();
    }
    within(sub.drain()).await.unwrap();
    let mut n = 0;
    while within(sub.next_msg()).await.is_some() {
        n += 1;
    }
    assert_eq!(n, 1000);
    // Publishing after a subscription drain still works.
    within(client.publish("d", "more")).await.unwrap();
    within(client.flush()).await.unwrap();
}

#[actix_rt::test]
async fn no_subscription_leaks() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let _silent = within(client.subscribe("silent")).await.unwrap();
    for i in 0..1000 {
        let mut s = within(client.subscribe(format!("leak.{i}"))).await.unwrap();
        within(s.unsubscribe()).await.unwrap();
        if i % 10 == 0 {
            let e = within(client.request_with(
                "silent",
                "x",
                RequestOptions::default().timeout(Duration::from_millis(5)),
            ))
            .await
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
        }
        let e = within(client.request("nobody", "x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResponders);
    }
    within(client.flush()).await.unwrap();
    assert_eq!(within(client.pending_requests()).await, 0);
    let connz = server.connz();
    let subs = connz["connections"][0]["subscriptions_list_detail"]
        .as_array()
        .unwrap();
    // "silent" and the muxer's inbox remain.
    assert_eq!(subs.len(), 2, "{subs:?}");
}

#[actix_rt::test]
async fn closed_client_rejects_ops() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("x")).await.unwrap();
    within(client.close()).await.unwrap();
    assert!(client.is_closed());
    assert!(within(sub.next_msg()).await.is_none());
    assert_eq!(
        within(client.publish("x", "y")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        within(client.subscribe("x")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        within(client.request("x", "y")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        within(client.flush()).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(within(client.drain()).await.is_err());
    within(client.close()).await.unwrap();
}

// ---------------------------------------------------- D. slow consumers

#[actix_rt::test]
async fn slow_consumer_drop_count_and_event_once() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut events = within(client.events()).await;
    let mut sub = within(client.subscribe_with(
        "slow",
        SubscribeOptions::default().pending_limits(100, 1 << 30),
    ))
    .await
    .unwrap();
    for _ in 0..140 {
        within(client.publish("slow", "x")).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    // Wait until all 140 are accounted for.
    let deadline = Instant::now() + LIMIT;
    while sub.delivered() + sub.dropped() < 140 {
        assert!(
            Instant::now() < deadline,
            "only {} + {}",
            sub.delivered(),
            sub.dropped()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sub.dropped(), 40);
    assert_eq!(sub.pending(), 100);
    let mut slow_events = 0;
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(100), events.next_event()).await
    {
        if matches!(e, Event::SlowConsumer { .. }) {
            slow_events += 1;
        }
    }
    assert_eq!(slow_events, 1);
    // Reading frees the slots; the connection stayed up.
    let drained = take(&mut sub, 100).await;
    drop(drained);
    assert_eq!(sub.pending(), 0);
    within(client.publish("slow", "after")).await.unwrap();
    assert_eq!(within(sub.next_msg()).await.unwrap().payload, "after");
    // A new episode raises a new event.
    for _ in 0..120 {
        within(client.publish("slow", "x")).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    let deadline = Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout(Duration::from_millis(50), events.next_event()).await {
            Ok(Some(Event::SlowConsumer { .. })) => break,
            _ => assert!(Instant::now() < deadline, "no second SlowConsumer event"),
        }
    }
}

#[actix_rt::test]
async fn slow_consumer_by_bytes() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe_with(
        "slowb",
        SubscribeOptions::default().pending_limits(1_000_000, 1000),
    ))
    .await
    .unwrap();
    for _ in 0..20 {
        within(client.publish("slowb", vec![0u8; 100]))
            .await
            .unwrap();
    }
    within(client.flush()).await.unwrap();
    let deadline = Instant::now() + LIMIT;
    while sub.delivered() + sub.dropped() < 20 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sub.delivered(), 10);
    assert_eq!(sub.processed(), 0, "delivered, not yet handled");
    assert_eq!(sub.dropped(), 10);
    drop(take(&mut sub, 10).await);
}

#[actix_rt::test]
async fn pending_limits_validation() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    for (m, b) in [(0, 10), (10, 0)] {
        let e =
            within(client.subscribe_with("p", SubscribeOptions::default().pending_limits(m, b)))
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
    let e = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .pending_msgs_limit(0),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[actix_rt::test]
async fn default_pending_limit_from_options() {
    let server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().pending_msgs_limit(5)).await;
    let sub = within(client.subscribe("dp")).await.unwrap();
    for _ in 0..8 {
        within(client.publish("dp", "x")).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    let deadline = Instant::now() + LIMIT;
    while sub.delivered() + sub.dropped() < 8 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!((sub.delivered(), sub.dropped()), (5, 3));
}

// ---------------------------------------------------------- E. max payload

#[actix_rt::test]
async fn max_payload_exact_plus_one_and_headers() {
    let server = NatsServer::with_config("max_payload: 1024");
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("mp")).await.unwrap();
    within(client.publish("mp", vec![1u8; 1024])).await.unwrap();
    let e = within(client.publish("mp", vec![2u8; 1025]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MaxPayloadExceeded);
    let mut h = HeaderMap::new();
    h.insert("K", "v");
    let e = within(client.publish_with_headers("mp", h.clone(), vec![3u8; 1020]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MaxPayloadExceeded);
    let e =
        within(client.request_with("mp", vec![3u8; 1020], RequestOptions::default().headers(h)))
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MaxPayloadExceeded);
    within(client.publish("mp", "small")).await.unwrap();
    assert_eq!(within(sub.next_msg()).await.unwrap().payload.len(), 1024);
    assert_eq!(within(sub.next_msg()).await.unwrap().payload, "small");
    within(client.flush()).await.unwrap();
    assert_eq!(client.stats().out_msgs, 2);
}

// ------------------------------------------------------------------ K. drain

#[actix_rt::test]
async fn drain_delivers_all_then_closes() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("drain")).await.unwrap();
    let publisher = connect(&server).await;
    for i in 0..10_000 {
        within(publisher.publish("drain", i.to_string()))
            .await
            .unwrap();
    }
    within(publisher.flush()).await.unwrap();
    let c = client.clone();
    let drain = actix_rt::spawn(async move { c.drain().await });
    let mut n = 0;
    while within(sub.next_msg()).await.is_some() {
        n += 1;
    }
    assert_eq!(n, 10_000);
    within(drain).await.unwrap().unwrap();
    assert!(client.is_closed());
    assert!(within(client.closed()).await.is_none());
    assert_eq!(
        within(client.subscribe("x")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[actix_rt::test]
async fn drain_rejects_new_work_and_is_fast_when_idle() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let _idle = within(client.subscribe("idle")).await.unwrap();
    let c = client.clone();
    let start = Instant::now();
    let drain = actix_rt::spawn(async move { c.drain().await });
    // Ops issued while draining are refused with a typed error.
    let e = within(client.subscribe("new")).await;
    if let Err(e) = e {
        assert_eq!(e.kind(), ErrorKind::Closed);
    }
    within(drain).await.unwrap().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        within(client.request("x", "y")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(within(client.drain()).await.is_err());
}

// ---------------------------------------------------------- options, events

#[actix_rt::test]
async fn name_shows_in_monitoring() {
    let server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().name("my-service")).await;
    within(client.flush()).await.unwrap();
    assert_eq!(server.connz()["connections"][0]["name"], "my-service");
}

#[actix_rt::test]
async fn verbose_and_pedantic_are_accepted() {
    let server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().verbose(true).pedantic(true)).await;
    let mut sub = within(client.subscribe("v")).await.unwrap();
    within(client.publish("v", "x")).await.unwrap();
    within(client.flush()).await.unwrap();
    assert_eq!(within(sub.next_msg()).await.unwrap().payload, "x");
}

#[actix_rt::test]
async fn user_pass_and_token_from_options_and_url() {
    let server = NatsServer::with_config("authorization { user: derek, password: s3cr3t }");
    let port = server.client_port();
    let ok = within(Client::connect(
        ConnectOptions::new()
            .server(format!("127.0.0.1:{port}"))
            .user("derek")
            .pass("s3cr3t"),
    ))
    .await;
    assert!(ok.is_ok());
    let ok = within(Client::connect(
        ConnectOptions::new().server(format!("nats://derek:s3cr3t@127.0.0.1:{port}")),
    ))
    .await;
    assert!(ok.is_ok());
    let err = within(Client::connect(
        ConnectOptions::new()
            .server(format!("127.0.0.1:{port}"))
            .user("derek")
            .pass("nope"),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);

    let server = NatsServer::with_config("authorization { token: \"t0k3n\" }");
    let ok = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .token("t0k3n"),
    ))
    .await;
    assert!(ok.is_ok());
}

#[actix_rt::test]
async fn ping_interval_detects_silent_server() {
    // The fake answers the handshake PING only.
    let fake = FakeServer::scripted(true, Pongs::First, Vec::new());
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(fake.url())
            .ping_interval(Duration::from_millis(100))
            .max_ping_out(2)
            .reconnect(false),
    ))
    .await
    .unwrap();
    let start = Instant::now();
    let reason = within(client.closed()).await.expect("a reason");
    assert_eq!(reason.kind(), ErrorKind::TimedOut, "{reason}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[actix_rt::test]
async fn answers_server_pings() {
    let server = NatsServer::with_config("ping_interval: \"100ms\"\nping_max: 2");
    let client = connect(&server).await;
    let mut events = within(client.events()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    within(client.flush()).await.unwrap();
    assert!(!client.is_closed());
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(10), events.next_event()).await
    {
        assert!(
            !matches!(e, Event::Disconnected { .. } | Event::Error(_)),
            "{e}"
        );
    }
}

#[actix_rt::test]
async fn events_to_actor_and_stream() {
    use actix::prelude::*;
    struct Collector(Arc<Mutex<Vec<String>>>);
    impl Actor for Collector {
        type Context = Context<Self>;
    }
    impl Handler<Event> for Collector {
        type Result = ();
        fn handle(&mut self, e: Event, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(e.to_string());
        }
    }
    let server = NatsServer::start();
    let client = connect(&server).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    client.add_event_recipient(Collector(seen.clone()).start().recipient());
    let mut stream = within(client.events()).await;
    within(client.close()).await.unwrap();
    let mut got = Vec::new();
    while let Some(e) = within(stream.next_event()).await {
        got.push(e);
    }
    assert!(
        matches!(got.last(), Some(Event::Closed { reason: None })),
        "{got:?}"
    );
    let deadline = Instant::now() + LIMIT;
    while !seen.lock().unwrap().iter().any(|e| e == "closed") {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_rt::test]
async fn server_close_reports_disconnect_and_closed_reason() {
    let mut server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().reconnect(false)).await;
    let mut events = within(client.events()).await;
    server.kill();
    let reason = within(client.closed()).await;
    assert!(reason.is_some());
    let mut kinds = HashSet::new();
    while let Some(e) = within(events.next_event()).await {
        kinds.insert(match e {
            Event::Disconnected { .. } => "disconnected",
            Event::Closed { .. } => "closed",
            _ => "other",
        });
    }
    assert!(
        kinds.contains("disconnected") && kinds.contains("closed"),
        "{kinds:?}"
    );
}

#[actix_rt::test]
async fn actor_delivery() {
    use actix::prelude::*;
    struct Counter(tokio::sync::mpsc::UnboundedSender<String>);
    impl Actor for Counter {
        type Context = Context<Self>;
    }
    impl Handler<Msg> for Counter {
        type Result = ();
        fn handle(&mut self, m: Msg, _: &mut Context<Self>) {
            let _ = self.0.send(m.payload_str().unwrap_or("?").to_string());
        }
    }
    let server = NatsServer::start();
    let client = connect(&server).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let actor = Counter(tx).start();
    let handle =
        within(client.subscribe_actor("act", actor.recipient(), SubscribeOptions::default()))
            .await
            .unwrap();
    // Publish through the Connection actor directly, as an actor would.
    within(
        client
            .connection()
            .send(nats_actix::Publish::new("act", "via-actor")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "via-actor");
    assert_eq!(handle.processed(), 1);
}

#[actix_rt::test]
async fn typed_json_and_text_delivery() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Order {
        id: u32,
    }
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut orders = within(client.subscribe("orders"))
        .await
        .unwrap()
        .json::<Order>();
    within(client.publish_json("orders", &Order { id: 7 }))
        .await
        .unwrap();
    within(client.publish("orders", "not json")).await.unwrap();
    within(client.publish_json("orders", &Order { id: 8 }))
        .await
        .unwrap();
    assert_eq!(
        within(orders.next()).await.unwrap().unwrap(),
        Order { id: 7 }
    );
    assert_eq!(
        within(orders.next()).await.unwrap().unwrap_err().kind(),
        ErrorKind::Codec
    );
    assert_eq!(
        within(orders.next()).await.unwrap().unwrap(),
        Order { id: 8 }
    );

    let mut text = within(client.subscribe("text")).await.unwrap().text();
    within(client.publish("text", vec![0xff, 0xfe]))
        .await
        .unwrap();
    within(client.publish("text", "ok")).await.unwrap();
    assert_eq!(
        within(text.next()).await.unwrap().unwrap_err().kind(),
        ErrorKind::Codec
    );
    assert_eq!(within(text.next()).await.unwrap().unwrap(), "ok");
}

#[actix_rt::test]
async fn rtt_and_stats() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let rtt = within(client.rtt()).await.unwrap();
    assert!(rtt > Duration::ZERO && rtt < Duration::from_secs(1));
    let mut sub = within(client.subscribe("s")).await.unwrap();
    within(client.publish("s", "12345")).await.unwrap();
    within(sub.next_msg()).await.unwrap();
    let s = client.stats();
    assert_eq!(
        (s.in_msgs, s.in_bytes, s.out_msgs, s.out_bytes, s.connects),
        (1, 5, 1, 5, 1)
    );
}

#[actix_rt::test]
async fn typed_actor_delivery() {
    use actix::prelude::*;
    use nats_actix::codec::{JsonCodec, Typed};
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Order {
        id: u32,
    }
    struct Orders(tokio::sync::mpsc::UnboundedSender<Result<u32, ErrorKind>>);
    impl Actor for Orders {
        type Context = Context<Self>;
    }
    impl Handler<Typed<Order>> for Orders {
        type Result = ();
        fn handle(&mut self, m: Typed<Order>, _: &mut Context<Self>) {
            let _ = self.0.send(m.value.map(|o| o.id).map_err(|e| e.kind()));
        }
    }
    let server = NatsServer::start();
    let client = connect(&server).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let actor = Orders(tx).start();
    within(client.subscribe_typed_actor::<JsonCodec<Order>>(
        "typed",
        actor.recipient(),
        SubscribeOptions::default(),
    ))
    .await
    .unwrap();
    within(client.publish_json("typed", &Order { id: 1 }))
        .await
        .unwrap();
    within(client.publish("typed", "{oops")).await.unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), Ok(1));
    assert_eq!(within(rx.recv()).await.unwrap(), Err(ErrorKind::Codec));
}

#[actix_rt::test]
async fn port_option_used_without_servers() {
    let server = NatsServer::start();
    let client = within(Client::connect(
        ConnectOptions::new().port(server.client_port()),
    ))
    .await
    .unwrap();
    within(client.flush()).await.unwrap();
}

#[actix_rt::test]
async fn hostile_server_bytes_close_with_protocol_errors() {
    let long_line = {
        let mut v = b"MSG ".to_vec();
        v.extend(std::iter::repeat_n(b'a', 2000));
        v
    };
    let cases: Vec<(Vec<u8>, ConnectOptions, ErrorKind)> = vec![
        (
            b"ZOO\r\n".to_vec(),
            ConnectOptions::new(),
            ErrorKind::Protocol,
        ),
        (
            b"HMSG a 1 10 5\r\n".to_vec(),
            ConnectOptions::new(),
            ErrorKind::Protocol,
        ),
        (
            long_line,
            ConnectOptions::new().max_control_line(1024),
            ErrorKind::Protocol,
        ),
        (
            b"MSG a 1 4096\r\n".to_vec(),
            ConnectOptions::new().max_payload_ceiling(2048),
            ErrorKind::Protocol,
        ),
    ];
    for (bytes, opts, kind) in cases {
        // Completes the handshake, then sends the hostile bytes.
        // Framing errors end the link; without reconnect, the client.
        // (A content error, such as a non-UTF-8 subject, does not: see
        // tests/resilience.rs.)
        let fake = FakeServer::scripted(true, Pongs::Always, bytes);
        let client = within(Client::connect(opts.reconnect(false).server(fake.url())))
            .await
            .unwrap();
        let reason = within(client.closed()).await.expect("closed with a reason");
        assert_eq!(reason.kind(), kind, "{reason}");
    }
}

#[actix_rt::test]
async fn small_write_buffer_applies_backpressure_and_loses_nothing() {
    let server = NatsServer::start();
    let client = connect_with(&server, ConnectOptions::new().write_buffer_limit(4096)).await;
    let receiver = connect(&server).await;
    let mut sub = within(receiver.subscribe("bp")).await.unwrap();
    within(receiver.flush()).await.unwrap();
    let payload = Bytes::from(vec![7u8; 512]);
    for _ in 0..5000 {
        within(client.publish("bp", payload.clone())).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    assert_eq!(take(&mut sub, 5000).await.len(), 5000);
}

#[actix_rt::test]
async fn event_recipient_option_sees_connected_and_current_server() {
    use actix::prelude::*;
    struct Collector(tokio::sync::mpsc::UnboundedSender<String>);
    impl Actor for Collector {
        type Context = Context<Self>;
    }
    impl Handler<Event> for Collector {
        type Result = ();
        fn handle(&mut self, e: Event, _: &mut Context<Self>) {
            let _ = self.0.send(e.to_string());
        }
    }
    let server = NatsServer::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let collector = Collector(tx).start();
    let client = connect_with(
        &server,
        ConnectOptions::new().event_recipient(collector.recipient()),
    )
    .await;
    let first = within(rx.recv()).await.unwrap();
    assert_eq!(
        first,
        format!("connected to nats://127.0.0.1:{}", server.client_port())
    );
    assert_eq!(
        within(client.connected_server()).await,
        Some(format!("nats://127.0.0.1:{}", server.client_port()))
    );
    within(client.close()).await.unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "closed");
    assert_eq!(within(client.connected_server()).await, None);
}

#[actix_rt::test]
async fn request_message_to_the_mux_actor() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    echo_service(&client, "echo").await;
    let reply = within(
        client
            .request_mux()
            .send(nats_actix::messages::Request::new("echo", "via actor")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reply.payload, "via actor");
    let mut req = nats_actix::messages::Request::new("nobody", "x");
    req.options = RequestOptions::default().timeout(Duration::from_millis(500));
    let err = within(client.request_mux().send(req))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoResponders);
    assert_eq!(within(client.pending_requests()).await, 0);
}

#[actix_rt::test]
async fn cluster_updates_are_reported_unless_ignored() {
    let mut cluster = support::NatsCluster::start(3);
    let url = cluster.urls()[0].clone();
    let watching = within(Client::connect(ConnectOptions::new().server(&url)))
        .await
        .unwrap();
    let ignoring = within(Client::connect(
        ConnectOptions::new()
            .server(&url)
            .ignore_cluster_updates(true),
    ))
    .await
    .unwrap();
    let mut seen = within(watching.events()).await;
    let mut ignored = within(ignoring.events()).await;
    within(watching.flush()).await.unwrap();
    within(ignoring.flush()).await.unwrap();
    let gone = cluster.nodes[2].client_port();
    cluster.nodes[2].stop();
    let deadline = Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), seen.next_event()).await {
            Ok(Some(Event::ServersChanged { deleted, .. }))
                if deleted.iter().any(|u| u.ends_with(&format!(":{gone}"))) =>
            {
                break;
            }
            _ => assert!(Instant::now() < deadline, "no ServersChanged event"),
        }
    }
    // The same INFO reached the other client before this PONG.
    within(ignoring.flush()).await.unwrap();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(50), ignored.next_event()).await
    {
        assert!(!matches!(e, Event::ServersChanged { .. }), "{e}");
    }
}

#[actix_rt::test]
async fn lame_duck_event() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut events = within(client.events()).await;
    within(client.flush()).await.unwrap();
    server.lame_duck();
    let deadline = Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), events.next_event()).await {
            Ok(Some(Event::LameDuckMode { server: s })) => {
                assert_eq!(s, format!("nats://127.0.0.1:{}", server.client_port()));
                break;
            }
            _ => assert!(Instant::now() < deadline, "no LameDuckMode event"),
        }
    }
}

#[actix_rt::test]
async fn mixed_sizes_keep_order_and_bytes() {
    // Small payloads are copied into the write buffer, large ones are sent
    // by reference (vectored writes): the wire order must not change.
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut sub = within(client.subscribe("mixed")).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..1000u32 {
        let len = match i % 4 {
            0 => 10,
            1 => 511,
            2 => 512,
            _ => 4096 + i as usize,
        };
        let payload: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
        if i % 3 == 0 {
            let mut h = HeaderMap::new();
            h.insert("Seq", i.to_string());
            within(client.publish_with_headers("mixed", h, payload.clone()))
                .await
                .unwrap();
        } else {
            within(client.publish("mixed", payload.clone()))
                .await
                .unwrap();
        }
        expected.push(payload);
    }
    let got = take(&mut sub, 1000).await;
    for (i, (m, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(&m.payload[..], &e[..], "message {i}");
        if i % 3 == 0 {
            assert_eq!(
                m.headers.as_ref().unwrap().get("seq"),
                Some(i.to_string().as_str())
            );
        }
    }
}
