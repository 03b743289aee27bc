//! Conformance section J (76–80) of `reference/conformance.md`: TLS against
//! real nats-server processes with certificates made at test time
//! (`support::tls`), the downgrade refusal against the scripted fake
//! server, handshake-first (server ≥ 2.10) and a reconnect over TLS.
//! Every await is bounded.

mod support;

use std::future::Future;
use std::time::Duration;

use nats_actix::{Client, ConnectOptions, Error, ErrorKind, TlsOptions};
use support::NatsServer;
use support::events::{event_sink, is_reconnected, next_of};
use support::fake::{FakeServer, Script, Step, default_info};
use support::tls::TlsFixture;

const LIMIT: Duration = Duration::from_secs(15);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

/// Short connect timeout and no retries: a refused handshake fails fast.
fn opts() -> ConnectOptions {
    ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .reconnect(false)
}

async fn connect(url: String, opts: ConnectOptions) -> Result<Client, Error> {
    within(Client::connect(opts.server(url))).await
}

/// Subscribes, publishes and receives one message.
async fn round_trip(client: &Client) {
    let mut sub = within(client.subscribe("tls.rt")).await.expect("subscribe");
    within(client.publish("tls.rt", "hello"))
        .await
        .expect("publish");
    let msg = within(sub.next_msg()).await.expect("a message");
    assert_eq!(&msg.payload[..], b"hello");
}

fn tls_url(server: &NatsServer, host: &str) -> String {
    format!("tls://{host}:{}", server.client_port())
}

fn assert_tls_error(res: Result<Client, Error>, what: &str) -> Error {
    match res {
        Ok(_) => panic!("{what}: connected, expected a TLS error"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Tls, "{what}: {e}");
            eprintln!("{what}: {e}");
            e
        }
    }
}

/// J76: CA + client certificate against `verify: true` → round trip.
#[actix_rt::test]
async fn tls_mutual_ok() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(true, ""));
    let tls = TlsOptions::new()
        .ca_file(certs.ca())
        .cert_file(certs.client_cert())
        .key_file(certs.client_key());
    let client = connect(server.client_url(), opts().tls(tls))
        .await
        .expect("mutual TLS connects");
    let info = within(client.server_info()).await.expect("server info");
    assert!(info.tls_required && info.tls_verify);
    round_trip(&client).await;
    within(client.close()).await.expect("close");
}

/// A `tls://` URL with the CA (the older setters), name `localhost`, and
/// an IP in the certificate's SAN.
#[actix_rt::test]
async fn tls_url_with_ca_file() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(false, ""));
    for host in ["localhost", "127.0.0.1"] {
        let client = connect(tls_url(&server, host), opts().tls_ca_file(certs.ca()))
            .await
            .unwrap_or_else(|e| panic!("tls://{host}: {e}"));
        round_trip(&client).await;
        within(client.close()).await.expect("close");
    }
}

/// J80: the server requires TLS, the URL is `nats://` and no
/// `tls_required` is set: the client upgrades; CA, certificate and key
/// come from one PEM file (the CA first).
#[actix_rt::test]
async fn tls_auto_upgrade_and_one_file_pem() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(true, ""));
    let all = certs.client_all();
    let tls = TlsOptions::new()
        .ca_file(&all)
        .cert_file(&all)
        .key_file(&all);
    let client = connect(server.client_url(), opts().tls(tls))
        .await
        .expect("one-file PEM connects");
    round_trip(&client).await;
    within(client.close()).await.expect("close");

    // Without any TLS option the client still upgrades (never plaintext
    // to a TLS server): verified against the system roots, which do not
    // know the test CA.
    let res = connect(server.client_url(), opts()).await;
    let e = assert_tls_error(res, "no TLS option, unknown CA");
    assert!(!e.to_string().contains("not offer"), "{e}");
}

/// J77: no client certificate against `verify: true` → rejected.
#[actix_rt::test]
async fn tls_missing_client_cert_rejected() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(true, ""));
    let res = connect(server.client_url(), opts().tls_ca_file(certs.ca())).await;
    assert_tls_error(res, "no client certificate");
}

/// J78: a CA that did not sign the server's certificate → rejected.
#[actix_rt::test]
async fn tls_unknown_ca_rejected() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(false, ""));
    let res = connect(
        tls_url(&server, "localhost"),
        opts().tls_ca_file(certs.other_ca()),
    )
    .await;
    let e = assert_tls_error(res, "unknown CA");
    assert!(e.to_string().contains("handshake"), "{e}");
}

/// J78: an IP not in the certificate's SAN fails; its DNS name passes (and
/// the IP in the SAN passes in `tls_url_with_ca_file`).
#[actix_rt::test]
async fn tls_hostname_mismatch_rejected() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf_noip());
    let res = connect(
        tls_url(&server, "127.0.0.1"),
        opts().tls_ca_file(certs.ca()),
    )
    .await;
    assert_tls_error(res, "IP not in the SAN");
    let client = connect(
        tls_url(&server, "localhost"),
        opts().tls_ca_file(certs.ca()),
    )
    .await
    .expect("the DNS name matches");
    round_trip(&client).await;
    within(client.close()).await.expect("close");
}

