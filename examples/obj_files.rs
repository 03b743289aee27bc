//! Streaming a large file through the object store (ADR-20): the file is
//! put chunk by chunk (a window of acks in flight, SHA-256 on the way) and
//! read back into a copy, chunk by chunk, its digest checked before the
//! last chunk is written. Neither side holds the file in memory.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example obj_files -- big.iso   # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example obj_files              # makes up a 64 MiB file (16 MiB with --self-test)
//! cargo run --example obj_files -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), round-trips a made-up file and prints `ok: ...`.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Failure, check};
use nats_actix::jetstream::object::{ObjectMeta, ObjectStoreConfig};
use nats_actix::jetstream::{Context, StorageType};
use nats_actix::{Client, ConnectOptions};
use sha2::{Digest, Sha256};

const BUCKET: &str = "example_files";

/// Writes `size` bytes of a pattern to `path`.
fn make_file(path: &Path, size: usize) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < size {
        for (i, b) in block.iter_mut().enumerate() {
            let p = written + i;
            *b = (p ^ (p >> 11)) as u8;
        }
        let n = block.len().min(size - written);
        f.write_all(&block[..n])?;
        written += n;
    }
    f.flush()
}

/// The SHA-256 of a file, read 1 MiB at a time.
fn sha256_of(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
    }
}

async fn run(url: &str, given: Option<PathBuf>) -> Result<(), Failure> {
    let made_up = given.is_none();
    let path = match given {
        Some(p) => p,
        None => {
            let p = std::env::temp_dir().join(format!("obj_files-{}.bin", std::process::id()));
            let self_test = std::env::args().any(|a| a == "--self-test");
            make_file(&p, if self_test { 16 << 20 } else { 64 << 20 })?;
            p
        }
    };
    let copy = PathBuf::from(format!("{}.copy", path.display()));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or("the path has no file name")?;

    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = Context::new(client.clone());
    let store = js
        .create_object_store(ObjectStoreConfig::new(BUCKET).storage(StorageType::File))
        .await?;

    let started = Instant::now();
    let file = tokio::fs::File::open(&path).await?;
    let info = store.put(ObjectMeta::new(name.as_str()), file).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "put {name}: {} bytes in {} chunks, {} ({:.0} MB/s)",
        info.size,
        info.chunks,
        info.digest,
        info.size as f64 / 1e6 / secs
    );

    let started = Instant::now();
    let mut reader = store.get(&name).await?;
    let mut out = tokio::fs::File::create(&copy).await?;
    let copied = tokio::io::copy(&mut reader, &mut out).await?;
    drop(out);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "got {name} into {}: {copied} bytes, digest verified ({:.0} MB/s)",
        copy.display(),
        copied as f64 / 1e6 / secs
    );

    let same = sha256_of(&path)? == sha256_of(&copy)?;
    check(
        copied == info.size && same,
        "the copy differs from the file",
    )?;
    store.delete(&name).await?;
    if made_up {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&copy);
        js.delete_object_store(BUCKET).await?;
    }
    client.close().await?;
    println!("ok: {copied} bytes streamed in and out, identical");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    let given = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from);
    common::main_with(|url| async move { run(&url, given).await }).await;
}
