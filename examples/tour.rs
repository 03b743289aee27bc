//! A guided tour of nats-actix: actors exchanging messages over NATS.
//!
//! 1. pub/sub: a `Greeter` actor subscribed to `tour.greet.*` receives what
//!    is published by sending `Publish` to the connection actor;
//! 2. a queue-group service: three `Worker` actors in queue `workers`
//!    answer requests on `tour.work`; each reply says which worker answered;
//! 3. requests with headers: the workers read a request header and answer
//!    with their own;
//! 4. no responders: a request nobody can answer fails fast;
//! 5. drain: the connection drains (every message in flight is handled)
//!    and closes, and the actors report what they handled.
//!
//! ```sh
//! bash scripts/tour.sh                 # starts a server, runs this, stops it
//! NATS_URL=nats://127.0.0.1:4222 cargo run --example tour
//! ```

use std::time::{Duration, Instant};

use actix::prelude::*;
use nats_actix::messages::{Publish, SubscribeOptions};
use nats_actix::{Client, ConnectOptions, ErrorKind, HeaderMap, Msg, RequestOptions};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}");
}

/// Greets whoever is named in the subject's last token.
#[derive(Default)]
struct Greeter {
    greeted: Vec<String>,
}

impl Actor for Greeter {
    type Context = Context<Self>;
}

impl Handler<Msg> for Greeter {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        let who = msg.subject.tokens().last().unwrap_or("?").to_string();
        println!(
            "   greeter   <- {}: {:?} -> hello, {who}!",
            msg.subject,
            String::from_utf8_lossy(&msg.payload)
        );
        self.greeted.push(who);
    }
}

/// A member of the `workers` queue group: uppercases the payload.
struct Worker {
    name: String,
    handled: u64,
}

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<Msg> for Worker {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        self.handled += 1;
        let text = String::from_utf8_lossy(&msg.payload).to_uppercase();
        let mut headers = HeaderMap::new();
        headers.insert("Worker", self.name.as_str());
        if let Some(p) = msg.headers.as_ref().and_then(|h| h.get("priority")) {
            headers.insert("Priority-Seen", p);
        }
        if let Err(e) = msg.respond_with_headers(Some(headers), text) {
            println!("   {} could not answer: {e}", self.name);
        }
    }
}

/// Asks an actor what it did; answered after everything already in its mailbox.
#[derive(Message)]
#[rtype(result = "String")]
struct Report;

impl Handler<Report> for Greeter {
    type Result = String;
    fn handle(&mut self, _: Report, _: &mut Context<Self>) -> String {
        format!("greeter greeted {:?}", self.greeted)
    }
}

impl Handler<Report> for Worker {
    type Result = String;
    fn handle(&mut self, _: Report, _: &mut Context<Self>) -> String {
        format!("{} handled {} request(s)", self.name, self.handled)
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();
    let started = Instant::now();
    let client = Client::connect(ConnectOptions::new().server(&url).name("tour")).await?;
    let version = client
        .server_info()
        .await
        .map(|i| i.version)
        .unwrap_or_default();
    println!("connected to {url} (nats-server {version})");

    // --- 1 ------------------------------------------------------------------
    step(1, "publish/subscribe to an actor");
    let greeter = Greeter::default().start();
    client
        .subscribe_actor(
            "tour.greet.*",
            greeter.clone().recipient(),
            SubscribeOptions::default(),
        )
        .await?;
    println!("   greeter subscribed to tour.greet.*");
    for who in ["ada", "grace", "linus"] {
        client
            .connection()
            .send(Publish::new(format!("tour.greet.{who}"), "hi"))
            .await??;
        println!("   main      -> tour.greet.{who}");
    }
    client.flush().await?;

    // --- 2 ------------------------------------------------------------------
    step(2, "a queue-group service of three worker actors");
    let mut workers = Vec::new();
    for i in 1..=3 {
        let name = format!("worker-{i}");
        let addr = Worker {
            name: name.clone(),
            handled: 0,
        }
        .start();
        client
            .subscribe_actor(
                "tour.work",
                addr.clone().recipient(),
                SubscribeOptions::default().queue("workers"),
            )
            .await?;
        println!("   {name} joined queue 'workers' on tour.work");
        workers.push(addr);
    }
    client.flush().await?;
    for job in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
        let reply = client.request("tour.work", job).await?;
        let worker = reply
            .headers
            .as_ref()
            .and_then(|h| h.get("worker"))
            .unwrap_or("?")
            .to_string();
        println!(
            "   request {job:<8} -> {:<8} answered by {worker}",
            String::from_utf8_lossy(&reply.payload)
        );
    }

    // --- 3 ------------------------------------------------------------------
    step(3, "requests with headers");
    for priority in ["low", "high"] {
        let mut h = HeaderMap::new();
        h.insert("Priority", priority);
        let reply = client
            .request_with(
                "tour.work",
                format!("{priority} priority job"),
                RequestOptions::default()
                    .headers(h)
                    .timeout(Duration::from_secs(2)),
            )
            .await?;
        let headers = reply.headers.clone().unwrap_or_default();
        println!(
            "   sent Priority: {priority} -> {:?} from {} (it saw Priority: {})",
            String::from_utf8_lossy(&reply.payload),
            headers.get("worker").unwrap_or("?"),
            headers.get("priority-seen").unwrap_or("-")
        );
    }

    // --- 4 ------------------------------------------------------------------
    step(4, "no responders");
    let t = Instant::now();
    match client.request("tour.nobody.home", "anyone?").await {
        Err(e) if e.kind() == ErrorKind::NoResponders => println!(
            "   tour.nobody.home -> error '{e}' after {:?} (no 1 s timeout to wait for)",
            t.elapsed()
        ),
        Err(e) => return Err(e),
        Ok(m) => println!("   unexpected answer: {:?}", m.payload),
    }

    // --- 5 ------------------------------------------------------------------
    step(5, "drain and close");
    for who in ["margaret", "barbara"] {
        client
            .publish(format!("tour.greet.{who}"), "late hi")
            .await?;
    }
    println!("   published two more greetings, draining right away...");
    client.drain().await?;
    println!("   drained and closed; the actors report:");
    println!("   {}", greeter.send(Report).await.unwrap_or_default());
    for w in &workers {
        println!("   {}", w.send(Report).await.unwrap_or_default());
    }
    let stats = client.stats();
    println!(
        "\ntour done in {:?}: {} messages out, {} in",
        started.elapsed(),
        stats.out_msgs,
        stats.in_msgs
    );
    Ok(())
}
