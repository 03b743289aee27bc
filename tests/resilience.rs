//! The connection that survives everything: hostile peers, reconnects,
//! restarts, cluster failover, drains that lose nothing. Every test runs
//! against real nats-server processes; every await is bounded.

mod support;

use std::future::Future;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use actix::prelude::*;
use nats_actix::messages::SubscribeOptions;
use nats_actix::{
    Client, ConnectOptions, ConnectionState, ErrorKind, Event, EventStream, Msg, Publish,
};
use support::NatsServer;
use support::events::{event_sink, is_disconnected, is_reconnected, next_of};
use support::fake::{FakeServer, Script, Step};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn connect_with(url: String, opts: ConnectOptions) -> Client {
    within(Client::connect(opts.server(url)))
        .await
        .expect("connect")
}

/// Waits for the first event that `pred` accepts, and returns it.
async fn wait_event(events: &mut EventStream, pred: impl Fn(&Event) -> bool) -> Event {
    within(async {
        loop {
            match events.next_event().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
}

/// A raw client on `port` that has completed the handshake.
fn raw_client(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("raw connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nPING\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("PONG") {
        let n = std::io::Read::read(&mut s, &mut buf).expect("read handshake");
        assert!(n > 0, "server closed the raw client");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// Section 1, defect 1 and the hostile-peer soak: 10,000 malformed messages
/// (non-UTF-8 subjects, header blocks without `NATS/1.0`) from a raw
/// publisher interleaved with 10,000 good ones. The subscriber on `>`
/// receives every good one, in order, counts every bad one, and the
/// connection never drops.
#[actix_rt::test]
async fn hostile_peer_cannot_close_the_connection() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut events = within(client.events()).await;
    let mut sub = within(client.subscribe(">")).await.unwrap();
    within(client.flush()).await.unwrap();

    const N: usize = 10_000;
    let port = server.client_port();
    let publisher = std::thread::spawn(move || {
        let mut raw = raw_client(port);
        let mut out = Vec::new();
        for i in 0..N {
            if i % 2 == 0 {
                out.extend_from_slice(b"PUB bad.\xff 2\r\nhi\r\n");
            } else {
                out.extend_from_slice(b"HPUB bad.hdr 12 14\r\nXATS/1.0\r\n\r\nhi\r\n");
            }
            out.extend_from_slice(
                format!("PUB good.{i} {}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
            );
            if out.len() > 32 * 1024 {
                raw.write_all(&out).unwrap();
                out.clear();
            }
        }
        out.extend_from_slice(b"PING\r\n");
        raw.write_all(&out).unwrap();
        raw
    });
    for i in 0..N {
        let msg = within(sub.next_msg()).await.expect("subscription ended");
        assert_eq!(msg.subject.as_str(), format!("good.{i}"));
        assert_eq!(msg.payload_str().unwrap(), i.to_string());
    }
    let _raw = publisher.join().unwrap();
    let e = wait_event(&mut events, |e| matches!(e, Event::Error(_))).await;
    match e {
        Event::Error(err) => assert_eq!(err.kind(), ErrorKind::MalformedMessage, "{err}"),
        _ => unreachable!(),
    }
    within(client.flush()).await.expect("still connected");
    let stats = client.stats();
    assert_eq!(stats.malformed, N as u64);
    assert_eq!(stats.connects, 1);
    assert_eq!(stats.reconnects, 0);
    assert!(within(client.connected_server()).await.is_some());
    within(client.close()).await.unwrap();
}

// ------------------------------------------------------------ helpers

fn fast_reconnect() -> ConnectOptions {
    ConnectOptions::new()
        .reconnect_time_wait(Duration::from_millis(20))
        .reconnect_jitter(Duration::ZERO)
        .max_reconnect_attempts(-1)
}

/// The server's view of this client's subscriptions, from
/// `/connz?subs=detail`: (subject, queue, max) sorted, the request inbox
/// left out.
fn server_subs(server: &NatsServer) -> Vec<(String, String, u64)> {
    let connz = server.connz();
    let mut out = Vec::new();
    for c in connz["connections"].as_array().cloned().unwrap_or_default() {
        for s in c["subscriptions_list_detail"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let subject = s["subject"].as_str().unwrap_or_default().to_string();
            if subject.starts_with("_INBOX.") {
                continue;
            }
            out.push((
                subject,
                s["qgroup"].as_str().unwrap_or_default().to_string(),
                s["max"].as_u64().unwrap_or(0),
            ));
        }
    }
    out.sort();
    out
}

// ------------------------------------------------------------ reconnect

/// Soak: 100 restart cycles (SIGTERM and SIGKILL alternating) × 100
/// publishes made while disconnected, received by a subscription of the
/// same client: 0 lost, 0 duplicated, 0 out of order; after each
/// reconnect the server holds exactly the client's subscriptions
/// (subjects, queues, remaining max).
#[actix_rt::test]
async fn soak_restarts_buffered_publishes_and_resubscribe() {
    const CYCLES: usize = 100;
    const PER_CYCLE: u64 = 100;
    const MAX: u64 = 1000;
    let mut server = NatsServer::start();
    let (rec, mut events) = event_sink();
    let client = connect_with(server.client_url(), fast_reconnect().event_recipient(rec)).await;
    next_of(&mut events, |e| matches!(e, Event::Connected { .. })).await;
    let mut sub = within(client.subscribe("soak.all")).await.unwrap();
    let mut queue = within(client.queue_subscribe("soak.q", "workers"))
        .await
        .unwrap();
    let mut limited =
        within(client.subscribe_with("soak.max", SubscribeOptions::default().max(MAX)))
            .await
            .unwrap();
    within(client.flush()).await.unwrap();
    let mut next = 0u64;
    let mut limited_seen = 0u64;
    let started = Instant::now();
    for cycle in 0..CYCLES {
        if cycle % 2 == 0 {
            server.stop();
        } else {
            server.kill();
        }
        next_of(&mut events, is_disconnected).await;
        assert_eq!(client.connection_state(), ConnectionState::Reconnecting);
        for _ in 0..PER_CYCLE {
            within(client.publish("soak.all", next.to_string()))
                .await
                .expect("buffered");
            next += 1;
        }
        within(client.publish("soak.q", "q")).await.unwrap();
        within(client.publish("soak.max", "m")).await.unwrap();
        server.restart();
        next_of(&mut events, is_reconnected).await;
        for want in next - PER_CYCLE..next {
            let m = within(sub.next_msg()).await.expect("sub ended");
            assert_eq!(m.payload_str().unwrap(), want.to_string(), "cycle {cycle}");
        }
        within(queue.next_msg()).await.expect("queue sub ended");
        within(limited.next_msg()).await.expect("limited sub ended");
        limited_seen += 1;
        within(client.flush()).await.unwrap();
        assert_eq!(
            server_subs(&server),
            vec![
                ("soak.all".to_string(), String::new(), 0),
                (
                    "soak.max".to_string(),
                    String::new(),
                    MAX - limited_seen + 1
                ),
                ("soak.q".to_string(), "workers".to_string(), 0),
            ],
            "cycle {cycle}"
        );
    }
    // Nothing more: no duplicates.
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), sub.next_msg()).await {
        panic!("duplicate or extra message {m:?}");
    }
    let stats = client.stats();
    assert_eq!(stats.reconnects, CYCLES as u64);
    assert_eq!(stats.connects, CYCLES as u64 + 1);
    eprintln!(
        "soak: {CYCLES} restarts x {PER_CYCLE} buffered publishes: 0 lost, 0 duplicated, \
         0 out of order; subscriptions matched /connz after every reconnect; {:?}",
        started.elapsed()
    );
    within(client.close()).await.unwrap();
}

/// The status events come in order, and `connection_state` follows them.
#[actix_rt::test]
async fn events_in_order_connected_disconnected_reconnecting_reconnected_closed() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        fast_reconnect()
            .reconnect_time_wait(Duration::from_millis(50))
            .event_recipient(rec),
    )
    .await;
    assert_eq!(client.connection_state(), ConnectionState::Connected);
    server.stop();
    // A few failed attempts while it is down.
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.restart();
    let mut seen = Vec::new();
    loop {
        let (_, e) = within(rx.recv()).await.expect("events");
        let done = is_reconnected(&e);
        seen.push(e);
        if done {
            break;
        }
    }
    within(client.close()).await.unwrap();
    loop {
        let (_, e) = within(rx.recv()).await.expect("events");
        let done = matches!(e, Event::Closed { .. });
        seen.push(e);
        if done {
            break;
        }
    }
    let kinds: Vec<String> = seen
        .iter()
        .filter(|e| !matches!(e, Event::ServersChanged { .. }))
        .map(|e| match e {
            Event::Connected { .. } => "connected".to_string(),
            Event::Disconnected { .. } => "disconnected".to_string(),
            Event::Reconnecting { attempt, .. } => format!("reconnecting {attempt}"),
            Event::Reconnected { .. } => "reconnected".to_string(),
            Event::Closed { reason } => {
                assert!(reason.is_none(), "a requested close has no reason");
                "closed".to_string()
            }
            other => format!("{other}"),
        })
        .collect();
    assert_eq!(kinds[0], "connected", "{kinds:?}");
    assert_eq!(kinds[1], "disconnected", "{kinds:?}");
    let attempts: Vec<&String> = kinds[2..kinds.len() - 2].iter().collect();
    assert!(!attempts.is_empty(), "{kinds:?}");
    for (i, k) in attempts.iter().enumerate() {
        assert_eq!(**k, format!("reconnecting {}", i + 1), "{kinds:?}");
    }
    assert_eq!(kinds[kinds.len() - 2], "reconnected", "{kinds:?}");
    assert_eq!(kinds[kinds.len() - 1], "closed", "{kinds:?}");
    assert_eq!(client.connection_state(), ConnectionState::Closed);
}

/// `max_reconnect_attempts` is per server; when every server has used
/// them the client closes with `MaxReconnects`.
#[actix_rt::test]
async fn max_reconnect_attempts_then_closed() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new()
            .reconnect_time_wait(Duration::from_millis(30))
            .reconnect_jitter(Duration::ZERO)
            .max_reconnect_attempts(3)
            .event_recipient(rec),
    )
    .await;
    server.kill();
    let reason = within(client.closed()).await.expect("a reason");
    assert_eq!(reason.kind(), ErrorKind::MaxReconnects, "{reason}");
    let mut attempts = 0;
    while let Ok((_, e)) = rx.try_recv() {
        if let Event::Reconnecting { attempt, .. } = e {
            attempts += 1;
            assert_eq!(attempt, attempts);
        }
    }
    assert_eq!(attempts, 3);
}

