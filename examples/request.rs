//! Making requests: `client.request(subject, payload)` publishes with a
//! generated reply subject and resolves with the first reply (1 s timeout by
//! default); `request_with` sets the timeout, headers or a dedicated
//! (`no_mux`) reply subscription.
//!
//! To be self-contained the example starts a `time` responder actor on its
//! own connection first (run `cargo run --example service` for the full
//! service).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example request        # or NATS_URL=... / first argument
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, Msg, RequestOptions};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Answers `time` with the Unix time in milliseconds.
struct Clock;

impl Actor for Clock {
    type Context = Context<Self>;
}

impl Handler<Msg> for Clock {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let _ = msg.respond(format!("{now} ms since the epoch"));
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();

    let responder = Client::connect(ConnectOptions::new().server(&url).name("clock")).await?;
    responder
        .subscribe_actor(
            "time",
            Clock.start().recipient(),
            SubscribeOptions::default(),
        )
        .await?;
    responder.flush().await?;

    let nc = Client::connect(ConnectOptions::new().server(&url)).await?;

    // the client makes a request and receives a future for a message; by
    // default the request times out after 1 s
    match nc
        .request_with(
            "time",
            "",
            RequestOptions::default().timeout(Duration::from_millis(1000)),
        )
        .await
    {
        Ok(m) => println!("got response: {}", String::from_utf8_lossy(&m.payload)),
        Err(err) => println!("problem with request: {err}"),
    }

    // noMux and reply: a dedicated subscription on an application subject
    let m = nc
        .request_with(
            "time",
            "",
            RequestOptions::default()
                .reply(format!("replies.{}", nats_actix::nuid::next()))
                .timeout(Duration::from_millis(1000)),
        )
        .await?;
    println!(
        "got response on {}: {}",
        m.subject,
        String::from_utf8_lossy(&m.payload)
    );

    nc.close().await?;
    responder.close().await?;
    Ok(())
}
