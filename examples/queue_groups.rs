//! Queue groups (the nats.deno "Queue Groups" example): three members of
//! queue `echo`, two of queue `other-echo` and one standalone subscriber all
//! listen on `echo`, each an actor on its own named connection. Each request
//! reaches one member of each group plus the standalone one, so three
//! replies come back per request.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example queue_groups   # or NATS_URL=... / first argument
//! ```

use std::time::Duration;

use actix::prelude::*;
use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, Msg, RequestManyOptions};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// Echoes each request back, signed with its name.
struct Echo {
    name: String,
    processed: u64,
}

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Msg> for Echo {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        self.processed += 1;
        let body = String::from_utf8_lossy(&msg.payload).into_owned();
        // respond returns true if the message had a reply subject
        match msg.respond(format!("{body} (from {})", self.name)) {
            Ok(true) => println!("[{:<12}]: #{} echoed {body}", self.name, self.processed),
            _ => println!(
                "[{:<12}]: #{} ignoring request - no reply subject",
                self.name, self.processed
            ),
        }
    }
}

#[derive(Message)]
#[rtype(result = "(String, u64)")]
struct Report;

impl Handler<Report> for Echo {
    type Result = MessageResult<Report>;
    fn handle(&mut self, _: Report, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.name.clone(), self.processed))
    }
}

/// `count` members, each with its own connection named after it; members
/// of the same `queue` form a group.
async fn create_service(
    url: &str,
    name: &str,
    count: usize,
    queue: Option<&str>,
) -> nats_actix::Result<Vec<(Client, Addr<Echo>)>> {
    let mut out = Vec::new();
    for i in 1..=count {
        let n = if queue.is_some() {
            format!("{name}-{i}")
        } else {
            name.to_string()
        };
        let nc = Client::connect(ConnectOptions::new().server(url).name(&n)).await?;
        let addr = Echo {
            name: n.clone(),
            processed: 0,
        }
        .start();
        let mut opts = SubscribeOptions::default();
        if let Some(q) = queue {
            opts = opts.queue(q);
        }
        nc.subscribe_actor("echo", addr.clone().recipient(), opts)
            .await?;
        nc.flush().await?;
        println!("{n} is listening for 'echo' requests...");
        out.push((nc, addr));
    }
    Ok(out)
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();
    let mut members = Vec::new();
    members.extend(create_service(&url, "echo", 3, Some("echo")).await?);
    members.extend(create_service(&url, "other-echo", 2, Some("other-echo")).await?);
    members.extend(create_service(&url, "standalone", 1, None).await?);

    let client = Client::connect(ConnectOptions::new().server(&url)).await?;
    for i in 1..=6 {
        let replies = client
            .request_many(
                "echo",
                format!("hello #{i}"),
                RequestManyOptions::default()
                    .max_messages(3)
                    .max_wait(Duration::from_secs(2)),
            )
            .await?;
        let from: Vec<String> = replies
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect();
        println!("request #{i}: {} replies: {from:?}", replies.len());
        assert_eq!(replies.len(), 3);
    }
    client.close().await?;

    let mut total = 0;
    for (nc, addr) in &members {
        nc.drain().await?;
        let (name, n) = addr.send(Report).await.unwrap_or_default();
        println!("{name}: handled {n}");
        total += n;
    }
    assert_eq!(total, 18, "6 requests x (echo + other-echo + standalone)");
    Ok(())
}
