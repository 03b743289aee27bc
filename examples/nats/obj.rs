//! `obj add|status|ls|rm|put|get|info|del|link|watch`: the object-store
//! part of the CLI.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use nats_actix::jetstream::StorageType;
use nats_actix::jetstream::object::{
    ObjectInfo, ObjectMeta, ObjectStore, ObjectStoreConfig, ObjectStoreStatus, WatchEvent,
};
use nats_actix::{Client, Error, ErrorKind};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::{Global, Ready, Shutdown, emit, emit_json, js_cli};

/// Object store commands
#[derive(Subcommand, Debug)]
pub(crate) enum ObjCmd {
    /// Create a bucket
    Add(AddArgs),
    /// A bucket's status
    Status { bucket: String },
    /// List the objects of a bucket
    Ls { bucket: String },
    /// Delete a bucket
    Rm { bucket: String },
    /// Store a file (`-` reads stdin; then --name is required)
    Put(PutArgs),
    /// Write an object to a file (or to stdout)
    Get(GetArgs),
    /// An object's info
    Info(NameArgs),
    /// Delete an object
    Del(NameArgs),
    /// Store a link to an object of this or another bucket
    Link(LinkArgs),
    /// Print every object's info, then every change
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
    /// Replicas
    #[arg(long, default_value_t = 1)]
    replicas: i64,
    /// Storage
    #[arg(long, value_enum, default_value = "file")]
    storage: Storage,
    /// Bucket size bound in bytes
    #[arg(long, value_name = "N")]
    max_bytes: Option<i64>,
    /// Description
    #[arg(long, value_name = "D")]
    description: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct PutArgs {
    bucket: String,
    /// The file; `-` reads stdin
    file: PathBuf,
    /// The object's name (the file's name by default)
    #[arg(long, required_if_eq("file", "-"))]
    name: Option<String>,
    /// Description
    #[arg(long, value_name = "D")]
    description: Option<String>,
    /// Chunk size in bytes (128 KiB by default)
    #[arg(long, value_name = "BYTES")]
    chunk_size: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    bucket: String,
    name: String,
    /// Write to this file (stdout by default)
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct NameArgs {
    bucket: String,
    name: String,
}

#[derive(Args, Debug)]
pub(crate) struct LinkArgs {
    bucket: String,
    name: String,
    target_bucket: String,
    target_name: String,
}

#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    bucket: String,
    /// Exit after N changes or initial infos
    #[arg(long)]
    count: Option<u64>,
}

/// An object's info as the contract prints it.
#[derive(Serialize)]
struct InfoJson<'a> {
    bucket: &'a str,
    name: &'a str,
    size: u64,
    chunks: u64,
    digest: &'a str,
    nuid: &'a str,
    mtime: String,
    description: Option<&'a str>,
    deleted: bool,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    bucket: &'a str,
    description: Option<&'a str>,
    ttl_ms: u128,
    storage: &'static str,
    replicas: i64,
    sealed: bool,
    size: u64,
    backing_store: &'static str,
}

#[derive(Serialize)]
struct Deleted {
    deleted: bool,
}

fn print_info(global: &Global, i: &ObjectInfo) {
    if global.json {
        emit_json(&InfoJson {
            bucket: &i.bucket,
            name: &i.name,
            size: i.size,
            chunks: i.chunks,
            digest: &i.digest,
            nuid: &i.nuid,
            mtime: i.mtime_rfc3339(),
            description: i.description.as_deref(),
            deleted: i.deleted,
        });
    } else if i.deleted {
        emit(&format!("{} (deleted) {}", i.name, i.mtime_rfc3339()));
    } else if let Some(l) = i.link() {
        emit(&format!(
            "{} -> {}/{}",
            i.name,
            l.bucket,
            l.name.as_deref().unwrap_or("")
        ));
    } else {
        emit(&format!(
            "{} {} bytes in {} chunks, {} {}",
            i.name,
            i.size,
            i.chunks,
            i.digest,
            i.mtime_rfc3339()
        ));
    }
}

fn print_status(global: &Global, s: &ObjectStoreStatus) {
    let storage = match s.storage {
        StorageType::Memory => "memory",
        _ => "file",
    };
    if global.json {
        emit_json(&StatusJson {
            bucket: &s.bucket,
            description: s.description.as_deref(),
            ttl_ms: s.ttl.as_millis(),
            storage,
            replicas: s.replicas,
            sealed: s.sealed,
            size: s.size,
            backing_store: s.backing_store(),
        });
    } else {
        emit(&format!(
            "bucket {}: {} bytes, {storage}, {} replicas, ttl {:?}{}, {}",
            s.bucket,
            s.size,
            s.replicas,
            s.ttl,
            if s.sealed { ", sealed" } else { "" },
            s.backing_store()
        ));
    }
}

fn print_deleted(global: &Global, what: &str) {
    if global.json {
        emit_json(&Deleted { deleted: true });
    } else {
        emit(&format!("deleted {what}"));
    }
}

async fn open(global: &Global, client: &Client, bucket: &str) -> Result<ObjectStore, Error> {
    js_cli::context(global, client).object_store(bucket).await
}

