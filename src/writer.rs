//! The connection's write buffer, shared by the Connection actor and the
//! [`Client`](crate::Client) handle.
//!
//! Every op is encoded straight into one buffer, under a lock that is
//! uncontended on actix's single-threaded arbiters; the Connection's write
//! loop swaps the whole buffer out and writes it in one go. A publish is
//! thus an encode and a waker check: no allocation, no channel hop, no
//! syscall of its own. Over `write_buffer_limit` the publisher waits until
//! the write loop has drained the buffer below half of it (backpressure);
//! nothing is dropped.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::task::Waker;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Notify;

use crate::headers::HeaderMap;
use crate::proto::ClientOp;
use crate::proto::client_op::{encode_pub_head_validated, encode_pub_validated};
use crate::stats::StatsCounters;
use crate::subject::validate_publish;
use crate::{Error, ErrorKind};

pub(crate) use crate::event::ConnectionState as State;

/// Payloads at least this large are sent by reference (a vectored write)
/// instead of being copied into the buffer.
pub(crate) const ZERO_COPY_MIN: usize = 512;

/// Headers with their encoded length.
type SizedHeaders<'h> = (&'h HeaderMap, usize);

/// nats-server's `max_payload` when its INFO gives none (or zero).
pub(crate) const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct Buf {
    /// Encoded bytes not yet cut into a segment.
    bytes: BytesMut,
    /// Finished segments, in order: cut-off parts of `bytes` and large
    /// payloads held by reference.
    segs: Vec<Bytes>,
    seg_bytes: usize,
    /// The segment list the write loop gave back, reused by `take`.
    spare: Vec<Bytes>,
    waker: Option<Waker>,
}

impl Buf {
    fn len(&self) -> usize {
        self.bytes.len() + self.seg_bytes
    }
}

/// The shared write buffer and what a publisher must know to fail fast.
#[derive(Debug)]
pub(crate) struct Writer {
    buf: Mutex<Buf>,
    drained: Notify,
    state: AtomicU8,
    /// Bytes that may be buffered while reconnecting (0: none).
    reconnect_limit: usize,
    max_payload: AtomicUsize,
    headers: std::sync::atomic::AtomicBool,
    in_flight: AtomicUsize,
    limit: usize,
    /// The Connection's mailbox for replies: a reply queues behind the
    /// `Publish` messages an actor sent before it.
    conn: std::sync::OnceLock<actix::Recipient<crate::messages::Publish>>,
    debug: bool,
    pub(crate) stats: std::sync::Arc<StatsCounters>,
}

