//! Authentication against real nats-server processes: every mode accepted
//! and refused (conformance H/I 65–75), credentials refreshed across
//! reconnects, every mode across a failover in a 3-node cluster, and no
//! secret in any trace. Keys, JWTs and creds are made at test time.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nats_actix::auth::Authenticator;
use nats_actix::{Client, ConnectOptions, ErrorKind};
use nkeys::KeyPair;
use support::events::{event_sink, is_disconnected, is_reconnected, next_of};
use support::jwt::Operator;
use support::{NatsCluster, NatsServer};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn connect(opts: ConnectOptions) -> Result<Client, nats_actix::Error> {
    within(Client::connect(opts)).await
}

async fn round_trip(client: &Client) {
    let mut sub = within(client.subscribe("auth.rt")).await.unwrap();
    within(client.publish("auth.rt", "x")).await.unwrap();
    within(sub.next_msg()).await.expect("round trip");
}

fn signer(
    kp: Arc<KeyPair>,
) -> impl Fn(&[u8]) -> nats_actix::Result<Vec<u8>> + Send + Sync + 'static {
    move |nonce| {
        kp.sign(nonce)
            .map_err(|e| nats_actix::Error::with_source(ErrorKind::Authentication, e.to_string()))
    }
}

/// C72: an nkey user is accepted with its seed, from a file and through a
/// signing callback; a wrong seed is refused.
#[actix_rt::test]
async fn nkey_accepted_and_refused() {
    let user = KeyPair::new_user();
    let server = NatsServer::with_config(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}",
        user.public_key()
    ));
    let seed = user.seed().unwrap();
    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .nkey(seed.clone()),
    )
    .await
    .expect("seed");
    round_trip(&c).await;

    let file = server.dir().join("user.nk");
    std::fs::write(&file, format!("{seed}\n")).unwrap();
    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .nkey_file(&file),
    )
    .await
    .expect("seed file");
    round_trip(&c).await;

    let kp = Arc::new(KeyPair::from_seed(&seed).unwrap());
    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .authenticator(Authenticator::nkey_with(
                kp.public_key(),
                signer(kp.clone()),
            )),
    )
    .await
    .expect("signing callback");
    round_trip(&c).await;

    let wrong = KeyPair::new_user().seed().unwrap();
    let err = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .nkey(wrong),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