/// Runs one `obj` command.
pub(crate) async fn run(
    global: &Global,
    client: &Client,
    cmd: ObjCmd,
    shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    let js = js_cli::context(global, client);
    match cmd {
        ObjCmd::Add(a) => {
            let mut c = ObjectStoreConfig::new(a.bucket)
                .replicas(a.replicas)
                .storage(match a.storage {
                    Storage::File => StorageType::File,
                    Storage::Memory => StorageType::Memory,
                });
            if let Some(n) = a.max_bytes {
                c = c.max_bytes(n);
            }
            if let Some(d) = a.description {
                c = c.description(d);
            }
            let store = js.create_object_store(c).await?;
            print_status(global, &store.status().await?);
        }
        ObjCmd::Status { bucket } => {
            print_status(
                global,
                &open(global, client, &bucket).await?.status().await?,
            );
        }
        ObjCmd::Ls { bucket } => {
            for i in open(global, client, &bucket).await?.list().await? {
                print_info(global, &i);
            }
        }
        ObjCmd::Rm { bucket } => {
            js.delete_object_store(&bucket).await?;
            print_deleted(global, &format!("bucket {bucket}"));
        }
        ObjCmd::Put(a) => {
            let store = open(global, client, &a.bucket).await?;
            let name = match a.name {
                Some(n) => n,
                None => a
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| {
                        Error::with_source(
                            ErrorKind::InvalidArgument,
                            format!("{} has no file name: give --name", a.file.display()),
                        )
                    })?,
            };
            let mut meta = ObjectMeta::new(name);
            if let Some(d) = a.description {
                meta = meta.description(d);
            }
            if let Some(c) = a.chunk_size {
                meta = meta.chunk_size(c);
            }
            let info = if a.file == Path::new("-") {
                store.put(meta, tokio::io::stdin()).await?
            } else {
                let file = tokio::fs::File::open(&a.file).await?;
                store.put(meta, file).await?
            };
            print_info(global, &info);
        }
        ObjCmd::Get(a) => get(global, client, a).await?,
        ObjCmd::Info(a) => {
            let info = open(global, client, &a.bucket).await?.info(&a.name).await?;
            print_info(global, &info);
        }
        ObjCmd::Del(a) => {
            open(global, client, &a.bucket)
                .await?
                .delete(&a.name)
                .await?;
            print_deleted(global, &a.name);
        }
        ObjCmd::Link(a) => {
            let store = open(global, client, &a.bucket).await?;
            let target_store = if a.target_bucket == a.bucket {
                store.clone()
            } else {
                open(global, client, &a.target_bucket).await?
            };
            let target = target_store.info(&a.target_name).await?;
            print_info(global, &store.add_link(&a.name, &target).await?);
        }
        ObjCmd::Watch(a) => watch(global, client, a, shutdown).await?,
    }
    Ok(())
}

/// `obj get`: streams the object to FILE through a temporary file next to
/// it, renamed once the digest checks out and removed otherwise; or to
/// stdout.
async fn get(global: &Global, client: &Client, a: GetArgs) -> Result<(), Error> {
    let store = open(global, client, &a.bucket).await?;
    let mut reader = store.get(&a.name).await?;
    let Some(path) = a.output else {
        let mut out = tokio::io::stdout();
        while let Some(chunk) = reader.next_chunk().await {
            out.write_all(&chunk?).await?;
        }
        out.flush().await?;
        return Ok(());
    };
    let partial = {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", reader.info().nuid));
        path.with_file_name(name)
    };
    let written: Result<(), Error> = async {
        let mut file = tokio::fs::File::create(&partial).await?;
        while let Some(chunk) = reader.next_chunk().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        file.sync_all().await?;
        Ok(())
    }
    .await;
    match written {
        Ok(()) => {
            tokio::fs::rename(&partial, &path).await?;
            if !global.json {
                eprintln!("wrote {} bytes to {}", reader.info().size, path.display());
            }
            Ok(())
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e)
        }
    }
}

/// `obj watch`: every object's info, `{"ready":true}`, then every change.
async fn watch(
    global: &Global,
    client: &Client,
    a: WatchArgs,
    mut shutdown: Option<Shutdown>,
) -> Result<(), Error> {
    let store = open(global, client, &a.bucket).await?;
    let mut w = store.watch().await?;
    let mut n = 0u64;
    loop {
        let Some(next) = super::unless_stopped(&mut shutdown, w.next()).await else {
            return Ok(());
        };
        match next {
            None => {
                return Err(Error::with_source(
                    ErrorKind::Closed,
                    "the watch ended before --count changes",
                ));
            }
            Some(Ok(WatchEvent::Ready)) => {
                if global.json {
                    emit_json(&Ready { ready: true });
                } else {
                    emit(&format!("Watching bucket {}", a.bucket));
                }
                if a.count == Some(0) {
                    return Ok(());
                }
            }
            Some(Ok(WatchEvent::Info(i))) => {
                n += 1;
                print_info(global, &i);
                if a.count.is_some_and(|c| n >= c) {
                    return Ok(());
                }
            }
            Some(Err(e)) if e.kind() == ErrorKind::Closed => return Err(e),
            Some(Err(e)) => eprintln!("warning: {e}"),
        }
    }
}
