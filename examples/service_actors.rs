//! A Service API (ADR-32) service whose endpoints are actors: `calc`
//! with a `calc.add` and a `calc.mul` endpoint (a group) handled by one
//! `Calculator` actor that answers by its result, and a `max` endpoint
//! handled by a `Max` actor that keeps the largest number it has seen and
//! answers itself. Bad input gets a service error (code 400), which the
//! endpoint's statistics count.
//!
//! Then a client on its own connection sends requests, reads the
//! `Nats-Service-Error` headers of a failure, and asks the service for its
//! statistics over `$SRV.STATS.calc`; the service drains at the end.
//!
//! ```sh
//! nats-server &
//! cargo run --example service_actors            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example service_actors -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server` (`$NATS_SERVER`, else
//! `.tools/nats-server-*/bin`, else `nats-server` on `PATH`), checks every
//! answer and the statistics, and prints `self-test ok`.

mod common;

use common::{Failure, check};

use actix::prelude::*;
use nats_actix::service::{Discovery, EndpointConfig, ServiceError, ServiceReply, ServiceRequest};
use nats_actix::{Client, ConnectOptions};

/// `calc.add` and `calc.mul`: a JSON array of numbers in, the result out.
struct Calculator;

impl Actor for Calculator {
    type Context = Context<Self>;
}

impl Handler<ServiceRequest> for Calculator {
    type Result = ServiceReply;

    fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
        let result = match req.json::<Vec<f64>>() {
            Err(_) => Err(ServiceError::new(400, "expected a JSON array of numbers")),
            Ok(v) => match req.endpoint() {
                "add" => Ok(v.iter().sum::<f64>().to_string()),
                "mul" => Ok(v.iter().product::<f64>().to_string()),
                other => Err(ServiceError::new(404, format!("no operation {other}"))),
            },
        };
        // Answering by the result: the endpoint sends it when we return.
        req.reply(result)
    }
}

/// `max`: the largest number seen so far, across requests.
#[derive(Default)]
struct Max {
    max: Option<f64>,
}

impl Actor for Max {
    type Context = Context<Self>;
}

impl Handler<ServiceRequest> for Max {
    type Result = ServiceReply;

    fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
        let sent = match req.json::<Vec<f64>>() {
            Ok(v) => {
                for x in v {
                    self.max = Some(self.max.map_or(x, |m| m.max(x)));
                }
                req.respond_json(&self.max)
            }
            Err(_) => req.respond_error(400, "expected a JSON array of numbers"),
        };
        if let Err(e) = sent {
            println!("[max] could not answer: {e}");
        }
        ServiceReply::done()
    }
}

async fn run(url: &str) -> Result<(), Failure> {
    // --- the service, on its own connection --------------------------------
    let nc = Client::connect(ConnectOptions::new().server(url).name("calc-service")).await?;
    let service = nc
        .service_builder()
        .name("calc")
        .version("1.0.0")
        .description("adds, multiplies and remembers the max")
        .metadata("example", "service_actors")
        .start()
        .await?;
    let calc = Calculator.start();
    let group = service.add_group("calc")?;
    group.add_endpoint("add", calc.clone()).await?;
    group.add_endpoint("mul", calc).await?;
    service
        .add_endpoint(
            EndpointConfig::new("max").metadata("state", "kept"),
            Max::default().start(),
        )
        .await?;
    println!(
        "service {} {} started as {}",
        service.name(),
        service.version(),
        service.id()
    );

    // --- a client ------------------------------------------------------------
    let client = Client::connect(ConnectOptions::new().server(url).name("calc-client")).await?;
    let ask = |subject: &'static str, body: &'static str| {
        let client = client.clone();
        async move {
            let m = client.request(subject, body).await?;
            let answer = match ServiceError::of(&m) {
                Some(e) => format!("error {e}"),
                None => m.payload_str()?.to_string(),
            };
            println!("{subject} {body} -> {answer}");
            Ok::<String, Failure>(answer)
        }
    };
    check(ask("calc.add", "[1, 2, 3.5]").await? == "6.5", "add")?;
    check(ask("calc.mul", "[2, 3, 4]").await? == "24", "mul")?;
    check(ask("max", "[3, 9, 4]").await? == "9.0", "max")?;
    check(ask("max", "[5]").await? == "9.0", "max remembers")?;
    check(
        ask("calc.add", "not json").await? == "error 400:expected a JSON array of numbers",
        "a service error",
    )?;

    // --- its statistics, over discovery --------------------------------------
    let stats = Discovery::new(client.clone())
        .stats(Some("calc"), Some(service.id()))
        .await?;
    let stats = stats.first().ok_or("no STATS answer")?;
    for e in &stats.endpoints {
        println!(
            "{:>4} on {:<9} requests {} errors {} last error {:?} average {} ns",
            e.name,
            e.subject,
            e.num_requests,
            e.num_errors,
            e.last_error,
            e.average_processing_time
        );
    }
    let add = stats
        .endpoints
        .iter()
        .find(|e| e.name == "add")
        .ok_or("no add")?;
    check(add.num_requests == 2 && add.num_errors == 1, "add stats")?;
    check(
        add.last_error == "400:expected a JSON array of numbers",
        "last error",
    )?;

    service.drain().await?;
    println!("service drained");
    if std::env::args().any(|a| a == "--self-test") {
        println!("self-test ok");
    }
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
