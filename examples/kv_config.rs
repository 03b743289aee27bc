//! A configuration store in a KV bucket, watched by actors.
//!
//! Each component of a service is an actor that owns its slice of the
//! configuration: it watches the keys it cares about
//! ([`Store::watch_into`](nats_actix::jetstream::kv::Store::watch_into)),
//! gets every current value first, then every change as a message in its
//! own `Handler<Entry>`, and never polls. The watch resumes by itself after
//! a reconnect or a lost consumer, from the last revision it delivered.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example kv_config            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example kv_config -- --self-test
//! # meanwhile, from another shell:
//! cargo run --example nats -- kv put EXAMPLE_CONFIG limits.rps 500
//! ```
//!
//! `--self-test` starts its own `nats-server -js` (see `examples/common`),
//! changes the configuration, checks that each actor saw exactly its keys
//! and prints `ok: ...`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use common::{Failure, check};
use nats_actix::jetstream::kv::{Entry, KvConfig, Operation, Store, WatchOptions};
use nats_actix::jetstream::{self, StorageType};
use nats_actix::{Client, ConnectOptions};
use tokio::sync::watch;

const BUCKET: &str = "EXAMPLE_CONFIG";

/// One component's view of the configuration: the keys under its prefix.
struct Component {
    name: &'static str,
    settings: BTreeMap<String, String>,
    /// The last revision applied, for whoever waits for a change to land.
    applied: watch::Sender<u64>,
}

impl Actor for Component {
    type Context = Context<Self>;
}

impl Handler<Entry> for Component {
    type Result = ();

    fn handle(&mut self, e: Entry, _: &mut Self::Context) {
        match e.operation {
            Operation::Put => {
                let value = String::from_utf8_lossy(&e.value).into_owned();
                println!(
                    "[{}] {} = {value} (revision {})",
                    self.name, e.key, e.revision
                );
                self.settings.insert(e.key, value);
            }
            Operation::Delete | Operation::Purge => {
                println!(
                    "[{}] {} removed (revision {})",
                    self.name, e.key, e.revision
                );
                self.settings.remove(&e.key);
            }
        }
        self.applied.send_replace(e.revision);
    }
}

/// Asks a component for its current settings.
#[derive(Message)]
#[rtype(result = "BTreeMap<String, String>")]
struct Settings;

impl Handler<Settings> for Component {
    type Result = MessageResult<Settings>;

    fn handle(&mut self, _: Settings, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.settings.clone())
    }
}

/// Waits until a component has applied `revision` (or a later one).
async fn applied(rx: &mut watch::Receiver<u64>, revision: u64) -> Result<(), Failure> {
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|r| *r >= revision))
        .await
        .map_err(|_| format!("revision {revision} not applied in time"))?
        .map_err(|_| "the component stopped")?;
    Ok(())
}

/// Starts a component watching `pattern` and waits until it holds every
/// current value.
async fn component(
    kv: &Store,
    name: &'static str,
    pattern: &str,
) -> Result<(Addr<Component>, watch::Receiver<u64>), Failure> {
    let (applied, rx) = watch::channel(0);
    let addr = Component {
        name,
        settings: BTreeMap::new(),
        applied,
    }
    .start();
    let mut handle = kv
        .watch_into(&[pattern], WatchOptions::new(), addr.clone().recipient())
        .await?;
    tokio::time::timeout(Duration::from_secs(10), handle.ready())
        .await
        .map_err(|_| format!("{name}: the initial values did not arrive"))?;
    // The watch lives as long as the task behind it; the handle may go.
    drop(handle);
    Ok((addr, rx))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    let _ = js.delete_kv(BUCKET).await;
    let kv = js
        .create_kv(
            KvConfig::new(BUCKET)
                .history(5)
                .storage(StorageType::Memory)
                .description("the example's configuration"),
        )
        .await?;

    // What is there before anyone watches.
    kv.put("limits.rps", "100").await?;
    kv.put("limits.burst", "20").await?;
    kv.put("flags.dark_mode", "off").await?;

    let (limits, mut limits_rev) = component(&kv, "limits", "limits.>").await?;
    let (flags, mut flags_rev) = component(&kv, "flags", "flags.>").await?;
    check(
        limits.send(Settings).await? == map(&[("limits.burst", "20"), ("limits.rps", "100")]),
        "the limits component starts with the current limits",
    )?;
    check(
        flags.send(Settings).await? == map(&[("flags.dark_mode", "off")]),
        "the flags component starts with the current flags",
    )?;

    // Changes, as an operator would make them (`nats kv put ...`).
    let r = kv.put("limits.rps", "500").await?;
    applied(&mut limits_rev, r).await?;
    let r = kv.put("flags.dark_mode", "on").await?;
    applied(&mut flags_rev, r).await?;
    let r = kv.put("flags.beta", "on").await?;
    applied(&mut flags_rev, r).await?;
    let r = kv.delete("limits.burst").await?;
    applied(&mut limits_rev, r).await?;

    // A lost-update-safe change: only if nobody changed it since we read.
    let current = kv.get("limits.rps").await?;
    let r = kv.update("limits.rps", "750", current.revision).await?;
    applied(&mut limits_rev, r).await?;
    let stale = kv.update("limits.rps", "1", current.revision).await;
    check(stale.is_err(), "an update from a stale revision is refused")?;
    println!(
        "stale update refused: {}",
        stale.err().map(|e| e.to_string()).unwrap_or_default()
    );

    let limits_now = limits.send(Settings).await?;
    let flags_now = flags.send(Settings).await?;
    check(
        limits_now == map(&[("limits.rps", "750")]),
        format!("limits: {limits_now:?}"),
    )?;
    check(
        flags_now == map(&[("flags.beta", "on"), ("flags.dark_mode", "on")]),
        format!("flags: {flags_now:?}"),
    )?;
    let history = kv.history("limits.rps").await?;
    println!(
        "limits.rps history: {:?}",
        history
            .iter()
            .map(|e| String::from_utf8_lossy(&e.value).into_owned())
            .collect::<Vec<_>>()
    );
    check(history.len() == 3, "three revisions of limits.rps")?;

    js.delete_kv(BUCKET).await?;
    client.close().await?;
    println!("ok: two actors followed their part of the configuration through 6 changes");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
