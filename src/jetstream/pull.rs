//! Continuous pull consumption (ADR-37): a `PullConsumer` actor keeps pull
//! requests outstanding, refills at a threshold, watches idle heartbeats,
//! re-issues its pulls after a reconnect or missed heartbeats, and delivers
//! each message into a user actor's `Recipient<JsMsg>` (whose handler
//! answers with an [`AckKind`], which the consumer applies) or into a
//! [`JsStream`].
//!
//! What it does not own it never recreates: a deleted consumer or missed
//! heartbeats are reported (as `Error` events of the client, kind
//! `JetStream`) and the pulls go on, so the consumption resumes by itself
//! when the consumer or the server comes back (nats.go issue 1729).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_core::Stream;
use tokio::sync::mpsc;

use super::Context;
use super::message::{AckKind, JsMsg};
use crate::headers::StatusCode;
use crate::{Error, ErrorKind, Event, Msg};

/// How a continuous consumption pulls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let o = nats_actix::jetstream::ConsumeOptions::default().batch(50).expires(Duration::from_secs(10));
/// assert_eq!(o.heartbeat(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeOptions {
    /// Messages asked for per pull (100).
    pub batch: usize,
    /// How long a pull waits on the server (30 s).
    pub expires: Duration,
    /// Refill when fewer than this fraction of `batch` is outstanding
    /// (0.5).
    pub threshold: f64,
    /// Bytes asked for per pull (0: no bound; server 2.8.3 or newer). The
    /// outstanding bytes are accounted like the messages, and a pull is
    /// refilled when either falls below the threshold.
    pub max_bytes: usize,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            batch: 100,
            expires: Duration::from_secs(30),
            threshold: 0.5,
            max_bytes: 0,
        }
    }
}

impl ConsumeOptions {
    /// Sets the batch.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Bounds each pull by bytes as well as messages.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Sets how long each pull waits on the server (at least 1 s).
    pub fn expires(mut self, d: Duration) -> Self {
        self.expires = d.max(Duration::from_secs(1));
        self
    }

