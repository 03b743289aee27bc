//! The ordered consumer (ADR-17), pull-based: an ephemeral consumer with
//! no acks that this client owns, so it may recreate it. Every message of
//! the stream (or of a filter) arrives exactly once, in order: on a gap in
//! the consumer sequence, an error, a reconnect or a lost consumer, the
//! consumer is recreated from the last stream sequence delivered + 1.

use std::collections::VecDeque;
use std::time::Duration;

use super::Context;
use super::consumer::{AckPolicy, ConsumerConfig, DeliverPolicy};
use super::message::JsMsg;
use crate::{Error, ErrorKind};

/// An ordered view of a stream. Get one from [`Context::ordered`].
#[derive(Debug)]
pub struct OrderedConsumer {
    js: Context,
    stream: String,
    filter: Option<String>,
    name: Option<String>,
    last_stream_seq: u64,
    last_consumer_seq: u64,
    buffered: VecDeque<JsMsg>,
    fetch_wait: Duration,
    /// Consumers created (1 + recreations).
    pub created: u64,
}

impl Context {
    /// An ordered consumer over `stream` (only `filter` if given), from
    /// the first message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let mut ordered = js.ordered("ORDERS", Some("orders.>"));
    /// while let Some(m) = ordered.next().await? {
    ///     println!("{} {}", m.info()?.stream_seq, m.subject());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ordered(&self, stream: &str, filter: Option<&str>) -> OrderedConsumer {
        self.ordered_from(stream, filter, 1)
    }

    /// An ordered consumer starting at stream sequence `start_seq`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let mut from_100 = js.ordered_from("ORDERS", None, 100);
    /// if let Some(m) = from_100.next().await? {
    ///     assert!(m.info()?.stream_seq >= 100);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ordered_from(
        &self,
        stream: &str,
        filter: Option<&str>,
        start_seq: u64,
    ) -> OrderedConsumer {
        OrderedConsumer {
            js: self.clone(),
            stream: stream.to_string(),
            filter: filter.map(str::to_string),
            name: None,
            last_stream_seq: start_seq.saturating_sub(1),
            last_consumer_seq: 0,
            buffered: VecDeque::new(),
            fetch_wait: Duration::from_secs(1),
            created: 0,
        }
    }
}

impl OrderedConsumer {
    /// The stream sequence of the last message delivered.
    pub fn last_stream_seq(&self) -> u64 {
        self.last_stream_seq
    }

    async fn recreate(&mut self) -> Result<(), Error> {
        if let Some(old) = self.name.take() {
            // Best effort: an ephemeral consumer also goes away by itself.
            let _ = self.js.delete_consumer(&self.stream, &old).await;
        }
        let name = format!("ord_{}", crate::nuid::next());
        let mut cfg = ConsumerConfig::ephemeral();
        cfg.name = Some(name.clone());
        cfg.ack_policy = AckPolicy::None;
        cfg.mem_storage = true;
        cfg.num_replicas = 1;
        cfg.inactive_threshold = Duration::from_secs(300);
        cfg.filter_subject = self.filter.clone();
        if self.last_stream_seq > 0 {
            cfg.deliver_policy = DeliverPolicy::ByStartSequence;
            cfg.opt_start_seq = Some(self.last_stream_seq + 1);
        }
        self.js.create_consumer(&self.stream, cfg).await?;
        self.name = Some(name);
        self.last_consumer_seq = 0;
        self.buffered.clear();
        self.created += 1;
        Ok(())
    }

    /// The next message, waiting up to a second for one; `Ok(None)` when
    /// the stream has nothing more for now (call again to wait for more).
    ///
    /// # Errors
    ///
    /// The API's when the consumer cannot be (re)created, such as a
    /// stream that does not exist.
    pub async fn next(&mut self) -> Result<Option<JsMsg>, Error> {
        loop {
            if let Some(m) = self.buffered.pop_front() {
                let info = m.info()?;
                if info.consumer_seq != self.last_consumer_seq + 1 {
                    // A gap: start again after what was delivered.
                    self.name = None;
                    self.buffered.clear();
                    continue;
                }
                self.last_consumer_seq = info.consumer_seq;
                self.last_stream_seq = info.stream_seq;
                return Ok(Some(m));
            }
            if self.name.is_none()
                && let Err(e) = self.recreate().await
            {
                if !transient(&e) {
                    return Err(e);
                }
                // The server is away (restarting, a leader moving): try
                // again shortly.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let name = self.name.clone().unwrap_or_default();
            match self
                .js
                .fetch(&self.stream, &name, 256, self.fetch_wait)
                .await
            {
                Ok(batch) if batch.is_empty() => {
                    // Nothing new; make sure the consumer still exists
                    // (a restarted server forgets a memory consumer).
                    match self.js.consumer_info(&self.stream, &name).await {
                        Ok(_) => return Ok(None),
                        Err(_) => {
                            self.name = None;
                            continue;
                        }
                    }
                }
                Ok(batch) => self.buffered.extend(batch),
                Err(e) if e.kind() == ErrorKind::Closed => return Err(e),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.name = None;
                }
            }
        }
    }
}

impl Drop for OrderedConsumer {
    /// Deletes the consumer it owns (in the background, when inside an
    /// actix system; it expires by itself otherwise).
    fn drop(&mut self) {
        if let Some(name) = self.name.take()
            && actix::Arbiter::try_current().is_some()
        {
            let js = self.js.clone();
            let stream = self.stream.clone();
            actix::spawn(async move {
                let _ = js.delete_consumer(&stream, &name).await;
            });
        }
    }
}

/// Errors after which trying again later can succeed.
fn transient(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::TimedOut
            | ErrorKind::NoResponders
            | ErrorKind::Disconnected
            | ErrorKind::NotConnected
            | ErrorKind::Io
    ) || super::ApiError::of(e).is_some_and(|a| a.code == 503)
}
