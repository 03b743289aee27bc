//! Connecting with a creds file (user JWT + nkey seed) over TLS: the setup
//! most production NATS deployments use.
//!
//! ```sh
//! NATS_URL=tls://nats.example:4222 NATS_CREDS=/etc/nats/app.creds \
//!   NATS_CA=/etc/nats/ca.pem cargo run --example secure
//! ```
//!
//! `NATS_CA` is optional (the system roots verify the server without it);
//! `NATS_CERT`/`NATS_KEY` add a client certificate. The creds file is read
//! again on every reconnect, so rotating it needs no restart.
//!
//! `--self-test` runs the whole story on its own: it makes a CA and a
//! server certificate, an operator, an account and a user (with the test
//! fixtures of `tests/support`), starts a nats-server in operator mode with
//! TLS required, connects with the creds file over TLS, and round-trips a
//! message.

#[path = "../tests/support/mod.rs"]
#[allow(unreachable_pub, missing_docs)]
mod support;

use std::path::PathBuf;

use nats_actix::{Client, ConnectOptions, TlsOptions};

async fn run(url: String, creds: PathBuf, ca: Option<PathBuf>) -> nats_actix::Result<()> {
    let mut tls = TlsOptions::new();
    if let Some(ca) = ca {
        tls = tls.ca_file(ca);
    }
    if let (Ok(cert), Ok(key)) = (std::env::var("NATS_CERT"), std::env::var("NATS_KEY")) {
        tls = tls.cert_file(cert).key_file(key);
    }
    let client = Client::connect(
        ConnectOptions::new()
            .server(&url)
            .name("secure-example")
            .credentials_file(creds)
            .tls(tls),
    )
    .await?;
    println!(
        "connected to {} over TLS",
        client.connected_server().await.unwrap_or_default()
    );
    let mut sub = client.subscribe("secure.hello").await?;
    client.publish("secure.hello", "hello, securely").await?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), sub.next_msg()).await {
        Ok(Some(m)) => println!("received: {}", m.payload_str()?),
        _ => {
            return Err(nats_actix::Error::with_source(
                nats_actix::ErrorKind::TimedOut,
                "the message did not come back",
            ));
        }
    }
    client.drain().await
}

#[actix_rt::main]
async fn main() {
    let result = if std::env::args().any(|a| a == "--self-test") {
        let tls = support::tls::TlsFixture::new();
        let op = support::jwt::Operator::new();
        let user = nkeys::KeyPair::new_user();
        let server = support::NatsServer::with_config(&format!(
            "{}{}",
            op.server_config(),
            tls.server_conf(false, "")
        ));
        let creds = server.dir().join("app.creds");
        if let Err(e) = std::fs::write(&creds, op.creds(&user)) {
            eprintln!("error: cannot write the creds file: {e}");
            std::process::exit(1);
        }
        let url = format!("tls://localhost:{}", server.client_port());
        let r = run(url, creds, Some(tls.ca())).await;
        drop(server);
        r
    } else {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "tls://127.0.0.1:4222".into());
        let Ok(creds) = std::env::var("NATS_CREDS") else {
            eprintln!("error: set NATS_CREDS to a creds file (or run with --self-test)");
            std::process::exit(2);
        };
        run(
            url,
            creds.into(),
            std::env::var("NATS_CA").ok().map(PathBuf::from),
        )
        .await
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
