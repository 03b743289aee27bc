//! The connection that survives everything: hostile peers, reconnects,
//! restarts, cluster failover, drains that lose nothing. Every test runs
//! against real nats-server processes; every await is bounded.

mod support;

use std::future::Future;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use nats_actix::{Client, ConnectOptions, ErrorKind, Event, EventStream};
use support::NatsServer;

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
