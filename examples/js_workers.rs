//! A pull consumer feeding a pool of worker actors: each worker is given
//! to [`Context::consume_into`](nats_actix::jetstream::Context::consume_into)
//! on the same durable consumer, so the server spreads the jobs over them.
//! A worker's `Handler<JsMsg>` answers with an `AckKind`, which the
//! consumption applies: `Ack` when done, `Nak` to get a job again (here: a
//! "flaky" job fails its first delivery), `Term` for a job that can never
//! succeed (a "poison" one).
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_workers            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_workers -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks that every job was done exactly once
//! and prints `ok: ...`.

mod common;

use common::{Failure, check};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use nats_actix::jetstream::{
    self, AckKind, ConsumeOptions, ConsumerConfig, JsMsg, RetentionPolicy, StorageType,
    StreamConfig,
};
use nats_actix::{Client, ConnectOptions};

const STREAM: &str = "EXAMPLE_JOBS";
const CONSUMER: &str = "workers";
const WORKERS: usize = 4;
const JOBS: usize = 40;

/// What the workers did: job -> (worker, deliveries) of each settlement.
type Log = Arc<Mutex<BTreeMap<String, Vec<(usize, u64, &'static str)>>>>;

struct Worker {
    id: usize,
    log: Log,
}

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<JsMsg> for Worker {
    type Result = MessageResult<JsMsg>;

    fn handle(&mut self, m: JsMsg, _: &mut Context<Self>) -> Self::Result {
        let job = String::from_utf8_lossy(m.payload()).into_owned();
        let delivered = m.info().map_or(0, |i| i.delivered);
        let (kind, what) = if job.starts_with("poison") {
            (AckKind::Term(Some("cannot be done".into())), "term")
        } else if job.starts_with("flaky") && delivered == 1 {
            (AckKind::Nak(None), "nak")
        } else {
            (AckKind::Ack, "ack")
        };
        println!("worker {} {what} {job} (delivery {delivered})", self.id);
        self.log
            .lock()
            .unwrap()
            .entry(job)
            .or_default()
            .push((self.id, delivered, what));
        MessageResult(kind)
    }
}

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(
        StreamConfig::new(STREAM, ["jobs.>"])
            .storage(StorageType::Memory)
            .retention(RetentionPolicy::WorkQueue),
    )
    .await?;
    js.create_consumer(
        STREAM,
        ConsumerConfig::durable(CONSUMER).ack_wait(Duration::from_secs(10)),
    )
    .await?;

    let mut jobs = Vec::new();
    for i in 1..=JOBS {
        let job = match i {
            7 => format!("poison-{i}"),
            i if i % 10 == 3 => format!("flaky-{i}"),
            i => format!("job-{i}"),
        };
        js.publish(format!("jobs.{i}"), job.clone()).await?;
        jobs.push(job);
    }
    println!("published {JOBS} jobs");

    let log: Log = Arc::default();
    let handles: Vec<_> = (1..=WORKERS)
        .map(|id| {
            let worker = Worker {
                id,
                log: log.clone(),
            }
            .start();
            js.consume_into(
                STREAM,
                CONSUMER,
                worker.recipient(),
                ConsumeOptions::default().batch(5),
            )
        })
        .collect();

    // every job settled for good: acked, or termed
    let settled = |log: &Log| {
        let log = log.lock().unwrap();
        jobs.iter()
            .filter(|j| {
                log.get(*j)
                    .is_some_and(|s| s.iter().any(|(_, _, w)| *w != "nak"))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while settled(&log) < JOBS {
        check(
            Instant::now() < deadline,
            format!("only {} of {JOBS} jobs settled", settled(&log)),
        )?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the acks are applied after the handlers answer; wait for the server
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = js.consumer_info(STREAM, CONSUMER).await?;
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            break;
        }
        check(
            Instant::now() < deadline,
            format!("{} acks still pending", info.num_ack_pending),
        )?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handles.iter().for_each(|h| h.stop());

    let log = log.lock().unwrap().clone();
    let mut per_worker = [0usize; WORKERS];
    for (job, settlements) in log.iter() {
        let done = settlements.iter().filter(|(_, _, w)| *w != "nak").count();
        check(done == 1, format!("{job} settled {done} times"))?;
        if job.starts_with("flaky") {
            check(
                settlements.iter().any(|(_, d, w)| *w == "ack" && *d == 2),
                format!("{job} done on its second delivery"),
            )?;
        }
        for (worker, _, _) in settlements {
            per_worker[worker - 1] += 1;
        }
    }
    check(log.len() == JOBS, "every job seen")?;
    println!("settlements per worker: {per_worker:?}");
    let info = js.stream_info(STREAM).await?;
    println!("{STREAM} holds {} messages", info.state.messages);
    js.delete_stream(STREAM).await?;
    client.close().await?;
    println!("ok: {JOBS} jobs done once each by {WORKERS} workers");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
