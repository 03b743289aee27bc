//! Status events: the `client.events()` stream (like nats.deno's
//! `status()` iterator) and an actor registered with
//! `add_event_recipient` both see every event. The example provokes a
//! `SlowConsumer` event (a subscription with a pending limit of 2 that
//! nobody reads) and a `Closed` event, then waits for `closed()`.
//!
//! Disconnect/reconnect events appear if you restart the server while it
//! runs (it gives you two seconds with `--wait`).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example events         # or NATS_URL=... / first argument
//! ```

use std::time::Duration;

use actix::prelude::*;
use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, Event};

fn server_url() -> String {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Logs the events it is sent.
#[derive(Default)]
struct EventLogger {
    seen: Vec<String>,
}

impl Actor for EventLogger {
    type Context = Context<Self>;
}

impl Handler<Event> for EventLogger {
    type Result = ();
    fn handle(&mut self, event: Event, _: &mut Context<Self>) {
        println!("[actor]  {event}");
        self.seen.push(event.to_string());
    }
}

#[derive(Message)]
#[rtype(result = "Vec<String>")]
struct Seen;

impl Handler<Seen> for EventLogger {
    type Result = Vec<String>;
    fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Vec<String> {
        self.seen.clone()
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();
    let nc = Client::connect(ConnectOptions::new().server(&url).name("events-example")).await?;
    if let Some(info) = nc.server_info().await {
        println!("connected {}:{}", info.host, info.port);
    }

    // 1. the stream
    let mut events = nc.events().await;
    let stream_task = actix_rt::spawn(async move {
        let mut n = 0;
        while let Some(event) = events.next_event().await {
            println!("[stream] {event}");
            n += 1;
        }
        n
    });
    // 2. an actor
    let logger = EventLogger::default().start();
    nc.add_event_recipient(logger.clone().recipient());

    // 3. closed() resolves with the reason when the close was not requested
    let closed = {
        let nc = nc.clone();
        actix_rt::spawn(async move {
            let err = nc.closed().await;
            match &err {
                Some(e) => println!("connection closed with error: {e}"),
                None => println!("connection closed"),
            }
            err
        })
    };

    if std::env::args().any(|a| a == "--wait") {
        println!("restart the server now to see disconnect/reconnect events...");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // provoke a slow consumer: a tiny pending limit and a reader that never reads
    let _unread = nc
        .subscribe_with(
            "events.slow",
            SubscribeOptions::default().pending_limits(2, 1 << 20),
        )
        .await?;
    for i in 0..10 {
        nc.publish("events.slow", format!("{i}")).await?;
    }
    nc.flush().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    nc.close().await?;
    let _ = closed.await;
    let from_stream = stream_task.await.unwrap_or(0);
    let from_actor = logger.send(Seen).await.unwrap_or_default();
    println!(
        "the stream saw {from_stream} events, the actor {}",
        from_actor.len()
    );
    assert!(from_actor.iter().any(|e| e.starts_with("slow consumer")));
    assert!(from_actor.iter().any(|e| e == "closed"));
    Ok(())
}