/// `reconnect(false)`: the first loss closes the client.
#[actix_rt::test]
async fn no_reconnect_closes_on_loss() {
    let mut server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new().reconnect(false)).await;
    server.kill();
    let reason = within(client.closed()).await.expect("a reason");
    assert!(
        matches!(reason.kind(), ErrorKind::Disconnected | ErrorKind::Io),
        "{reason}"
    );
    assert_eq!(
        within(client.publish("x", "y")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

/// `wait_on_first_connect`: the first connect keeps trying as a
/// reconnect until a server appears.
#[actix_rt::test]
async fn wait_on_first_connect_waits_for_the_server() {
    let mut server = NatsServer::start();
    let url = server.client_url();
    server.stop();
    // Without it: fails at once.
    let err = within(Client::connect(ConnectOptions::new().server(url.clone())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        server.restart();
        server
    });
    let client = within(Client::connect(
        fast_reconnect().wait_on_first_connect(true).server(url),
    ))
    .await
    .expect("connected once the server came up");
    let server = starter.join().unwrap();
    within(client.flush()).await.unwrap();
    assert_eq!(
        client.stats().reconnects,
        0,
        "the first connect is not a reconnect"
    );
    drop(server);
}

/// The reconnect buffer is bounded in bytes; the publish that overflows
/// gets a typed error and the ones before it all arrive; 0 disables it.
#[actix_rt::test]
async fn reconnect_buffer_bounded_and_typed() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        fast_reconnect()
            .reconnect_buffer_size(4096)
            .event_recipient(rec),
    )
    .await;
    let mut sub = within(client.subscribe("rb")).await.unwrap();
    within(client.flush()).await.unwrap();
    server.kill();
    next_of(&mut rx, is_disconnected).await;
    let mut accepted = 0usize;
    let err = loop {
        match within(client.publish("rb", vec![b'x'; 100])).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "the reconnect buffer is not bounded");
    };
    assert_eq!(err.kind(), ErrorKind::BufferFull, "{err}");
    assert!(
        (20..=40).contains(&accepted),
        "{accepted} publishes of 100 B in 4 KiB"
    );
    server.restart();
    next_of(&mut rx, is_reconnected).await;
    for _ in 0..accepted {
        within(sub.next_msg()).await.expect("buffered publish");
    }

    let mut server2 = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let c2 = connect_with(
        server2.client_url(),
        fast_reconnect()
            .reconnect_buffer_size(0)
            .event_recipient(rec),
    )
    .await;
    server2.kill();
    next_of(&mut rx, is_disconnected).await;
    let err = within(c2.publish("rb", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected, "{err}");
}

