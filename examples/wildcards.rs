//! Wildcard subscriptions: three actors listen on `help.*.system`,
//! `help.me.*` and `help.>`. Every subscription is independent, so a message
//! that matches several of them reaches each one.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example wildcards      # or NATS_URL=... / first argument
//! ```

use actix::prelude::*;
use nats_actix::messages::{Publish, SubscribeOptions};
use nats_actix::{Client, ConnectOptions, Msg};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Prints what its subscription receives.
struct Listener {
    subject: &'static str,
    processed: u64,
}

impl Actor for Listener {
    type Context = Context<Self>;
}

impl Handler<Msg> for Listener {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        self.processed += 1;
        println!(
            "[{:<13}] #{} - {} {}",
            self.subject,
            self.processed,
            msg.subject,
            String::from_utf8_lossy(&msg.payload)
        );
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Processed;

impl Handler<Processed> for Listener {
    type Result = u64;
    fn handle(&mut self, _: Processed, _: &mut Context<Self>) -> u64 {
        self.processed
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let client = Client::connect(ConnectOptions::new().server(server_url())).await?;

    // '*' matches one token; '>' matches one or more tokens at the end
    let mut listeners = Vec::new();
    for subject in ["help.*.system", "help.me.*", "help.>"] {
        let addr = Listener {
            subject,
            processed: 0,
        }
        .start();
        client
            .subscribe_actor(
                subject,
                addr.clone().recipient(),
                SubscribeOptions::default(),
            )
            .await?;
        println!("listening for {subject}");
        listeners.push((subject, addr));
    }

    for (subject, body) in [
        ("help.me.system", "matches all three"),
        ("help.you.system", "help.*.system and help.>"),
        ("help.me.now", "help.me.* and help.>"),
        ("help.a.b.c", "only help.>"),
        ("helpme", "nobody"),
    ] {
        client
            .connection()
            .send(Publish::new(subject, body))
            .await??;
    }

    client.drain().await?;
    let mut counts = Vec::new();
    for (subject, addr) in &listeners {
        let n = addr.send(Processed).await.unwrap_or(0);
        println!("{subject}: {n} messages");
        counts.push(n);
    }
    assert_eq!(counts, [2, 2, 4]);
    Ok(())
}
