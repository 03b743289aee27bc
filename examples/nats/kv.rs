//! `kv add|status|ls|rm|put|create|update|get|del|purge|keys|history|watch`:
//! the key-value part of the CLI.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Subcommand};
use nats_actix::jetstream::StorageType;
use nats_actix::jetstream::kv::{Entry, KvConfig, KvStatus, Store, WatchEvent, WatchOptions};
use nats_actix::{Client, Error, ErrorKind};
use serde::Serialize;

use super::{Global, Ready, Shutdown, emit, emit_json, js_cli};

/// Key-value store commands
#[derive(Subcommand, Debug)]
pub(crate) enum KvCmd {
    /// Create a bucket
    Add(AddArgs),
    /// A bucket's status
    Status { bucket: String },
    /// List the buckets
    Ls,
    /// Delete a bucket
    Rm { bucket: String },
    /// Store a value (`-` reads stdin)
    Put(WriteArgs),
    /// Store a value only if the key holds none
    Create(WriteArgs),
    /// Store a value only if the key's last revision is --revision
    Update(UpdateArgs),
    /// Print a key's value (or the one at --revision)
    Get(GetArgs),
    /// Delete a key (a delete marker)
    Del(KeyArgs),
    /// Purge a key (a purge marker; earlier revisions go)
    Purge(KeyArgs),
    /// List the keys holding a value
    Keys {
        bucket: String,
        /// Only keys matching this pattern
        filter: Option<String>,
    },
    /// Every kept revision of a key
    History(KeyArgs),
    /// Print the current values, then every change
    Watch(WatchArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Storage {
    File,
    Memory,
}

#[derive(Args, Debug)]
pub(crate) struct AddArgs {
    bucket: String,
    /// Revisions kept per key (1..64)
    #[arg(long, default_value_t = 1)]
    history: i64,
    /// How long values live, in milliseconds
    #[arg(long, value_name = "MS")]
    ttl_ms: Option<u64>,
    /// Replicas
    #[arg(long, default_value_t = 1)]
    replicas: i64,
    /// Largest value in bytes
    #[arg(long, value_name = "N")]
    max_value_size: Option<i64>,
    /// Bucket size bound in bytes
    #[arg(long, value_name = "N")]
    max_bytes: Option<i64>,
    /// Storage
    #[arg(long, value_enum, default_value = "file")]
    storage: Storage,
    /// Description
    #[arg(long, value_name = "D")]
    description: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct WriteArgs {
    bucket: String,
    key: String,
    /// The value; `-` reads stdin
    value: String,
}

#[derive(Args, Debug)]
pub(crate) struct UpdateArgs {
    bucket: String,
    key: String,
    /// The value; `-` reads stdin
    value: String,
    /// The revision the key must be at
    #[arg(long)]
    revision: u64,
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    bucket: String,
    key: String,
    /// A past revision
    #[arg(long)]
    revision: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    bucket: String,
    key: String,
}

#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    bucket: String,
    /// Keys to watch (`*` and `>` allowed; all by default)
    key_pattern: Option<String>,
    /// Exit after N entries
    #[arg(long)]
    count: Option<u64>,
    /// Every kept revision first, not only the latest
    #[arg(long)]
    include_history: bool,
    /// No delete or purge markers
    #[arg(long)]
    ignore_deletes: bool,
    /// No values
    #[arg(long)]
    meta_only: bool,
    /// Only changes from now on
    #[arg(long)]
    updates_only: bool,
}

/// An entry as the contract prints it.
#[derive(Serialize)]
struct EntryJson<'a> {
    bucket: &'a str,
    key: &'a str,
    value: String,
    revision: u64,
    operation: &'static str,
    created: String,
    delta: u64,
}

#[derive(Serialize)]
struct Revision {
    revision: u64,
}

#[derive(Serialize)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Serialize)]
struct Buckets {
    buckets: Vec<String>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    bucket: &'a str,
    values: u64,
    history: i64,
    ttl_ms: u128,
    bytes: u64,
    backing_store: &'static str,
}

#[derive(Serialize)]
struct Deleted {
    deleted: bool,
}

fn print_entry(global: &Global, e: &Entry) {
    let value = String::from_utf8_lossy(&e.value).into_owned();
    if global.json {
        emit_json(&EntryJson {
            bucket: &e.bucket,
            key: &e.key,
            value,
            revision: e.revision,
            operation: e.operation.as_str(),
            created: e.created_rfc3339(),
            delta: e.delta,
        });
    } else {
        emit(&format!(
            "[{}] {} {} > {value}",
            e.revision,
            e.operation.as_str(),
            e.key
        ));
    }
}

fn print_revision(global: &Global, revision: u64) {
    if global.json {
        emit_json(&Revision { revision });
    } else {
        emit(&format!("revision {revision}"));
    }
}

fn print_status(global: &Global, s: &KvStatus) {
    if global.json {
        emit_json(&StatusJson {
            bucket: &s.bucket,
            values: s.values,
            history: s.history,
            ttl_ms: s.ttl.as_millis(),
            bytes: s.bytes,
            backing_store: s.backing_store(),
        });
    } else {
        emit(&format!(
            "bucket {}: {} values, history {}, ttl {:?}, {} bytes, {}",
            s.bucket,
            s.values,
            s.history,
            s.ttl,
            s.bytes,
            s.backing_store()
        ));
    }
}

/// The value argument: `-` reads stdin.
fn value_of(v: String) -> Result<Bytes, Error> {
    if v == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(Bytes::from(buf))
    } else {
        Ok(Bytes::from(v))
    }
}

