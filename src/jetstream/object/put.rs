//! Put: chunks read one at a time from an `AsyncRead`, hashed as they go,
//! published with a window of acks in flight; then the meta. A put that
//! fails or is dropped removes the chunks it wrote.

use std::collections::VecDeque;
use std::time::SystemTime;

use bytes::BytesMut;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{DEFAULT_CHUNK_SIZE, ObjectInfo, ObjectMeta, ObjectMetaOptions, ObjectStore};
use crate::jetstream::{PubAckFuture, PublishOptions};
use crate::{Error, ErrorKind};

/// The chunks of one put not yet known to be in the meta. Dropped while
/// armed (an error, a cancelled future), it waits for the acks of what
/// was sent, then purges the chunk subject, in the background.
struct Upload {
    store: ObjectStore,
    nuid: String,
    pending: VecDeque<PubAckFuture>,
    armed: bool,
}

impl Upload {
    /// Waits for what is in flight, then purges the chunks.
    async fn clean(store: ObjectStore, nuid: String, pending: VecDeque<PubAckFuture>) {
        for ack in pending {
            let _ = ack.ack().await;
        }
        if let Err(e) = store.purge_chunks(&nuid).await {
            tracing::warn!(bucket = %store.bucket, nuid = %nuid, "purging the chunks of a failed put: {e}");
        }
    }

    async fn abort(mut self) {
        self.armed = false;
        let pending = std::mem::take(&mut self.pending);
        Upload::clean(self.store.clone(), self.nuid.clone(), pending).await;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.armed && tokio::runtime::Handle::try_current().is_ok() {
            let pending = std::mem::take(&mut self.pending);
            actix::spawn(Upload::clean(
                self.store.clone(),
                self.nuid.clone(),
                pending,
            ));
        }
    }
}

/// Reads until `buf` holds `size` bytes or the reader ends.
async fn fill<R: AsyncRead + Unpin>(
    data: &mut R,
    buf: &mut BytesMut,
    size: usize,
) -> std::io::Result<()> {
    buf.clear();
    buf.reserve(size);
    while buf.len() < size {
        let want = size - buf.len();
        let n = (&mut *data).take(want as u64).read_buf(buf).await?;
        if n == 0 {
            break;
        }
    }
    Ok(())
}

impl ObjectStore {
    /// Stores an object read from `data`, streaming: chunk by chunk
    /// (128 KiB unless the meta says otherwise), SHA-256 computed on the
    /// way, with up to [`ObjectStore::window`] bytes of chunks awaiting
    /// their acks. The meta is written once every chunk is stored; then
    /// the chunks of an object it replaces are purged. If the put fails,
    /// or its future is dropped, the chunks it wrote are removed.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for an empty name; `InvalidArgument` for a chunk size
    /// of 0 or over the server's max payload; `Io` from the reader; the
    /// publishes' (`NoResponders` when the bucket is gone, `JetStream`
    /// when it refuses the chunks: sealed, full).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::object::ObjectMeta;
    /// let file = tokio::fs::File::open("video.mp4").await?;
    /// let info = store.put(ObjectMeta::new("video.mp4").chunk_size(256 * 1024), file).await?;
    /// println!("{} bytes, {}", info.size, info.digest);
    /// # Ok(()) }
    /// ```
    pub async fn put<R>(
        &self,
        meta: impl Into<ObjectMeta>,
        mut data: R,
    ) -> Result<ObjectInfo, Error>
    where
        R: AsyncRead + Unpin,
    {
        let meta = meta.into();
        super::validate_name(&meta.name)?;
        let chunk_size = meta.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        let max_payload = self
            .js
            .client()
            .server_info()
            .await
            .map_or(usize::MAX, |i| i.max_payload);
        if chunk_size == 0 || chunk_size > max_payload {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                format!(
                    "chunk size {chunk_size} is outside 1..={max_payload} (the server's max payload)"
                ),
            ));
        }
        let nuid = crate::nuid::next();
        let subject = self.chunk_subject(&nuid);
        let window = (self.window / chunk_size).max(2);
        let mut upload = Upload {
            store: self.clone(),
            nuid: nuid.clone(),
            pending: VecDeque::with_capacity(window),
            armed: true,
        };
        let mut hasher = Sha256::new();
        let mut buf = BytesMut::new();
        let (mut size, mut chunks) = (0u64, 0u64);
        // The current version (whose chunks go once this one is stored)
        // is looked up while the chunks go out: one round trip saved.
        let lookup = self.raw_info(&meta.name);
        let send = async {
            loop {
                fill(&mut data, &mut buf, chunk_size).await?;
                if buf.is_empty() {
                    break;
                }
                hasher.update(&buf[..]);
                size += buf.len() as u64;
                chunks += 1;
                let chunk = buf.split().freeze();
                let ack = self
                    .js
                    .publish_async(&subject, chunk, PublishOptions::default())
                    .await?;
                upload.pending.push_back(ack);
                while upload.pending.len() >= window {
                    if let Some(a) = upload.pending.pop_front() {
                        a.ack().await?;
                    }
                }
            }
            while let Some(a) = upload.pending.pop_front() {
                a.ack().await?;
            }
            Ok::<(), Error>(())
        };
        // Both run to their end (not `try_join`): a failed lookup must not
        // cancel the sending half between a publish and the keeping of its
        // ack, or that chunk could be stored after the cleanup's purge.
        let (looked_up, sent) = tokio::join!(lookup, send);
        let previous = match sent.and(looked_up) {
            Ok(previous) => previous,
            Err(e) => {
                upload.abort().await;
                return Err(super::bucket_error(e, &self.bucket));
            }
        };
        let info = ObjectInfo {
            name: meta.name,
            description: meta.description,
            headers: meta.headers,
            metadata: meta.metadata,
            options: Some(ObjectMetaOptions {
                link: None,
                max_chunk_size: chunk_size,
            }),
            bucket: self.bucket.clone(),
            nuid,
            size,
            mtime: SystemTime::now(),
            chunks,
            digest: super::digest_string(&hasher.finalize()),
            deleted: false,
        };
        if let Err(e) = self.publish_meta(&info).await {
            upload.abort().await;
            return Err(e);
        }
        upload.armed = false;
        if let Some(old) = previous
            && !old.deleted
            && !old.is_link()
            && old.nuid != info.nuid
            && let Err(e) = self.purge_chunks(&old.nuid).await
        {
            tracing::warn!(bucket = %self.bucket, name = %info.name, "purging the replaced object's chunks: {e}");
        }
        Ok(info)
    }
}