/// Subscribe and unsubscribe made while disconnected take effect after
/// the reconnect; a flush made while disconnected resolves after it.
#[actix_rt::test]
async fn subscribe_unsubscribe_flush_while_disconnected() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(server.client_url(), fast_reconnect().event_recipient(rec)).await;
    let mut early = within(client.subscribe("early")).await.unwrap();
    within(client.flush()).await.unwrap();
    server.kill();
    next_of(&mut rx, is_disconnected).await;
    let mut late = within(client.subscribe("late")).await.unwrap();
    within(early.unsubscribe()).await.unwrap();
    within(client.publish("late", "buffered")).await.unwrap();
    let flusher = client.clone();
    let flush = actix_rt::spawn(async move { flusher.flush().await });
    server.restart();
    within(flush)
        .await
        .unwrap()
        .expect("the flush made while disconnected");
    assert_eq!(
        within(late.next_msg())
            .await
            .unwrap()
            .payload_str()
            .unwrap(),
        "buffered"
    );
    assert_eq!(
        server_subs(&server),
        vec![("late".to_string(), String::new(), 0)]
    );
}

/// A silent server (a paused proxy) is detected by the PINGs, also while
/// publishing; the client reconnects once the link answers again.
#[actix_rt::test]
async fn stale_connection_detected_and_recovered() {
    let server = NatsServer::start();
    let proxy = support::proxy::Proxy::start(server.client_port());
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        proxy.url(),
        fast_reconnect()
            .ping_interval(Duration::from_millis(100))
            .max_ping_out(2)
            .connection_timeout(Duration::from_millis(300))
            .event_recipient(rec),
    )
    .await;
    let mut sub = within(client.subscribe("stale")).await.unwrap();
    within(client.flush()).await.unwrap();
    proxy.pause();
    let publisher = client.clone();
    let busy = actix_rt::spawn(async move {
        for _ in 0..50 {
            let _ = publisher.publish("stale.busy", "x").await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let e = next_of(&mut rx, is_disconnected).await;
    match e {
        Event::Disconnected {
            reason: Some(r), ..
        } => assert_eq!(r.kind(), ErrorKind::TimedOut, "{r}"),
        other => panic!("{other}"),
    }
    proxy.resume();
    next_of(&mut rx, is_reconnected).await;
    within(busy).await.unwrap();
    within(client.publish("stale", "after")).await.unwrap();
    assert_eq!(
        within(sub.next_msg()).await.unwrap().payload_str().unwrap(),
        "after"
    );
}

/// `force_reconnect` drops the link and reconnects at once (no
/// `reconnect_time_wait`, here the 2 s default).
#[actix_rt::test]
async fn force_reconnect_is_immediate() {
    let server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new().event_recipient(rec),
    )
    .await;
    let mut sub = within(client.subscribe("fr")).await.unwrap();
    within(client.flush()).await.unwrap();
    let start = Instant::now();
    within(client.force_reconnect()).await.unwrap();
    match next_of(&mut rx, is_disconnected).await {
        Event::Disconnected { reason, .. } => assert!(reason.is_none(), "{reason:?}"),
        _ => unreachable!(),
    }
    next_of(&mut rx, is_reconnected).await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    within(client.publish("fr", "x")).await.unwrap();
    within(sub.next_msg())
        .await
        .expect("the subscription survived");
}

/// The abort rule: the same authorization error twice in a row from one
/// server ends the reconnect loop; with `ignore_auth_error_abort` the
/// client keeps trying until its attempts are used.
#[actix_rt::test]
async fn auth_errors_abort_unless_ignored() {
    for ignore in [false, true] {
        let fake = FakeServer::start_with(|i| {
            if i == 0 {
                Script::new(vec![Step::Close])
            } else {
                Script::raw(vec![
                    Step::Info(support::fake::default_info()),
                    Step::expect("CONNECT"),
                    Step::err("Authorization Violation"),
                    Step::Close,
                ])
            }
        });
        let client = within(Client::connect(
            fast_reconnect()
                .max_reconnect_attempts(5)
                .ignore_auth_error_abort(ignore)
                .server(fake.url()),
        ))
        .await
        .unwrap();
        let reason = within(client.closed()).await.expect("a reason");
        if ignore {
            assert_eq!(reason.kind(), ErrorKind::MaxReconnects, "{reason}");
            assert_eq!(fake.connections(), 1 + 5);
        } else {
            assert_eq!(reason.kind(), ErrorKind::Authentication, "{reason}");
            assert_eq!(fake.connections(), 1 + 2);
        }
    }
}

/// A frame cut mid-way by the link's loss is neither sent corrupt nor
/// duplicated: the subscription is replayed before the publishes buffered
/// while disconnected, each of which arrives once.
#[actix_rt::test]
async fn replay_precedes_buffered_publishes_on_the_wire() {
    let fake = FakeServer::start_with(|i| {
        if i == 0 {
            Script::new(vec![Step::expect("SUB"), Step::Close])
        } else {
            Script::new(vec![])
        }
    });
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        fast_reconnect().event_recipient(rec).server(fake.url()),
    ))
    .await
    .unwrap();
    let _sub = within(client.subscribe("a.b")).await.unwrap();
    next_of(&mut rx, is_disconnected).await;
    within(client.publish("p", "1")).await.unwrap();
    within(client.publish("p", "2")).await.unwrap();
    next_of(&mut rx, is_reconnected).await;
    within(client.flush()).await.unwrap();
    let lines: Vec<String> = fake
        .received(1)
        .into_iter()
        .filter(|l| !l.starts_with("PING") && !l.starts_with("PONG"))
        .collect();
    assert!(lines[0].starts_with("CONNECT"), "{lines:?}");
    assert_eq!(
        &lines[1..],
        ["SUB a.b 1", "PUB p 1", "PUB p 1"],
        "{lines:?}"
    );
}

