//! Headers: publishes a message with `id` and `unix_time` headers to an
//! inbox an actor listens on; the actor prints every header and reads one
//! case-insensitively. Then a request with headers, answered with headers.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example headers        # or NATS_URL=... / first argument
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use nats_actix::messages::{Publish, SubscribeOptions};
use nats_actix::{Client, ConnectOptions, HeaderMap, Msg, RequestOptions};
use tokio::sync::mpsc;

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Prints the headers of what it receives, answers requests with a header,
/// and tells `main` each time it handled a message.
struct HeaderPrinter {
    done: mpsc::UnboundedSender<()>,
}

impl Actor for HeaderPrinter {
    type Context = Context<Self>;
}

impl Handler<Msg> for HeaderPrinter {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        if let Some(headers) = &msg.headers {
            for (key, value) in headers {
                println!("{key}={value}");
            }
            // reading a header is not case sensitive
            println!("id {:?}", headers.get("ID"));
        }
        if msg.reply.is_some() {
            let mut h = HeaderMap::new();
            h.insert("Handled-By", "header-printer");
            let _ = msg.respond_with_headers(Some(h), "ok");
        }
        let _ = self.done.send(());
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let nc = Client::connect(ConnectOptions::new().server(server_url())).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();

    let subj = nc.new_inbox();
    nc.subscribe_actor(
        subj.as_str(),
        HeaderPrinter { done: tx }.start().recipient(),
        SubscribeOptions::default(),
    )
    .await?;

    // header names are printable ASCII except ':'; values any ASCII except CR/LF
    let mut h = HeaderMap::new();
    h.append("id", nats_actix::nuid::next());
    h.append(
        "unix_time",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            .to_string(),
    );
    nc.connection()
        .send(Publish::new(subj.as_str(), "").headers(h))
        .await??;
    nc.flush().await?;
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .map_err(|_| nats_actix::Error::new(nats_actix::ErrorKind::TimedOut))?;

    // a request with headers; the reply carries headers too
    let mut h = HeaderMap::new();
    h.insert("Trace-Id", "abc-123");
    let reply = nc
        .request_with(subj.as_str(), "ping", RequestOptions::default().headers(h))
        .await?;
    println!(
        "reply {:?} handled by {:?}",
        String::from_utf8_lossy(&reply.payload),
        reply.headers.as_ref().and_then(|h| h.get("handled-by"))
    );

    nc.close().await?;
    Ok(())
}
