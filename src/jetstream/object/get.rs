//! Get: an [`ObjectReader`] fed by a consumer over the object's chunk
//! subject (a push consumer for an object of at most one window, which
//! starts sending on creation; the ordered pull consumer, with a bounded
//! pull, for larger ones or when the push read meets a gap or a silence),
//! through a bounded hand-over; the digest and size are checked before the
//! last chunk is handed over.

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{ObjectInfo, ObjectStore};
use crate::headers::StatusCode;
use crate::jetstream::{AckPolicy, ConsumerConfig, MsgInfo, OrderedOptions, OrderedStart};
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// let config = store.get("config.json").await?.read_all().await?;
    /// println!("{}", String::from_utf8_lossy(&config));
    /// # Ok(()) }
    /// ```
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
            let push = info.size <= self.window as u64;
            Some(actix::spawn(feed(
                self.clone(),
                opts,
                push,
                info.clone(),
                tx,
            )))
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

/// The digest, size and hand-over of one read: every chunk but the last
/// goes to the reader as it comes; the last once the digest checks out.
struct Check {
    hasher: Sha256,
    size: u64,
    chunks: u64,
    held: Option<Bytes>,
}

impl Check {
    /// Takes the next chunk; `false` when the reader is gone.
    async fn take(&mut self, payload: Bytes, tx: &mpsc::Sender<Result<Bytes, Error>>) -> bool {
        self.hasher.update(&payload);
        self.size += payload.len() as u64;
        self.chunks += 1;
        match self.held.replace(payload) {
            Some(prev) => tx.send(Ok(prev)).await.is_ok(),
            None => true,
        }
    }

    /// Whether every chunk has come (or more bytes than the meta says).
    fn done(&self, info: &ObjectInfo) -> bool {
        self.chunks >= info.chunks || self.size > info.size
    }

    async fn finish(self, info: &ObjectInfo, tx: &mpsc::Sender<Result<Bytes, Error>>) {
        match verify(info, self.hasher, self.size, self.chunks) {
            Ok(()) => {
                if let Some(last) = self.held {
                    let _ = tx.send(Ok(last)).await;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
            }
        }
    }
}

/// How the push read of a small object ended.
enum Push {
    /// Every chunk came.
    Done,
    /// The reader is gone.
    Gone,
    /// Something was off (a gap, a silence, a refusal): go on with the
    /// ordered pull after this stream sequence.
    FallBack(u64),
}

/// The idle heartbeat of the push read; two missed end it.
const PUSH_HEARTBEAT: Duration = Duration::from_secs(2);

/// Reads a small object (at most one window) through a push consumer:
/// the server starts sending on creation, half a round trip sooner than a
/// pull. Flow control is answered; anything unusual falls back.
async fn push_read(
    store: &ObjectStore,
    info: &ObjectInfo,
    check: &mut Check,
    tx: &mpsc::Sender<Result<Bytes, Error>>,
) -> Push {
    let client = store.js.client().clone();
    let inbox = client.new_inbox();
    let Ok(mut sub) = client.subscribe(inbox.clone()).await else {
        return Push::FallBack(0);
    };
    let name = format!("obj_{}", crate::nuid::next());
    let mut cfg = ConsumerConfig::ephemeral();
    cfg.name = Some(name.clone());
    cfg.deliver_subject = Some(inbox);
    cfg.ack_policy = AckPolicy::None;
    cfg.max_deliver = 1;
    cfg.mem_storage = true;
    cfg.num_replicas = 1;
    cfg.flow_control = true;
    cfg.idle_heartbeat = PUSH_HEARTBEAT;
    cfg.inactive_threshold = Duration::from_secs(30);
    cfg.filter_subject = Some(store.chunk_subject(&info.nuid));
    let (mut last_cseq, mut last_sseq) = (0u64, 0u64);
    let outcome = if store.js.create_consumer(&store.stream, cfg).await.is_err() {
        Push::FallBack(0)
    } else {
        // Heartbeats keep coming while nothing does: data must come
        // within two of them.
        let mut due = Instant::now() + PUSH_HEARTBEAT * 2;
        loop {
            if check.done(info) {
                break Push::Done;
            }
            let m = match tokio::time::timeout_at(due, sub.next_msg()).await {
                Ok(Some(m)) => m,
                _ => break Push::FallBack(last_sseq),
            };
            match m.status() {
                None => {
                    let seqs = m.reply.as_ref().and_then(|r| MsgInfo::parse(r).ok());
                    let Some(mi) = seqs.filter(|mi| mi.consumer_seq == last_cseq + 1) else {
                        break Push::FallBack(last_sseq);
                    };
                    last_cseq = mi.consumer_seq;
                    last_sseq = mi.stream_seq;
                    due = Instant::now() + PUSH_HEARTBEAT * 2;
                    if !check.take(m.payload, tx).await {
                        break Push::Gone;
                    }
                }
                Some(StatusCode::IDLE_HEARTBEAT) => {
                    // Flow control asks on the reply subject; a stalled
                    // consumer's heartbeat names where to answer.
                    let stalled = m
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Consumer-Stalled"));
                    if let Some(reply) = &m.reply {
                        let _ = client.publish(reply.to_string(), "").await;
                    } else if let Some(stalled) = stalled {
                        let _ = client.publish(stalled.to_string(), "").await;
                    } else {
                        // Idle: the consumer has sent every chunk stored,
                        // so the rest is missing (the check says so).
                        break Push::Done;
                    }
                }
                Some(_) => break Push::FallBack(last_sseq),
            }
        }
    };
    let js = store.js.clone();
    let stream = store.stream.clone();
    tokio::spawn(async move {
        let _ = sub.unsubscribe().await;
        let _ = js.delete_consumer(&stream, &name).await;
    });
    outcome
}

/// Reads the chunks (pushed for a small object, else or after a problem
/// through the ordered pull) and hands them over, holding the last back
/// until the digest checks out.
async fn feed(
    store: ObjectStore,
    opts: OrderedOptions,
    push: bool,
    info: ObjectInfo,
    tx: mpsc::Sender<Result<Bytes, Error>>,
) {
    let mut check = Check {
        hasher: Sha256::new(),
        size: 0,
        chunks: 0,
        held: None,
    };
    let mut opts = opts;
    if push {
        match push_read(&store, &info, &mut check, &tx).await {
            Push::Done => return check.finish(&info, &tx).await,
            Push::Gone => return,
            Push::FallBack(0) => {}
            Push::FallBack(seq) => opts = opts.start(OrderedStart::Sequence(seq + 1)),
        }
    }
    let mut consumer = store.js.ordered_with(&store.stream, opts);
    let mut idle = 0;
    while !check.done(&info) {
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
        if !check.take(payload, &tx).await {
            return;
        }
    }
    drop(consumer);
    check.finish(&info, &tx).await;
}