// ------------------------------------------------------------ clusters

/// 32 clients on one node of a 3-node cluster learn the other nodes from
/// INFO; the node is killed; they spread over the two survivors.
#[actix_rt::test]
async fn cluster_failover_spreads_clients() {
    let mut cluster = support::NatsCluster::start(3);
    let first = cluster.nodes[0].client_url();
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (rec, rx) = event_sink();
        let c = connect_with(first.clone(), fast_reconnect().event_recipient(rec)).await;
        clients.push((c, rx));
    }
    // Every client learned the two others.
    for (c, _) in &clients {
        within(async {
            while c.servers().await.len() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
    cluster.nodes[0].kill();
    let mut on = std::collections::HashMap::new();
    for (c, rx) in &mut clients {
        next_of(rx, is_reconnected).await;
        within(c.flush()).await.unwrap();
        let server = within(c.connected_server()).await.expect("a server");
        *on.entry(server).or_insert(0) += 1;
    }
    eprintln!("failover spread over the survivors: {on:?}");
    assert_eq!(on.len(), 2, "{on:?}");
    for n in on.values() {
        assert!((8..=24).contains(n), "{on:?}");
    }
}

/// Lame duck: the event comes as soon as INFO carries `ldm`; with
/// `reconnect_on_lame_duck` the client moves to another node before it
/// is evicted.
#[actix_rt::test]
async fn lame_duck_moves_the_client_early() {
    let cluster = support::NatsCluster::with_config(
        2,
        "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"",
    );
    let url = cluster.nodes[0].client_url();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        url.clone(),
        fast_reconnect()
            .reconnect_on_lame_duck(true)
            .event_recipient(rec),
    )
    .await;
    within(async {
        while client.servers().await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut sub = within(client.subscribe("ldm")).await.unwrap();
    within(client.flush()).await.unwrap();
    cluster.nodes[0].lame_duck();
    next_of(&mut rx, |e| matches!(e, Event::LameDuckMode { .. })).await;
    next_of(&mut rx, is_reconnected).await;
    let now = within(client.connected_server()).await.unwrap();
    assert!(
        !now.ends_with(&format!(":{}", cluster.nodes[0].client_port())),
        "still on the lame duck: {now}"
    );
    assert!(
        now.ends_with(&format!(":{}", cluster.nodes[1].client_port())),
        "{now}"
    );
    within(client.publish("ldm", "x")).await.unwrap();
    within(sub.next_msg())
        .await
        .expect("subscription carried over");
}

// ------------------------------------------------------------ requests

/// Soak: 5,000 requests across 100 server kills, each ending in a reply
/// or a typed error within its timeout + 1 s; the waiter table is empty
/// afterwards.
#[actix_rt::test]
async fn soak_requests_across_kills() {
    const KILLS: usize = 100;
    const PER_KILL: usize = 50;
    const TIMEOUT: Duration = Duration::from_millis(500);
    let mut server = NatsServer::start();
    let (srec, mut srx) = event_sink();
    let service = connect_with(server.client_url(), fast_reconnect().event_recipient(srec)).await;
    let mut svc = within(service.subscribe("svc")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let _ = m.respond(m.payload.clone());
        }
    });
    within(service.flush()).await.unwrap();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        fast_reconnect()
            .request_timeout(TIMEOUT)
            .event_recipient(rec),
    )
    .await;
    let (mut ok, mut typed) = (0usize, 0usize);
    let replied = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for kill in 0..KILLS {
        let mut reqs = Vec::new();
        for i in 0..PER_KILL {
            let c = client.clone();
            let done = replied.clone();
            reqs.push(actix_rt::spawn(async move {
                let start = Instant::now();
                let res = c.request("svc", format!("{kill}.{i}")).await;
                if res.is_ok() {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (res, start.elapsed())
            }));
        }
        // Kill the server mid-stream: once some have been answered.
        let before = replied.load(std::sync::atomic::Ordering::Relaxed);
        within(async {
            while replied.load(std::sync::atomic::Ordering::Relaxed) < before + PER_KILL / 4 {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
        .await;
        server.kill();
        for r in reqs {
            let (res, took) = tokio::time::timeout(TIMEOUT + Duration::from_secs(1), r)
                .await
                .expect("a request hung")
                .unwrap();
            assert!(took <= TIMEOUT + Duration::from_secs(1), "{took:?}");
            match res {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::TimedOut | ErrorKind::NoResponders | ErrorKind::Disconnected
                        ),
                        "{e}"
                    );
                    typed += 1;
                }
            }
        }
        server.restart();
        next_of(&mut rx, is_reconnected).await;
        next_of(&mut srx, is_reconnected).await;
        within(service.flush()).await.unwrap();
        within(client.flush()).await.unwrap();
    }
    assert_eq!(within(client.pending_requests()).await, 0, "leaked waiters");
    eprintln!(
        "requests across {KILLS} kills: {ok} replies, {typed} typed errors, 0 hangs, of {}",
        KILLS * PER_KILL
    );
    assert_eq!(ok + typed, KILLS * PER_KILL);
}

/// Chaos: 1,000 requests through a proxy that cuts about one frame in
/// 200: no panic, no hang, at least 95 % answered on the first try.
#[actix_rt::test]
async fn chaos_proxy_requests() {
    let server = NatsServer::start();
    let proxy = support::proxy::Proxy::start(server.client_port());
    proxy.chaos_cut_one_in(200, 0x5eed);
    let service = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut svc = within(service.subscribe("chaos")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let _ = m.respond(m.payload.clone());
        }
    });
    within(service.flush()).await.unwrap();
    let client = connect_with(
        proxy.url(),
        fast_reconnect().request_timeout(Duration::from_millis(500)),
    )
    .await;
    let mut ok = 0;
    for i in 0..1000 {
        let res = tokio::time::timeout(
            Duration::from_millis(1500),
            client.request("chaos", format!("{i}")),
        )
        .await
        .expect("a request hung");
        match res {
            Ok(m) => {
                assert_eq!(m.payload_str().unwrap(), i.to_string());
                ok += 1;
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::Disconnected | ErrorKind::NoResponders
                ),
                "{e}"
            ),
        }
    }
    eprintln!(
        "chaos: {ok}/1000 requests answered on the first try, {} cuts",
        proxy.cuts()
    );
    assert!(ok >= 950, "{ok}/1000");
    assert_eq!(within(client.pending_requests()).await, 0);
}