    /// The idle heartbeat asked of the server: half of `expires`, between
    /// 500 ms and 30 s (ADR-37).
    pub fn heartbeat(&self) -> Duration {
        (self.expires / 2).clamp(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl actix::Message for JsMsg {
    type Result = AckKind;
}

enum Sink {
    Actor(Recipient<JsMsg>),
    Channel(mpsc::Sender<JsMsg>),
}

/// The actor behind a continuous consumption; stop it with
/// [`ConsumerHandle::stop`].
pub struct PullConsumer {
    _live: crate::stats::LiveActor,
    js: Context,
    stream: String,
    consumer: String,
    opts: ConsumeOptions,
    sink: Sink,
    inbox: String,
    outstanding: usize,
    outstanding_bytes: usize,
    last_seen: Instant,
    missed_reported: bool,
}

impl std::fmt::Debug for PullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumer")
            .field("stream", &self.stream)
            .field("consumer", &self.consumer)
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

/// Stops a continuous consumption (its `PullConsumer` actor).
#[derive(Debug, Clone)]
pub struct ConsumerHandle(Addr<PullConsumer>);

impl ConsumerHandle {
    /// Stops pulling; messages already delivered keep their acks.
    pub fn stop(&self) {
        self.0.do_send(StopConsumer);
    }

    /// Whether the consumption still runs.
    pub fn is_running(&self) -> bool {
        self.0.connected()
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopConsumer;

impl Handler<StopConsumer> for PullConsumer {
    type Result = ();
    fn handle(&mut self, _: StopConsumer, ctx: &mut actix::Context<Self>) {
        ctx.stop();
    }
}

impl PullConsumer {
    fn report(&self, text: String) {
        tracing::warn!(stream = %self.stream, consumer = %self.consumer, "{text}");
        self.js
            .client()
            .emit_event(Event::Error(Error::with_source(ErrorKind::JetStream, text)));
    }

    /// Issues a pull for what is missing below the batch.
    fn refill(&mut self, force: bool) {
        let low = (self.opts.batch as f64 * self.opts.threshold) as usize;
        let max_bytes = self.opts.max_bytes;
        let low_bytes = (max_bytes as f64 * self.opts.threshold) as usize;
        let bytes_low = max_bytes > 0 && self.outstanding_bytes <= low_bytes;
        if !force && self.outstanding > low && !bytes_low {
            return;
        }
        let want = self.opts.batch.saturating_sub(self.outstanding);
        let want_bytes = max_bytes.saturating_sub(self.outstanding_bytes);
        if want == 0 || (max_bytes > 0 && want_bytes == 0) {
            return;
        }
        self.outstanding += want;
        let mut body = serde_json::json!({
            "batch": want,
            "expires": self.opts.expires.as_nanos() as u64,
            "idle_heartbeat": self.opts.heartbeat().as_nanos() as u64,
        });
        if max_bytes > 0 {
            self.outstanding_bytes += want_bytes;
            body["max_bytes"] = serde_json::json!(want_bytes);
        }
        let subject = format!(
            "{}.CONSUMER.MSG.NEXT.{}.{}",
            self.js.prefix(),
            self.stream,
            self.consumer
        );
        let client = self.js.client().clone();
        let inbox = self.inbox.clone();
        let payload = body.to_string();
        actix::spawn(async move {
            // While disconnected the pull waits in the reconnect buffer;
            // a failure is caught by the heartbeat watchdog.
            let _ = client.publish_with_reply(subject, inbox, payload).await;
        });
    }

    fn deliver(&mut self, msg: Msg, ctx: &mut actix::Context<Self>) {
        let js_msg = JsMsg::new(msg, self.js.client().clone());
        match &self.sink {
            Sink::Actor(r) => {
                let r = r.clone();
                // Detached from this actor: a message already handed over
                // keeps its ack even if the consumption stops meanwhile.
                actix::spawn(async move {
                    let ack_to = JsMsg::new(js_msg.msg.clone(), js_msg.client().clone());
                    // A stopped or panicking handler: no answer, so a nak,
                    // and the server redelivers.
                    let kind = r.send(js_msg).await.unwrap_or(AckKind::Nak(None));
                    let _ = ack_to.ack_with(kind).await;
                });
            }
            Sink::Channel(tx) => {
                if tx.try_send(js_msg).is_err() && tx.is_closed() {
                    ctx.stop();
                }
            }
        }
    }
}

impl Actor for PullConsumer {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        let client = self.js.client().clone();
        let inbox = self.inbox.clone();
        // The pull inbox, and the client's events (to re-pull after a
        // reconnect), as streams of this actor.
        ctx.wait(
            async move {
                let sub = client.subscribe(inbox).await;
                let events = client.events().await;
                (sub, events)
            }
            .into_actor(self)
            .map(|(sub, events), act, ctx| match sub {
                Ok(sub) => {
                    ctx.add_stream(sub);
                    ctx.add_stream(events);
                    act.refill(true);
                }
                Err(e) => {
                    act.report(format!("cannot subscribe the pull inbox: {e}"));
                    ctx.stop();
                }
            }),
        );
        let hb = self.opts.heartbeat();
        ctx.run_interval(hb, move |act, _| {
            if act.last_seen.elapsed() > hb * 2 {
                if !act.missed_reported {
                    act.missed_reported = true;
                    act.report(format!(
                        "missed idle heartbeats on {} > {} (nothing for {:?}): pulling again",
                        act.stream,
                        act.consumer,
                        act.last_seen.elapsed()
                    ));
                }
                act.outstanding = 0;
                act.outstanding_bytes = 0;
                act.refill(true);
            }
        });
    }
}

impl StreamHandler<Msg> for PullConsumer {
    fn handle(&mut self, msg: Msg, ctx: &mut actix::Context<Self>) {
        self.last_seen = Instant::now();
        self.missed_reported = false;
        match msg.status() {
            None => {
                self.outstanding = self.outstanding.saturating_sub(1);
                // The size the server counts against max_bytes.
                let size = msg.subject.len()
                    + msg.reply.as_ref().map_or(0, |r| r.len())
                    + msg.headers.as_ref().map_or(0, |h| h.encoded_len())
                    + msg.payload.len();
                self.outstanding_bytes = self.outstanding_bytes.saturating_sub(size);
                self.deliver(msg, ctx);
                self.refill(false);
            }
            Some(StatusCode::IDLE_HEARTBEAT) => {}
            Some(code) => {
                let h = msg.headers.as_ref();
                let description = h
                    .and_then(|h| h.description())
                    .unwrap_or_default()
                    .to_string();
                let pending = h
                    .and_then(|h| h.get("Nats-Pending-Messages"))
                    .and_then(|v| v.parse::<usize>().ok());
                // 404/408 end a pull; 409 ends it too. What it left
                // outstanding is in Nats-Pending-Messages when given.
                self.outstanding = match pending {
                    Some(p) => self.outstanding.saturating_sub(p),
                    None => 0,
                };
                let pending_bytes = h
                    .and_then(|h| h.get("Nats-Pending-Bytes"))
                    .and_then(|v| v.parse::<usize>().ok());
                self.outstanding_bytes = match pending_bytes {
                    Some(p) => self.outstanding_bytes.saturating_sub(p),
                    None => 0,
                };
                if code == StatusCode::CONFLICT && description.contains("MaxBytes") {
                    // The byte bound was reached: an ordinary end.
                    self.refill(true);
                } else if code == StatusCode::CONFLICT {
                    // Consumer deleted, limits exceeded, ...: reported, not
                    // terminal; the next pull finds out whether it is back.
                    self.report(format!("pull ended: 409 {description}"));
                    ctx.run_later(Duration::from_millis(500), |act, _| act.refill(true));
                } else {
                    self.refill(true);
                }
            }
        }
    }

    fn finished(&mut self, ctx: &mut actix::Context<Self>) {
        ctx.stop();
    }
}

impl StreamHandler<Event> for PullConsumer {
    fn handle(&mut self, e: Event, _: &mut actix::Context<Self>) {
        if let Event::Reconnected { .. } = e {
            // The server forgot our waiting pulls with the old link.
            self.outstanding = 0;
            self.outstanding_bytes = 0;
            self.refill(true);
        }
    }

    fn finished(&mut self, _: &mut actix::Context<Self>) {}
}

/// Messages of a continuous consumption as a `Stream`; ack each one.
#[derive(Debug)]
pub struct JsStream {
    rx: mpsc::Receiver<JsMsg>,
    handle: ConsumerHandle,
}

impl JsStream {
    /// The next message.
    pub async fn next(&mut self) -> Option<JsMsg> {
        self.rx.recv().await
    }

    /// The consumption's handle.
    pub fn handle(&self) -> &ConsumerHandle {
        &self.handle
    }
}

impl Stream for JsStream {
    type Item = JsMsg;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<JsMsg>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for JsStream {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

impl Context {
    fn start_consumer(
        &self,
        stream: &str,
        consumer: &str,
        opts: ConsumeOptions,
        sink: Sink,
    ) -> ConsumerHandle {
        let actor = PullConsumer {
            _live: crate::stats::LiveActor::new(),
            js: self.clone(),
            stream: stream.to_string(),
            consumer: consumer.to_string(),
            inbox: self.client().new_inbox(),
            opts,
            sink,
            outstanding: 0,
            outstanding_bytes: 0,
            last_seen: Instant::now(),
            missed_reported: false,
        };
        ConsumerHandle(actor.start())
    }

    /// Consumes a pull consumer continuously **into an actor**: each
    /// message goes to `recipient`, whose `Handler<JsMsg>` returns the
    /// [`AckKind`] to apply. Many messages are in flight at once (up to the
    /// batch, within the consumer's `max_ack_pending`); a handler that
    /// stops or panics leads to a nak and a redelivery, never a loss.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use actix::prelude::*;
    /// use nats_actix::jetstream::{AckKind, ConsumeOptions, JsMsg};
    ///
    /// struct Worker;
    /// impl Actor for Worker { type Context = Context<Self>; }
    /// impl Handler<JsMsg> for Worker {
    ///     type Result = MessageResult<JsMsg>;
    ///     fn handle(&mut self, m: JsMsg, _: &mut Context<Self>) -> Self::Result {
    ///         if m.payload().is_empty() { MessageResult(AckKind::Term(Some("empty".into()))) }
    ///         else { MessageResult(AckKind::Ack) }
    ///     }
    /// }
    ///
    /// # fn run(js: nats_actix::jetstream::Context) {
    /// let handle = js.consume_into("ORDERS", "worker", Worker.start().recipient(), ConsumeOptions::default());
    /// # handle.stop();
    /// # }
    /// ```
    pub fn consume_into(
        &self,
        stream: &str,
        consumer: &str,
        recipient: Recipient<JsMsg>,
        opts: ConsumeOptions,
    ) -> ConsumerHandle {
        self.start_consumer(stream, consumer, opts, Sink::Actor(recipient))
    }

    /// Consumes a pull consumer continuously as a [`JsStream`]; ack each
    /// message yourself. Dropping the stream stops the consumption.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::ConsumeOptions;
    /// let mut msgs = js.consume("ORDERS", "worker", ConsumeOptions::default());
    /// while let Some(m) = msgs.next().await {
    ///     m.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn consume(&self, stream: &str, consumer: &str, opts: ConsumeOptions) -> JsStream {
        let (tx, rx) = mpsc::channel(opts.batch.max(1) * 2);
        let handle = self.start_consumer(stream, consumer, opts, Sink::Channel(tx));
        JsStream { rx, handle }
    }
}