/// J79: the client requires TLS and the INFO offers none → `Tls` error,
/// and not a byte of CONNECT is sent.
#[actix_rt::test]
async fn tls_downgrade_refused() {
    let certs = TlsFixture::new();
    let cases = [
        ("tls_required", opts().tls_required(true), false),
        ("tls option", opts().tls_ca_file(certs.ca()), false),
        ("tls:// URL", opts().tls_ca_file(certs.ca()), true),
    ];
    for (what, options, url) in cases {
        let fake = FakeServer::start(vec![Script::raw(vec![
            Step::Info(default_info()),
            Step::Sleep(Duration::from_secs(5)),
        ])]);
        let target = if url {
            format!("tls://127.0.0.1:{}", fake.port())
        } else {
            fake.url()
        };
        let res = connect(target, options.user("derek").pass("s3cr3t")).await;
        let e = assert_tls_error(res, what);
        assert!(e.to_string().contains("does not offer"), "{what}: {e}");
        assert!(fake.wait_for_close(0, LIMIT), "{what}: the client hangs up");
        let lines = fake.received(0);
        assert!(
            lines.iter().all(|l| !l.starts_with("CONNECT")),
            "{what}: CONNECT sent in plaintext: {lines:?}"
        );
        assert!(lines.is_empty(), "{what}: sent {lines:?}");
    }
}

/// The handshake before the INFO (server `handshake_first: true`, ≥ 2.10).
#[actix_rt::test]
async fn tls_handshake_first_ok() {
    if !support::require_server((2, 10, 0), "tls_handshake_first_ok", "TLS handshake first") {
        return;
    }
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(false, "handshake_first: true"));
    let tls = TlsOptions::new().ca_file(certs.ca()).handshake_first(true);
    let client = connect(server.client_url(), opts().tls(tls))
        .await
        .expect("handshake first connects");
    round_trip(&client).await;
    within(client.close()).await.expect("close");

    // Without handshake_first the client waits for an INFO that does not
    // come (the server waits for a ClientHello): it times out.
    let res = connect(
        server.client_url(),
        opts()
            .tls_ca_file(certs.ca())
            .connection_timeout(Duration::from_millis(500)),
    )
    .await;
    assert!(res.is_err(), "no INFO before TLS");
}

/// A TLS client survives a server restart (same CA, new handshake).
#[actix_rt::test]
async fn tls_reconnect_after_restart() {
    let certs = TlsFixture::new();
    let mut server = NatsServer::with_config(&certs.server_conf(true, ""));
    let (rec, mut rx) = event_sink();
    let tls = TlsOptions::new()
        .ca_file(certs.ca())
        .cert_file(certs.client_cert())
        .key_file(certs.client_key());
    let options = ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .reconnect_time_wait(Duration::from_millis(50))
        .reconnect_jitter_tls(Duration::ZERO)
        .max_reconnect_attempts(-1)
        .event_recipient(rec)
        .tls(tls);
    let client = connect(server.client_url(), options)
        .await
        .expect("connects");
    let mut sub = within(client.subscribe("tls.re")).await.expect("subscribe");
    within(client.flush()).await.expect("flush");
    server.restart();
    next_of(&mut rx, is_reconnected).await;
    within(client.publish("tls.re", "again"))
        .await
        .expect("publish");
    let msg = within(sub.next_msg())
        .await
        .expect("delivered after reconnect");
    assert_eq!(&msg.payload[..], b"again");
    assert_eq!(client.stats().reconnects, 1);
    within(client.close()).await.expect("close");
}

/// C54: a server learned from the cluster as a bare IP is verified against
/// the host name the user gave. The certificate names only `localhost`,
/// so verifying the IP itself would fail.
#[actix_rt::test]
async fn tls_name_preserved_for_gossiped_ips() {
    let certs = TlsFixture::new();
    let mut cluster = support::NatsCluster::with_config(2, &certs.server_conf_noip());
    let (rec, mut rx) = event_sink();
    let options = ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .reconnect_time_wait(Duration::from_millis(50))
        .reconnect_jitter_tls(Duration::ZERO)
        .max_reconnect_attempts(-1)
        .no_randomize(true)
        .event_recipient(rec)
        .tls_ca_file(certs.ca());
    let first = tls_url(&cluster.nodes[0], "localhost");
    let client = connect(first, options).await.expect("connects by name");
    let learned = format!("127.0.0.1:{}", cluster.nodes[1].client_port());
    let servers = within(client.servers()).await;
    assert!(
        servers.iter().any(|s| s.contains(&learned)),
        "{learned} learned from connect_urls: {servers:?}"
    );
    cluster.nodes[0].kill();
    match next_of(&mut rx, is_reconnected).await {
        nats_actix::Event::Reconnected { server } => {
            assert!(server.contains(&learned), "reconnected to {server}")
        }
        other => panic!("unexpected {other:?}"),
    }
    round_trip(&client).await;
    within(client.close()).await.expect("close");
}

/// Over TLS the write loop coalesces segments (up to 64 KiB per write):
/// many small and a few large publishes all arrive, in order.
#[actix_rt::test]
async fn tls_coalesced_writes_deliver_everything() {
    let certs = TlsFixture::new();
    let server = NatsServer::with_config(&certs.server_conf(false, ""));
    let client = connect(server.client_url(), opts().tls_ca_file(certs.ca()))
        .await
        .expect("connects");
    let mut sub = within(client.subscribe("tls.bulk"))
        .await
        .expect("subscribe");
    let sizes: Vec<usize> = (0..300)
        .map(|i| match i % 50 {
            0 => 200_000,
            7 => 65_537,
            _ => i % 13,
        })
        .collect();
    for (i, size) in sizes.iter().enumerate() {
        let payload = vec![(i % 251) as u8; *size];
        within(client.publish("tls.bulk", payload))
            .await
            .expect("publish");
    }
    for (i, size) in sizes.iter().enumerate() {
        let msg = within(sub.next_msg()).await.expect("a message");
        assert_eq!(msg.payload.len(), *size, "message {i}");
        assert!(
            msg.payload.iter().all(|b| *b == (i % 251) as u8),
            "message {i}"
        );
    }
    within(client.close()).await.expect("close");
}
