//! Get: an [`ObjectReader`] fed by an ordered consumer over the object's
//! chunk subject, with a bounded pull and a bounded hand-over; the digest
//! and size are checked before the last chunk is handed over.

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use super::{ObjectInfo, ObjectStore};
use crate::jetstream::OrderedOptions;
use crate::{Error, ErrorKind};

/// Chunks handed over ahead of the reader.
const HAND_OVER: usize = 4;

/// An object being read: a `Stream` of its chunks (`Bytes`) and an
/// `AsyncRead` of its bytes. The digest and size are verified before the
/// last chunk is yielded: a mismatch ends it with `DigestMismatch`
/// instead, so a reader that only keeps what ends well never keeps a
/// corrupt object. Dropping it stops the read and deletes its consumer.
///
/// # Examples
///
/// ```no_run
/// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
/// let mut reader = store.get("video.mp4").await?;
/// let mut file = tokio::fs::File::create("/tmp/video.mp4").await?;
/// tokio::io::copy(&mut reader, &mut file).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ObjectReader {
    info: ObjectInfo,
    rx: Option<mpsc::Receiver<Result<Bytes, Error>>>,
    current: Bytes,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ObjectReader {
    /// The object's info (of the target, when read through a link).
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// The next chunk; `None` at the end.
    ///
    /// # Errors
    ///
    /// `DigestMismatch` when the bytes do not match the meta's digest or
    /// size (then no more chunks come); the consumer's.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        if !self.current.is_empty() {
            return Some(Ok(std::mem::take(&mut self.current)));
        }
        self.rx.as_mut()?.recv().await
    }

    /// Reads the whole object into memory (use the reader itself for
    /// objects that should not be).
    ///
    /// # Errors
    ///
    /// As [`ObjectReader::next_chunk`].
    pub async fn read_all(mut self) -> Result<Bytes, Error> {
        let mut out =
            BytesMut::with_capacity(usize::try_from(self.info.size).unwrap_or(0).min(64 << 20));
        while let Some(chunk) = self.next_chunk().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }
}

impl Stream for ObjectReader {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if !self.current.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.current))));
        }
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            let Some(rx) = self.rx.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.rx = None;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Some(Ok(b))) => self.current = b,
                Poll::Ready(Some(Err(e))) => {
                    self.rx = None;
                    let kind = if e.kind() == ErrorKind::DigestMismatch {
                        io::ErrorKind::InvalidData
                    } else {
                        io::ErrorKind::Other
                    };
                    return Poll::Ready(Err(io::Error::new(kind, e)));
                }
            }
        }
        let n = buf.remaining().min(self.current.len());
        let part = self.current.split_to(n);
        buf.put_slice(&part);
        Poll::Ready(Ok(()))
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn mismatch(info: &ObjectInfo, what: String) -> Error {
    Error::with_source(
        ErrorKind::DigestMismatch,
        format!("object {:?} in bucket {:?}: {what}", info.name, info.bucket),
    )
}

impl ObjectStore {
    /// Reads object `name` (following a link to another object),
    /// streaming: see [`ObjectReader`].
    ///
    /// # Errors
    ///
    /// `ObjectNotFound` when there is none or it was deleted;
    /// `InvalidArgument` for a link to a bucket; `BucketNotFound` for a
    /// link into a bucket that is gone.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// let mut reader = store.get("log.txt").await?;
    /// while let Some(chunk) = reader.next_chunk().await {
    ///     print!("{}", String::from_utf8_lossy(&chunk?));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, name: &str) -> Result<ObjectReader, Error> {
        let info = self.info(name).await?;
        if let Some(link) = info.link() {
            let Some(target) = link.name.clone() else {
                return Err(Error::with_source(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{name:?} is a link to the bucket {:?}, not to an object",
                        link.bucket
                    ),
                ));
            };
            let store = if link.bucket == self.bucket {
                self.clone()
            } else {
                self.js
                    .object_store(&link.bucket)
                    .await?
                    .window(self.window)
            };
            let info = store.info(&target).await?;
            if info.is_link() {
                return Err(Error::with_source(
                    ErrorKind::InvalidArgument,
                    format!("{name:?} links to {target:?}, itself a link"),
                ));
            }
            return Ok(store.reader(info).await);
        }
        Ok(self.reader(info).await)
    }

    async fn reader(&self, info: ObjectInfo) -> ObjectReader {
        let (tx, rx) = mpsc::channel(HAND_OVER);
        let task = if info.chunks == 0 && info.size == 0 {
            // Nothing to fetch; still check the digest of no bytes.
            if let Err(e) = verify(&info, Sha256::new(), 0, 0) {
                let _ = tx.try_send(Err(e));
            }
            None
        } else {
            let max_payload = self
                .js
                .client()
                .server_info()
                .await
                .map_or(1 << 20, |i| i.max_payload);
            // A pull must fit a whole chunk, however it was written.
            let chunk = info
                .options
                .as_ref()
                .map_or(0, |o| o.max_chunk_size)
                .max(max_payload);
            let max_bytes = self.window.max(2 * (chunk + 4096));
            let batch = (max_bytes
                / info
                    .options
                    .as_ref()
                    .map_or(chunk, |o| o.max_chunk_size.max(1)))
            .clamp(4, 1024);
            let opts = OrderedOptions::new()
                .filter(self.chunk_subject(&info.nuid))
                .batch(batch)
                .max_bytes(max_bytes);
            let consumer = self.js.ordered_with(&self.stream, opts);
            Some(actix::spawn(feed(consumer, info.clone(), tx)))
        };
        ObjectReader {
            info,
            rx: Some(rx),
            current: Bytes::new(),
            task,
        }
    }
}

fn verify(info: &ObjectInfo, hasher: Sha256, size: u64, chunks: u64) -> Result<(), Error> {
    if size != info.size || chunks != info.chunks {
        return Err(mismatch(
            info,
            format!(
                "read {size} bytes in {chunks} chunks, the meta says {} in {}",
                info.size, info.chunks
            ),
        ));
    }
    let got = hasher.finalize();
    if !info.digest.is_empty() {
        match super::digest_bytes(&info.digest) {
            Some(want) if want[..] == got[..] => {}
            _ => {
                return Err(mismatch(
                    info,
                    format!(
                        "digest {} read, the meta says {}",
                        super::digest_string(&got),
                        info.digest
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Reads the chunks, hands them over, holding the last back until the
/// digest checks out.
async fn feed(
    mut consumer: crate::jetstream::OrderedConsumer,
    info: ObjectInfo,
    tx: mpsc::Sender<Result<Bytes, Error>>,
) {
    let mut hasher = Sha256::new();
    let (mut size, mut chunks) = (0u64, 0u64);
    let mut held: Option<Bytes> = None;
    let mut idle = 0;
    while chunks < info.chunks {
        let m = match consumer.next_within(Duration::from_secs(2)).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                idle += 1;
                // Nothing more is stored for it: chunks are missing.
                if consumer.is_created() && consumer.pending() == 0 && idle >= 2 {
                    break;
                }
                continue;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        idle = 0;
        let payload = m.payload().clone();
        drop(m);
        hasher.update(&payload);
        size += payload.len() as u64;
        chunks += 1;
        if size > info.size {
            break;
        }
        if let Some(prev) = held.replace(payload)
            && tx.send(Ok(prev)).await.is_err()
        {
            return;
        }
    }
    drop(consumer);
    match verify(&info, hasher, size, chunks) {
        Ok(()) => {
            if let Some(last) = held {
                let _ = tx.send(Ok(last)).await;
            }
        }
        Err(e) => {
            let _ = tx.send(Err(e)).await;
        }
    }
}