// ------------------------------------------------------------ drain

/// 1,000 requests in flight to a service that drains mid-stream: each gets
/// its reply or no-responders, none times out.
#[actix_rt::test]
async fn drain_answers_every_accepted_request() {
    let server = NatsServer::start();
    let service = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut svc = within(service.subscribe("drain.svc")).await.unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = answered.clone();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            // Slow enough that messages queue up in the subscriber.
            tokio::time::sleep(Duration::from_micros(200)).await;
            m.respond(m.payload.clone())
                .expect("reply accepted while draining");
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    within(service.flush()).await.unwrap();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new().request_timeout(Duration::from_secs(10)),
    )
    .await;
    let mut reqs = Vec::new();
    for i in 0..1000 {
        let c = client.clone();
        reqs.push(actix_rt::spawn(async move {
            c.request("drain.svc", format!("{i}")).await
        }));
    }
    // Drain mid-stream: once 300 have been answered.
    within(async {
        while answered.load(std::sync::atomic::Ordering::Relaxed) < 300 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let s = service.clone();
    actix_rt::spawn(async move { s.drain().await });
    let (mut replies, mut no_responders) = (0, 0);
    for (i, r) in reqs.into_iter().enumerate() {
        match within(r).await.unwrap() {
            Ok(m) => {
                assert_eq!(m.payload_str().unwrap(), i.to_string());
                replies += 1;
            }
            Err(e) if e.kind() == ErrorKind::NoResponders => no_responders += 1,
            Err(e) => panic!("request {i}: {e}"),
        }
    }
    eprintln!("drain: {replies} replies, {no_responders} no responders, 0 timeouts");
    assert!(replies > 300);
    assert!(within(service.closed()).await.is_none(), "a clean drain");
}

/// A request started while draining is refused at once.
#[actix_rt::test]
async fn requests_refused_while_draining() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut sub = within(client.subscribe("held")).await.unwrap();
    within(client.publish("held", "x")).await.unwrap();
    within(client.flush()).await.unwrap();
    let m = within(sub.next_msg()).await.unwrap();
    // A message still held keeps the drain waiting.
    within(client.connection().send(nats_actix::messages::Drain))
        .await
        .unwrap()
        .unwrap();
    let start = Instant::now();
    let err = within(client.request("anything", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(start.elapsed() < Duration::from_millis(500));
    drop(m);
    drop(sub);
    assert!(within(client.closed()).await.is_none());
}

/// A drain past `drain_timeout` closes anyway, with a typed reason.
#[actix_rt::test]
async fn drain_timeout_is_typed() {
    let server = NatsServer::start();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new().drain_timeout(Duration::from_millis(200)),
    )
    .await;
    let mut sub = within(client.subscribe("stuck")).await.unwrap();
    within(client.publish("stuck", "x")).await.unwrap();
    let _held = within(sub.next_msg()).await.unwrap();
    within(client.drain()).await.unwrap();
    let reason = within(client.closed()).await.expect("timed out");
    assert_eq!(reason.kind(), ErrorKind::TimedOut, "{reason}");
}

// ------------------------------------------------------------ publishing from actors

struct Echo {
    conn: Addr<nats_actix::connection::Connection>,
}

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Msg> for Echo {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        // A Publish to the Connection, then a reply: on the wire in this order.
        self.conn.do_send(Publish::new("order.side", "first"));
        msg.respond("second").unwrap();
    }
}