async fn open(global: &Global, client: &Client, bucket: &str) -> Result<Store, Error> {
    js_cli::context(global, client).kv(bucket).await
}

/// Runs one `kv` command.
pub(crate) async fn run(
    global: &Global,
    client: &Client,
    cmd: KvCmd,
    shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    let js = js_cli::context(global, client);
    match cmd {
        KvCmd::Add(a) => {
            let mut c = KvConfig::new(a.bucket)
                .history(a.history)
                .replicas(a.replicas)
                .storage(match a.storage {
                    Storage::File => StorageType::File,
                    Storage::Memory => StorageType::Memory,
                });
            if let Some(ms) = a.ttl_ms {
                c = c.ttl(Duration::from_millis(ms));
            }
            if let Some(n) = a.max_value_size {
                c = c.max_value_size(n);
            }
            if let Some(n) = a.max_bytes {
                c = c.max_bytes(n);
            }
            if let Some(d) = a.description {
                c = c.description(d);
            }
            let kv = js.create_kv(c).await?;
            print_status(global, &kv.status().await?);
        }
        KvCmd::Status { bucket } => {
            print_status(
                global,
                &open(global, client, &bucket).await?.status().await?,
            );
        }
        KvCmd::Ls => {
            let mut buckets = js.kv_names().await?;
            buckets.sort();
            if global.json {
                emit_json(&Buckets { buckets });
            } else {
                buckets.iter().for_each(|b| emit(b));
            }
        }
        KvCmd::Rm { bucket } => {
            js.delete_kv(&bucket).await?;
            if global.json {
                emit_json(&Deleted { deleted: true });
            } else {
                emit(&format!("deleted bucket {bucket}"));
            }
        }
        KvCmd::Put(a) => {
            let kv = open(global, client, &a.bucket).await?;
            print_revision(global, kv.put(&a.key, value_of(a.value)?).await?);
        }
        KvCmd::Create(a) => {
            let kv = open(global, client, &a.bucket).await?;
            print_revision(global, kv.create(&a.key, value_of(a.value)?).await?);
        }
        KvCmd::Update(a) => {
            let kv = open(global, client, &a.bucket).await?;
            let rev = kv.update(&a.key, value_of(a.value)?, a.revision).await?;
            print_revision(global, rev);
        }
        KvCmd::Get(a) => {
            let kv = open(global, client, &a.bucket).await?;
            let e = match a.revision {
                Some(r) => kv.get_revision(&a.key, r).await?,
                None => kv.get(&a.key).await?,
            };
            print_entry(global, &e);
        }
        KvCmd::Del(a) => {
            let kv = open(global, client, &a.bucket).await?;
            print_revision(global, kv.delete(&a.key).await?);
        }
        KvCmd::Purge(a) => {
            let kv = open(global, client, &a.bucket).await?;
            print_revision(global, kv.purge(&a.key).await?);
        }
        KvCmd::Keys { bucket, filter } => {
            let kv = open(global, client, &bucket).await?;
            let keys = match filter {
                Some(f) => kv.keys_filtered(&[f.as_str()]).await?,
                None => kv.keys().await?,
            };
            if global.json {
                emit_json(&Keys { keys });
            } else {
                keys.iter().for_each(|k| emit(k));
            }
        }
        KvCmd::History(a) => {
            let kv = open(global, client, &a.bucket).await?;
            for e in kv.history(&a.key).await? {
                print_entry(global, &e);
            }
        }
        KvCmd::Watch(a) => watch(global, client, a, shutdown).await?,
    }
    Ok(())
}

/// `kv watch`: the initial values, `{"ready":true}`, then every change;
/// it resumes by itself across a server restart.
async fn watch(
    global: &Global,
    client: &Client,
    a: WatchArgs,
    mut shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    let kv = open(global, client, &a.bucket).await?;
    let pattern = a.key_pattern.unwrap_or_else(|| ">".to_string());
    let opts = WatchOptions::new()
        .include_history(a.include_history)
        .ignore_deletes(a.ignore_deletes)
        .meta_only(a.meta_only)
        .updates_only(a.updates_only);
    let mut w = kv.watch_with(&[pattern.as_str()], opts).await?;
    let mut n = 0u64;
    loop {
        let Some(next) = super::unless_stopped(&mut shutdown, w.next()).await else {
            return Ok(());
        };
        match next {
            None => {
                return Err(Error::with_source(
                    ErrorKind::Closed,
                    "the watch ended before --count entries",
                ));
            }
            Some(Ok(WatchEvent::Ready)) => {
                if global.json {
                    emit_json(&Ready { ready: true });
                } else {
                    emit(&format!("Watching bucket {} ({pattern})", a.bucket));
                }
                if a.count == Some(0) {
                    return Ok(());
                }
            }
            Some(Ok(WatchEvent::Entry(e))) => {
                n += 1;
                print_entry(global, &e);
                if a.count.is_some_and(|c| n >= c) {
                    return Ok(());
                }
            }
            Some(Err(e)) if e.kind() == ErrorKind::Closed => return Err(e),
            // Reported; the watch goes on (it resumes by itself).
            Some(Err(e)) => eprintln!("warning: {e}"),
        }
    }
}
