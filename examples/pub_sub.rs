//! Publish and subscribe with an actor: the `hello` subscription delivers to
//! a `Printer` actor's `Handler<Msg>`, messages are published by sending
//! `Publish` to the connection actor, and `drain()` makes sure every message
//! in flight is handled before the connection closes.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example pub_sub        # or NATS_URL=... / first argument
//! ```

use actix::prelude::*;
use nats_actix::messages::{Publish, SubscribeOptions, SubscriptionEnded};
use nats_actix::{Client, ConnectOptions, Msg};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Prints every message with its running number.
#[derive(Default)]
struct Printer {
    processed: u64,
}

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<Msg> for Printer {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        self.processed += 1;
        println!(
            "[{}]: {}",
            self.processed,
            String::from_utf8_lossy(&msg.payload)
        );
    }
}

/// Told by the subscription when it ends (here: by the connection drain).
impl Handler<SubscriptionEnded> for Printer {
    type Result = ();
    fn handle(&mut self, ended: SubscriptionEnded, _: &mut Context<Self>) {
        println!("subscription {} closed", ended.subject);
    }
}

/// Asks the printer how many messages it handled. Its mailbox is FIFO, so
/// the answer comes after every message delivered before.
#[derive(Message)]
#[rtype(result = "u64")]
struct Processed;

impl Handler<Processed> for Printer {
    type Result = u64;
    fn handle(&mut self, _: Processed, _: &mut Context<Self>) -> u64 {
        self.processed
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let client = Client::connect(ConnectOptions::new().server(server_url())).await?;

    let printer = Printer::default().start();
    client
        .subscribe_actor(
            "hello",
            printer.clone().recipient(),
            SubscribeOptions::default().on_end(printer.clone().recipient()),
        )
        .await?;

    // publishing is a message to the connection actor
    client
        .connection()
        .send(Publish::new("hello", "world"))
        .await??;
    client
        .connection()
        .send(Publish::new("hello", "again"))
        .await??;

    // drain: the messages in flight reach the printer, then the connection closes
    client.drain().await?;
    let n = printer.send(Processed).await.unwrap_or(0);
    println!("drained; printer handled {n} messages");
    assert_eq!(n, 2, "both messages should have been delivered");
    Ok(())
}