/// A `Publish` sent to the Connection and a `Msg::respond` from the same
/// actor reach the wire in the order they were made.
#[actix_rt::test]
async fn publish_and_respond_keep_their_order() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let echo = Echo {
        conn: client.connection().clone(),
    }
    .start();
    within(client.subscribe_actor("order.req", echo.recipient(), SubscribeOptions::default()))
        .await
        .unwrap();
    let watcher = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut all = within(watcher.subscribe(">")).await.unwrap();
    within(watcher.flush()).await.unwrap();
    within(client.flush()).await.unwrap();
    for i in 0..50 {
        let reply = within(watcher.request("order.req", format!("{i}")))
            .await
            .unwrap();
        assert_eq!(reply.payload_str().unwrap(), "second");
    }
    let mut side_seen = 0;
    let mut checked = 0;
    while checked < 50 {
        let m = within(all.next_msg()).await.unwrap();
        if m.subject.as_str() == "order.side" {
            side_seen += 1;
        } else if m.payload_str().unwrap_or_default() == "second" {
            checked += 1;
            assert_eq!(side_seen, checked, "a reply overtook the Publish before it");
        }
    }
}

/// `do_send(Publish)` beyond twice the write buffer limit is loud: counted
/// and raised as an `Error` event, never a silent drop.
#[actix_rt::test]
async fn do_send_overflow_is_loud() {
    let server = NatsServer::start();
    let proxy = support::proxy::Proxy::start(server.client_port());
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        proxy.url(),
        ConnectOptions::new()
            .write_buffer_limit(4096)
            .event_recipient(rec),
    )
    .await;
    within(client.flush()).await.unwrap();
    proxy.pause();
    // Fill the socket's buffers so the write loop cannot drain ours.
    for _ in 0..20_000 {
        client
            .connection()
            .do_send(Publish::new("loud", vec![b'x'; 1024]));
    }
    let e = next_of(&mut rx, |e| matches!(e, Event::Error(_))).await;
    match e {
        Event::Error(err) => assert_eq!(err.kind(), ErrorKind::BufferFull, "{err}"),
        _ => unreachable!(),
    }
    within(async {
        while client.stats().publish_errors == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(client.stats().publish_errors > 0);
    proxy.resume();
}

// ------------------------------------------------------------ smaller defects

#[test]
fn connect_outside_a_system_is_a_typed_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(Client::connect(ConnectOptions::new().server("127.0.0.1:1")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[actix_rt::test]
async fn request_many_without_deadline_does_not_panic() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut svc = within(client.subscribe("many")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let _ = m.respond("a");
        }
    });
    within(client.flush()).await.unwrap();
    let replies = within(
        client.request_many(
            "many",
            "",
            nats_actix::RequestManyOptions::default()
                .max_wait(Duration::MAX)
                .max_messages(1),
        ),
    )
    .await
    .unwrap();
    assert_eq!(replies.len(), 1);
}

