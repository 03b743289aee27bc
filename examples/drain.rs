//! Draining: a graceful unsubscribe or close that loses nothing already sent
//! to the client.
//!
//! 1. A subscription drain: a `Counter` actor's subscription is drained
//!    right after 1000 messages were published; all 1000 still reach the
//!    actor, then it is told the subscription ended (`on_end`).
//! 2. A connection drain: every subscription is drained, outbound messages
//!    are flushed and the connection closes; afterwards new publishes and
//!    subscriptions are refused with `Closed`.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example drain          # or NATS_URL=... / first argument
//! ```

use actix::prelude::*;
use nats_actix::messages::{Publish, SubscribeOptions, SubscriptionEnded};
use nats_actix::{Client, ConnectOptions, ErrorKind, Msg};
use tokio::sync::oneshot;

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Counts messages; reports the count when its subscription ends.
struct Counter {
    seen: u64,
    done: Option<oneshot::Sender<u64>>,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Msg> for Counter {
    type Result = ();
    fn handle(&mut self, _: Msg, _: &mut Context<Self>) {
        self.seen += 1;
    }
}

impl Handler<SubscriptionEnded> for Counter {
    type Result = ();
    fn handle(&mut self, ended: SubscriptionEnded, _: &mut Context<Self>) {
        println!(
            "subscription {} ended after {} messages (reason: {:?})",
            ended.subject, self.seen, ended.reason
        );
        if let Some(tx) = self.done.take() {
            let _ = tx.send(self.seen);
        }
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let nc = Client::connect(ConnectOptions::new().server(server_url())).await?;

    // --- 1. drain one subscription ---------------------------------------------
    let (tx, rx) = oneshot::channel();
    let counter = Counter {
        seen: 0,
        done: Some(tx),
    }
    .start();
    let handle = nc
        .subscribe_actor(
            "drain.demo",
            counter.clone().recipient(),
            SubscribeOptions::default().on_end(counter.recipient()),
        )
        .await?;
    for i in 0..1000 {
        nc.connection()
            .send(Publish::new("drain.demo", format!("{i}")))
            .await??;
    }
    // the messages are still on their way: drain instead of unsubscribe
    handle.drain().await?;
    let seen = rx.await.unwrap_or(0);
    println!("subscription drain: {seen}/1000 messages handled");
    assert_eq!(seen, 1000);
    // the connection is still usable
    nc.publish("drain.demo", "nobody hears this").await?;
    nc.flush().await?;

    // --- 2. drain the connection ------------------------------------------------
    let mut sub = nc.subscribe("drain.conn").await?;
    let reader = actix_rt::spawn(async move {
        let mut n = 0;
        while sub.next_msg().await.is_some() {
            n += 1;
        }
        n
    });
    for i in 0..100 {
        nc.publish("drain.conn", format!("{i}")).await?;
    }
    nc.drain().await?; // resolves once closed
    let n = reader.await.unwrap_or(0);
    println!("connection drain: {n}/100 messages reached the stream");
    assert_eq!(n, 100);

    let err = nc.publish("drain.conn", "late").await.unwrap_err();
    println!("publish after drain: {err}");
    assert_eq!(err.kind(), ErrorKind::Closed);
    let err = nc.subscribe("drain.conn").await.unwrap_err();
    println!("subscribe after drain: {err}");
    assert_eq!(err.kind(), ErrorKind::Closed);
    Ok(())
}