impl Writer {
    pub(crate) fn new(
        limit: usize,
        reconnect_limit: usize,
        debug: bool,
        stats: std::sync::Arc<StatsCounters>,
    ) -> Writer {
        Writer {
            buf: Mutex::new(Buf {
                bytes: BytesMut::with_capacity(64 * 1024),
                ..Buf::default()
            }),
            drained: Notify::new(),
            state: AtomicU8::new(State::Connecting as u8),
            reconnect_limit,
            max_payload: AtomicUsize::new(usize::MAX),
            headers: std::sync::atomic::AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            limit,
            conn: std::sync::OnceLock::new(),
            debug,
            stats,
        }
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Release);
        if state != State::Connected {
            // Wake publishers waiting on backpressure: they fail, or go to
            // the reconnect buffer.
            self.drained.notify_waiters();
        }
    }

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Takes `max_payload` and `headers` from the server's INFO. A
    /// missing or zero `max_payload` means nats-server's default, 1 MiB
    /// (the one rule for it, on the first INFO and on every update).
    pub(crate) fn set_server_info(&self, info: &crate::proto::ServerInfo) {
        let max = if info.max_payload == 0 {
            DEFAULT_MAX_PAYLOAD
        } else {
            info.max_payload
        };
        self.max_payload.store(max, Ordering::Relaxed);
        self.headers.store(info.headers, Ordering::Relaxed);
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buf> {
        // A panic while holding the lock leaves plain bytes behind: the
        // buffer is still usable.
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes waiting to be written.
    pub(crate) fn buffered(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a publish may be encoded now: `Ok(false)` on a live
    /// transport, `Ok(true)` into the reconnect buffer.
    fn check_state(&self) -> Result<bool, Error> {
        match self.state() {
            State::Connected | State::Draining => Ok(false),
            State::Reconnecting if self.reconnect_limit > 0 => Ok(true),
            State::Reconnecting => Err(Error::with_source(
                ErrorKind::NotConnected,
                "reconnecting, and the reconnect buffer is disabled (reconnect_buffer_size 0)",
            )),
            State::Closed => Err(Error::new(ErrorKind::Closed)),
            State::Connecting => Err(Error::new(ErrorKind::NotConnected)),
        }
    }

    /// The checks every publish passes before any byte is written:
    /// subjects, headers (and that the server takes them), and the size
    /// against `max_payload`, headers included. Returns the headers with
    /// their encoded length, and the size.
    fn validate<'h>(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&'h HeaderMap>,
        payload_len: usize,
    ) -> Result<(Option<SizedHeaders<'h>>, usize), Error> {
        validate_publish(subject)?;
        if let Some(r) = reply {
            validate_publish(r)?;
        }
        let headers = match headers {
            Some(_) if !self.headers.load(Ordering::Relaxed) => {
                return Err(Error::with_source(
                    ErrorKind::InvalidHeader,
                    "the server does not support headers (INFO says headers: false)",
                ));
            }
            Some(h) => {
                h.validate()?;
                Some((h, h.encoded_len()))
            }
            None => None,
        };
        let size = headers.map_or(0, |(_, len)| len) + payload_len;
        let max = self.max_payload();
        if size > max {
            return Err(Error::with_source(
                ErrorKind::MaxPayloadExceeded,
                format!("message of {size} bytes exceeds the server's max_payload of {max}"),
            ));
        }
        Ok((headers, size))
    }

    /// Validates and encodes a publish. Never waits. A large payload given
    /// as `Bytes` (`owned`) is queued by reference, not copied.
    pub(crate) fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.publish_owned(subject, reply, headers, payload, None)
    }

    /// [`Writer::publish`] with the payload possibly owned.
    pub(crate) fn publish_owned(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &[u8],
        owned: Option<&Bytes>,
    ) -> Result<(), Error> {
        let buffering = self.check_state()?;
        let (headers, size) = self.validate(subject, reply, headers, payload.len())?;
        let waker = {
            let mut b = self.lock();
            if buffering {
                let frame = size + subject.len() + reply.map_or(0, str::len) + 32;
                if b.len() + frame > self.reconnect_limit {
                    return Err(Error::with_source(
                        ErrorKind::BufferFull,
                        format!(
                            "reconnect buffer full: {} bytes buffered while reconnecting, \
                             limit {} (reconnect_buffer_size)",
                            b.len(),
                            self.reconnect_limit
                        ),
                    ));
                }
            } else if b.len() >= 2 * self.limit {
                return Err(Error::with_source(
                    ErrorKind::BufferFull,
                    format!(
                        "write buffer holds {} bytes, twice its limit of {}",
                        b.len(),
                        self.limit
                    ),
                ));
            }
            match owned.filter(|p| p.len() >= ZERO_COPY_MIN) {
                Some(p) => {
                    encode_pub_head_validated(
                        &mut b.bytes,
                        subject.as_bytes(),
                        reply.map(str::as_bytes),
                        headers,
                        p.len(),
                        0,
                    );
                    let head = b.bytes.split().freeze();
                    b.seg_bytes += head.len() + p.len();
                    b.segs.push(head);
                    b.segs.push(p.clone());
                    b.bytes.put_slice(b"\r\n");
                }
                None => encode_pub_validated(
                    &mut b.bytes,
                    subject.as_bytes(),
                    reply.map(str::as_bytes),
                    headers,
                    payload,
                ),
            }
            b.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        self.stats.out_msgs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .out_bytes
            .fetch_add(size as u64, Ordering::Relaxed);
        if self.debug {
            tracing::debug!(target: "nats_actix::trace", "->> PUB {} {:?} {} bytes", subject, reply, size);
        }
        Ok(())
    }

    /// Set once by the Connection when it starts.
    pub(crate) fn set_connection(&self, conn: actix::Recipient<crate::messages::Publish>) {
        let _ = self.conn.set(conn);
    }

    /// A reply ([`Msg::respond`](crate::Msg::respond)). It is validated
    /// here, at once (subject, headers, `max_payload`, a closed client).
    /// When a [`Publish`](crate::Publish) message is waiting in some
    /// Connection's mailbox, the reply goes through the mailbox too, so
    /// that it reaches the wire after every `Publish` the same actor sent
    /// before it (a reply the Connection cannot write then is counted and
    /// raised as an `Error` event); otherwise it is encoded at once.
    pub(crate) fn respond(
        &self,
        subject: &crate::Subject,
        headers: Option<HeaderMap>,
        payload: Bytes,
    ) -> Result<(), Error> {
        self.check_state()?;
        self.validate(subject, None, headers.as_ref(), payload.len())?;
        match self.conn.get() {
            // Queue behind the `Publish` messages not handled yet; with
            // none, the direct path keeps the order and skips the hop.
            Some(conn) if crate::messages::InFlight::any() => {
                let mut p = crate::messages::Publish::new(subject.clone(), payload);
                p.headers = headers;
                conn.do_send(p);
                Ok(())
            }
            _ => self.publish_owned(subject, None, headers.as_ref(), &payload, Some(&payload)),
        }
    }

    /// Publishes, first waiting while the buffer is over its limit.
    pub(crate) async fn publish_wait(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) -> Result<(), Error> {
        self.wait_below_limit().await?;
        self.publish_owned(subject, reply, headers, payload, Some(payload))
    }

    /// Waits until the buffer is at or below its limit.
    pub(crate) async fn wait_below_limit(&self) -> Result<(), Error> {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.buffered() <= self.limit {
                return Ok(());
            }
            if self.check_state()? {
                // Reconnecting: the reconnect buffer's own limit applies.
                return Ok(());
            }
            notified.await;
        }
    }

    /// Encodes a protocol op (SUB, UNSUB, PING, PONG).
    pub(crate) fn op(&self, op: &ClientOp) {
        let waker = {
            let mut b = self.lock();
            // These ops never fail to encode (no headers, no JSON).
            let _ = op.encode(&mut b.bytes);
            b.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        if self.debug {
            let mut wire = BytesMut::new();
            let _ = op.encode(&mut wire);
            tracing::debug!(target: "nats_actix::trace", "->> {}", String::from_utf8_lossy(&wire).trim_end());
        }
    }

    /// Puts bytes in front of the buffer (the subscription replay).
    pub(crate) fn prepend(&self, front: BytesMut) {
        let mut b = self.lock();
        b.seg_bytes += front.len();
        b.segs.insert(0, front.freeze());
    }

    /// The socket is gone. The batch the write loop had taken is dropped:
    /// part of it may have reached the server, so sending it again could
    /// duplicate (core NATS is at most once). What was never handed to the
    /// socket is kept, publishes only (`SUB`, `PING`, ... are redone by
    /// the replay): it goes out after the reconnect, in order, once.
    /// Returns how many publishes were kept.
    pub(crate) fn transport_lost(&self) -> usize {
        let kept = {
            let mut b = self.lock();
            let mut all = BytesMut::with_capacity(b.len());
            for seg in b.segs.drain(..) {
                all.put_slice(&seg);
            }
            all.put_slice(&b.bytes);
            b.bytes.clear();
            b.seg_bytes = 0;
            let (kept, n) = crate::session::publishes_only(&all);
            b.bytes.put_slice(&kept);
            n
        };
        self.in_flight.store(0, Ordering::Release);
        self.drained.notify_waiters();
        kept
    }

    /// Drops whatever was not written (closing).
    pub(crate) fn clear(&self) {
        {
            let mut b = self.lock();
            b.bytes.clear();
            b.segs.clear();
            b.seg_bytes = 0;
        }
        self.in_flight.store(0, Ordering::Release);
        self.drained.notify_waiters();
    }

    /// Takes everything buffered as a list of segments, or registers the
    /// write loop's waker when there is nothing.
    pub(crate) fn take(&self, waker: &Waker) -> Option<Vec<Bytes>> {
        let (segs, len) = {
            let mut b = self.lock();
            if b.len() == 0 {
                match &b.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => b.waker = Some(waker.clone()),
                }
                return None;
            }
            let len = b.len();
            let spare = std::mem::take(&mut b.spare);
            let mut segs = std::mem::replace(&mut b.segs, spare);
            b.seg_bytes = 0;
            if !b.bytes.is_empty() {
                // Once these bytes are written and dropped, the buffer's
                // allocation is unique again and is reused.
                segs.push(b.bytes.split().freeze());
            }
            (segs, len)
        };
        self.in_flight.store(len, Ordering::Release);
        // The buffer is empty again: publishers waiting on it may go on.
        self.drained.notify_waiters();
        Some(segs)
    }

    /// Called by the write loop once a batch is fully written; the list
    /// is kept for the next batch.
    pub(crate) fn wrote(&self, mut segs: Vec<Bytes>) {
        segs.clear();
        self.lock().spare = segs;
        self.in_flight.store(0, Ordering::Release);
        self.drained.notify_waiters();
    }

    /// Whether everything encoded so far has been written to the socket.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && self.buffered() == 0
    }

    /// Waits (up to `timeout`) until everything is written.
    pub(crate) async fn wait_idle(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.drained.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.is_idle() || !matches!(self.state(), State::Connected | State::Draining) {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}