#[actix_rt::test]
async fn headers_refused_locally_when_the_server_has_none() {
    let fake = FakeServer::start(vec![Script::new(vec![]).info("headers", false)]);
    let client = within(Client::connect(ConnectOptions::new().server(fake.url())))
        .await
        .unwrap();
    let mut h = nats_actix::HeaderMap::new();
    h.insert("a", "b");
    let err = within(client.publish_with_headers("x", h, "y"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidHeader, "{err}");
}

#[actix_rt::test]
async fn dropping_the_last_client_closes_the_connection() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    within(client.flush()).await.unwrap();
    let conn = client.connection().clone();
    drop(client);
    within(async {
        while conn.connected() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    within(async {
        loop {
            let n = server.connz()["num_connections"].as_u64().unwrap_or(1);
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A denied reply subject (`Permissions Violation for Publish with Reply
/// of "..."`) fails the request that used it, at once, and leaves the
/// connection up.
#[actix_rt::test]
async fn denied_reply_subject_fails_that_request() {
    // nats-server refuses reply subjects under its reserved gateway
    // prefix `_GR_.` with exactly that error.
    let server = NatsServer::start();
    let service = connect_with(server.client_url(), ConnectOptions::new()).await;
    let _svc = within(service.subscribe("svc")).await.unwrap();
    within(service.flush()).await.unwrap();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new()
            .inbox_prefix("_GR_")
            .request_timeout(Duration::from_secs(5)),
    )
    .await;
    let start = Instant::now();
    let err = within(client.request("svc", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthorizationViolation, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(within(client.pending_requests()).await, 0);
    within(client.flush()).await.expect("still connected");
}

/// The `Request` actor message honours `no_mux` and `reply`.
#[actix_rt::test]
async fn request_message_honours_no_mux_and_reply() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut svc = within(client.subscribe("nm")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let reply = m.reply.as_ref().map(|r| r.to_string()).unwrap_or_default();
            let _ = m.respond(reply);
        }
    });
    within(client.flush()).await.unwrap();
    let mut req = nats_actix::messages::Request::new("nm", "x");
    req.options = nats_actix::RequestOptions::default().reply("my.own.reply");
    let reply = within(client.request_mux().send(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload_str().unwrap(), "my.own.reply");
    let mut req = nats_actix::messages::Request::new("nm", "x");
    req.options = nats_actix::RequestOptions::default().no_mux(true);
    let reply = within(client.request_mux().send(req))
        .await
        .unwrap()
        .unwrap();
    let inbox = reply.payload_str().unwrap().to_string();
    assert!(inbox.starts_with("_INBOX."), "{inbox}");
    assert_eq!(
        inbox.matches('.').count(),
        1,
        "a dedicated inbox, not the muxed one: {inbox}"
    );
}

/// `processed()` counts handled messages only: one still held is pending.
#[actix_rt::test]
async fn processed_counts_handled_messages_only() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut sub = within(client.subscribe("pc")).await.unwrap();
    for _ in 0..3 {
        within(client.publish("pc", "x")).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    let held = within(sub.next_msg()).await.unwrap();
    within(async {
        while sub.delivered() < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!((sub.processed(), sub.pending()), (0, 3));
    drop(held);
    assert_eq!((sub.processed(), sub.pending()), (1, 2));
    drop(within(sub.next_msg()).await);
    drop(within(sub.next_msg()).await);
    assert_eq!((sub.processed(), sub.pending()), (3, 0));
}