/// C73: operator mode with a MEMORY resolver: a creds file, creds text, a
/// JWT callback; a user of an unknown account and an expired user are
/// refused.
#[actix_rt::test]
async fn jwt_and_creds_accepted_and_refused() {
    let op = Operator::new();
    let server = NatsServer::with_config(&op.server_config());
    let user = KeyPair::new_user();
    let file = server.dir().join("user.creds");
    std::fs::write(&file, op.creds(&user)).unwrap();
    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .credentials_file(&file),
    )
    .await
    .expect("creds file");
    round_trip(&c).await;

    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .authenticator(Authenticator::creds(op.creds(&user))),
    )
    .await
    .expect("creds text");
    round_trip(&c).await;

    let jwt = op.user_jwt(&user, None);
    let kp = Arc::new(KeyPair::from_seed(&user.seed().unwrap()).unwrap());
    let c = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .authenticator(Authenticator::jwt(move || Ok(jwt.clone()), signer(kp))),
    )
    .await
    .expect("jwt callback");
    round_trip(&c).await;

    // A user signed by an account the server does not know.
    let stranger = Operator::new();
    let err = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .authenticator(Authenticator::creds(stranger.creds(&user))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");

    // Expired at connect: `exp` is now, and a second passes.
    let stale = op.user_jwt(&user, Some(0));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = Authenticator::jwt_with_seed(stale, user.seed().unwrap());
    let err = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .authenticator(expired),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

/// A creds file missing its JWT or seed is an error before any connection
/// attempt.
#[actix_rt::test]
async fn bad_creds_rejected_before_connecting() {
    let dir = std::env::temp_dir().join(format!("nats-actix-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let no_seed = dir.join("no-seed.creds");
    std::fs::write(
        &no_seed,
        "-----BEGIN NATS USER JWT-----\neyJ.a.b\n------END NATS USER JWT------\n",
    )
    .unwrap();
    // A port nothing listens on: the error must come before any dial.
    let err = connect(
        ConnectOptions::new()
            .server("127.0.0.1:1")
            .credentials_file(&no_seed),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("no user nkey seed"), "{err}");
    let err = connect(
        ConnectOptions::new()
            .server("127.0.0.1:1")
            .credentials_file(dir.join("missing.creds")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// C66: a user JWT that expires after 2 s: `User Authentication Expired`
/// arrives as an event with the disconnect, and the JWT callback supplies
/// a fresh JWT for the reconnect.
#[actix_rt::test]
async fn expired_jwt_refreshed_on_reconnect() {
    let op = Arc::new(Operator::new());
    let server = NatsServer::with_config(&op.server_config());
    let user = Arc::new(KeyPair::new_user());
    let minted = Arc::new(Mutex::new(0));
    let (mint_op, mint_user, count) = (op.clone(), user.clone(), minted.clone());
    let (rec, mut rx) = event_sink();
    let client = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .event_recipient(rec)
            .authenticator(Authenticator::jwt(
                move || {
                    *count.lock().unwrap() += 1;
                    Ok(mint_op.user_jwt(&mint_user, Some(2)))
                },
                signer(user.clone()),
            )),
    )
    .await
    .expect("connect");
    let e = next_of(&mut rx, is_disconnected).await;
    assert!(e.to_string().contains("Authentication Expired"), "{e}");
    next_of(&mut rx, is_reconnected).await;
    assert!(
        *minted.lock().unwrap() >= 2,
        "a fresh JWT for the reconnect"
    );
    round_trip(&client).await;
}

/// C75: token, nkey and creds clients fail over across a 3-node cluster.
#[actix_rt::test]
async fn every_mode_survives_a_failover() {
    let op = Operator::new();
    let user = KeyPair::new_user();
    let mut cluster = NatsCluster::with_config(3, &op.server_config());
    let urls = cluster.urls();
    let creds = op.creds(&user);
    let mut clients = Vec::new();
    for auth in [
        Authenticator::creds(creds.clone()),
        Authenticator::jwt_with_seed(op.user_jwt(&user, None), user.seed().unwrap()),
    ] {
        let (rec, rx) = event_sink();
        let c = connect(
            ConnectOptions::new()
                .servers(urls.clone())
                .no_randomize(true)
                .reconnect_time_wait(Duration::from_millis(50))
                .event_recipient(rec)
                .authenticator(auth),
        )
        .await
        .expect("connect");
        round_trip(&c).await;
        clients.push((c, rx));
    }
    cluster.nodes[0].kill();
    for (c, rx) in &mut clients {
        next_of(rx, is_reconnected).await;
        round_trip(c).await;
    }
    drop(cluster);

    // Token and nkey on their own cluster (plain accounts).
    let nkey_user = KeyPair::new_user();
    let mut cluster = NatsCluster::with_config(
        3,
        &format!(
            "authorization {{ users = [ {{ nkey: {} }}, {{ user: tok, password: unused }} ] }}",
            nkey_user.public_key()
        ),
    );
    let urls = cluster.urls();
    let mut clients = Vec::new();
    for opts in [
        ConnectOptions::new().nkey(nkey_user.seed().unwrap()),
        ConnectOptions::new().user("tok").pass("unused"),
    ] {
        let (rec, rx) = event_sink();
        let c = connect(
            opts.servers(urls.clone())
                .no_randomize(true)
                .reconnect_time_wait(Duration::from_millis(50))
                .event_recipient(rec),
        )
        .await
        .expect("connect");
        round_trip(&c).await;
        clients.push((c, rx));
    }
    cluster.nodes[0].kill();
    for (c, rx) in &mut clients {
        next_of(rx, is_reconnected).await;
        round_trip(c).await;
    }
}

/// Options that cannot work together are rejected by `validate`.
#[test]
fn ambiguous_modes_rejected() {
    let seed = KeyPair::new_user().seed().unwrap();
    for opts in [
        ConnectOptions::new().nkey(seed.clone()).user("u").pass("p"),
        ConnectOptions::new().nkey(seed.clone()).token("t"),
        ConnectOptions::new().token("t").user("u"),
        ConnectOptions::new().nkey("SUnotaseed"),
        ConnectOptions::new().nkey(KeyPair::new_account().seed().unwrap()),
    ] {
        let err = opts.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
}

/// No password, token, JWT, seed or nonce signature in any trace, error or
/// Debug output, in every mode.
#[actix_rt::test]
async fn secrets_never_leak() {
    use tracing_subscriber::layer::SubscriberExt;
    let op = Operator::new();
    let user = KeyPair::new_user();
    let nkey_user = KeyPair::new_user();
    let jwt = op.user_jwt(&user, None);
    let seed = user.seed().unwrap();
    let nkey_seed = nkey_user.seed().unwrap();
    let jwt_server = NatsServer::with_config(&op.server_config());
    let plain = NatsServer::with_config(&format!(
        "authorization {{ users = [ {{ nkey: {} }}, {{ user: derek, password: pa55w0rd }} ] }}",
        nkey_user.public_key()
    ));
    let token_server = NatsServer::with_config("authorization { token: t0k3n-s3cr3t }");
    let out = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = out.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || Writer(sink.clone()))
            .with_ansi(false),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut debug_out = String::new();
    for opts in [
        ConnectOptions::new()
            .server(jwt_server.client_url())
            .authenticator(Authenticator::creds(op.creds(&user))),
        ConnectOptions::new()
            .server(jwt_server.client_url())
            .authenticator(Authenticator::jwt_with_seed(jwt.clone(), seed.clone())),
        ConnectOptions::new()
            .server(plain.client_url())
            .nkey(nkey_seed.clone()),
        ConnectOptions::new()
            .server(plain.client_url())
            .user("derek")
            .pass("pa55w0rd"),
        ConnectOptions::new().server(format!(
            "nats://derek:pa55w0rd@127.0.0.1:{}",
            plain.client_port()
        )),
        ConnectOptions::new()
            .server(token_server.client_url())
            .token("t0k3n-s3cr3t"),
        // Refused ones too: their errors must not carry the secret.
        ConnectOptions::new()
            .server(plain.client_url())
            .user("derek")
            .pass("wr0ngpa55"),
        ConnectOptions::new()
            .server(token_server.client_url())
            .token("wr0ngt0k3n"),
    ] {
        let opts = opts.debug(true);
        debug_out.push_str(&format!("{opts:?}\n"));
        match connect(opts).await {
            Ok(c) => {
                debug_out.push_str(&format!("{c:?} {:?}\n", within(c.server_info()).await));
                round_trip(&c).await;
                within(c.close()).await.unwrap();
            }
            Err(e) => debug_out.push_str(&format!("{e} {e:?}\n")),
        }
    }
    let traced = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
    assert!(traced.contains("CONNECT"), "the trace ran: {traced}");
    let all = format!("{traced}\n{debug_out}");
    for secret in [
        jwt.as_str(),
        seed.as_str(),
        nkey_seed.as_str(),
        "pa55w0rd",
        "wr0ngpa55",
        "t0k3n-s3cr3t",
        "wr0ngt0k3n",
        &op.account_jwt,
    ] {
        assert!(!all.contains(secret), "leaked {secret:.12}…");
    }
    // The nonce signatures: every traced CONNECT shows them redacted.
    assert!(traced.contains("sig: Some(\"<redacted>\")"), "{traced}");
    assert_eq!(
        traced.matches("sig: Some(\"").count(),
        traced.matches("sig: Some(\"<redacted>\")").count()
    );
}

#[derive(Clone)]
struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// H: a publish permission violation is an `Error` event and the
/// connection stays up; a subscribe violation ends that subscription (the
/// queue form too) with the error and nothing else; a request to a denied
/// subject fails fast with a typed error and leaves no waiter.
#[actix_rt::test]
async fn permission_violations_are_scoped() {
    let server = NatsServer::with_config(
        "authorization { users = [ { user: app, password: pw, permissions: { \
         publish: { deny: [\"secret.>\"] }, subscribe: { deny: [\"hidden.>\"] } } } ] }",
    );
    let (rec, mut rx) = event_sink();
    let client = connect(
        ConnectOptions::new()
            .server(server.client_url())
            .user("app")
            .pass("pw")
            .request_timeout(Duration::from_secs(5))
            .event_recipient(rec),
    )
    .await
    .expect("connect");
    let mut ok_sub = within(client.subscribe("open.x")).await.unwrap();
    within(client.publish("secret.x", "no")).await.unwrap();
    let e = next_of(&mut rx, |e| matches!(e, nats_actix::Event::Error(_))).await;
    match e {
        nats_actix::Event::Error(err) => {
            assert_eq!(err.kind(), ErrorKind::AuthorizationViolation, "{err}")
        }
        _ => unreachable!(),
    }
    within(client.flush()).await.expect("still connected");

    let mut denied = within(client.subscribe("hidden.x")).await.unwrap();
    assert!(
        within(denied.next_msg()).await.is_none(),
        "the denied subscription ends"
    );
    let reason = denied.end_reason().expect("with its reason");
    assert_eq!(reason.kind(), ErrorKind::AuthorizationViolation, "{reason}");
    let mut denied_q = within(client.queue_subscribe("hidden.q", "workers"))
        .await
        .unwrap();
    assert!(within(denied_q.next_msg()).await.is_none());
    assert_eq!(
        denied_q.end_reason().map(|e| e.kind()),
        Some(ErrorKind::AuthorizationViolation)
    );

    let start = std::time::Instant::now();
    let err = within(client.request("secret.svc", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthorizationViolation, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(within(client.pending_requests()).await, 0);

    // Nothing else was touched.
    within(client.publish("open.x", "yes")).await.unwrap();
    assert_eq!(
        within(ok_sub.next_msg())
            .await
            .unwrap()
            .payload_str()
            .unwrap(),
        "yes"
    );
    assert_eq!(client.stats().reconnects, 0);
}

/// `examples/secure.rs --self-test`: a creds file over TLS against a
/// server in operator mode that requires TLS.
#[test]
fn secure_example_creds_over_tls() {
    let out = std::process::Command::new(support::example_binary("secure"))
        .arg("--self-test")
        .env("NATS_SERVER", support::server_binary())
        .output()
        .expect("run the secure example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("over TLS") && stdout.contains("received: hello, securely"),
        "{stdout}"
    );
}

/// The token mode across a failover too.
#[actix_rt::test]
async fn token_survives_a_failover() {
    let mut cluster = NatsCluster::with_config(3, "authorization { token: t0k3n-cluster }");
    let (rec, mut rx) = event_sink();
    let c = connect(
        ConnectOptions::new()
            .servers(cluster.urls())
            .no_randomize(true)
            .token("t0k3n-cluster")
            .reconnect_time_wait(Duration::from_millis(50))
            .event_recipient(rec),
    )
    .await
    .expect("connect");
    round_trip(&c).await;
    cluster.nodes[0].kill();
    next_of(&mut rx, is_reconnected).await;
    round_trip(&c).await;
}
