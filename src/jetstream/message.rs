//! A message delivered by a consumer, its metadata, and its acks.

use std::time::Duration;

use bytes::Bytes;

use crate::messages::RequestOptions;
use crate::{Client, Error, ErrorKind, Msg};

/// How a consumed message is settled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::jetstream::AckKind;
/// assert_eq!(AckKind::Ack.payload(), "+ACK");
/// assert_eq!(AckKind::Nak(Some(Duration::from_secs(1))).payload(), r#"-NAK {"delay":1000000000}"#);
/// assert_eq!(AckKind::Term(Some("bad order".into())).payload(), "+TERM bad order");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// Processed.
    Ack,
    /// Not processed: redeliver, after the delay if given.
    Nak(Option<Duration>),
    /// Still working on it: restart the ack timer.
    Progress,
    /// Never redeliver, with an optional reason.
    Term(Option<String>),
}

impl AckKind {
    /// The ack's wire form.
    pub fn payload(&self) -> String {
        match self {
            AckKind::Ack => "+ACK".into(),
            AckKind::Nak(None) => "-NAK".into(),
            AckKind::Nak(Some(d)) => format!(r#"-NAK {{"delay":{}}}"#, d.as_nanos()),
            AckKind::Progress => "+WPI".into(),
            AckKind::Term(None) => "+TERM".into(),
            AckKind::Term(Some(reason)) => format!("+TERM {reason}"),
        }
    }
}

/// What the reply subject of a consumed message says (both token forms:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
/// and `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`).
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::MsgInfo;
/// let i = MsgInfo::parse("$JS.ACK.ORDERS.worker.1.42.7.1700000000000000000.3").unwrap();
/// assert_eq!((i.stream.as_str(), i.stream_seq, i.consumer_seq, i.pending), ("ORDERS", 42, 7, 3));
/// let j = MsgInfo::parse("$JS.ACK.hub.ACCHASH.ORDERS.worker.2.42.7.1700000000000000000.3.tok").unwrap();
/// assert_eq!((j.domain.as_deref(), j.delivered), (Some("hub"), 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgInfo {
    /// The JetStream domain (new form, unless `_`).
    pub domain: Option<String>,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// How many times it was delivered (1 the first time).
    pub delivered: u64,
    /// Its stream sequence.
    pub stream_seq: u64,
    /// Its consumer sequence.
    pub consumer_seq: u64,
    /// When it was stored (ns since the epoch).
    pub timestamp_ns: u64,
    /// Messages still pending for the consumer.
    pub pending: u64,
}

impl MsgInfo {
    /// Parses an ack reply subject.
    ///
    /// # Errors
    ///
    /// `Protocol` when it is not one.
    pub fn parse(reply: &str) -> Result<MsgInfo, Error> {
        let bad = || {
            Error::with_source(
                ErrorKind::Protocol,
                format!("not a JetStream ack subject: {reply:?}"),
            )
        };
        let rest = reply.strip_prefix("$JS.ACK.").ok_or_else(bad)?;
        // At most 12 tokens are read (no allocation for the split).
        let mut all = [""; 12];
        let mut n = 0;
        for tok in rest.split('.') {
            if n == all.len() {
                break;
            }
            all[n] = tok;
            n += 1;
        }
        let (domain, t) = match n {
            7 => (None, &all[..7]),
            n if n >= 9 => (
                Some(all[0]).filter(|d| *d != "_").map(str::to_string),
                &all[2..9],
            ),
            _ => return Err(bad()),
        };
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        Ok(MsgInfo {
            domain,
            stream: t[0].to_string(),
            consumer: t[1].to_string(),
            delivered: num(t[2])?,
            stream_seq: num(t[3])?,
            consumer_seq: num(t[4])?,
            timestamp_ns: num(t[5])?,
            pending: num(t[6])?,
        })
    }
}

/// A message delivered by a JetStream consumer: the message, and the
/// means to settle it.
#[derive(Debug)]
pub struct JsMsg {
    /// The message (its `reply` is the ack subject).
    pub msg: Msg,
    client: Client,
}

impl JsMsg {
    pub(crate) fn new(msg: Msg, client: Client) -> JsMsg {
        JsMsg { msg, client }
    }

    /// The client it came through.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.msg.payload
    }

    /// The subject it was stored on.
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    /// Its metadata, from the ack subject.
    ///
    /// # Errors
    ///
    /// `Protocol` when the message has no ack subject.
    pub fn info(&self) -> Result<MsgInfo, Error> {
        MsgInfo::parse(self.reply()?)
    }

    fn reply(&self) -> Result<&str, Error> {
        self.msg.reply.as_deref().ok_or_else(|| {
            Error::with_source(ErrorKind::InvalidArgument, "the message has no ack subject")
        })
    }

    /// Settles the message (fire and forget).
    ///
    /// # Errors
    ///
    /// The publish's.
    pub async fn ack_with(&self, kind: AckKind) -> Result<(), Error> {
        let reply = self.reply()?.to_string();
        let kind = match kind {
            // A server before 2.10.4 does not know `+TERM <reason>` and
            // would take it for no ack at all (and redeliver): send a plain
            // term there, the reason only in our trace.
            AckKind::Term(Some(reason)) if !self.server_at_least((2, 10, 4)).await => {
                tracing::debug!(%reason, "term reason dropped: the server is older than 2.10.4");
                AckKind::Term(None)
            }
            other => other,
        };
        self.client.publish(reply, kind.payload()).await
    }

    async fn server_at_least(&self, min: (u32, u32, u32)) -> bool {
        self.client
            .server_info()
            .await
            .is_some_and(|i| super::server_version(&i.version) >= min)
    }

    /// Acknowledges (fire and forget).
    ///
    /// # Errors
    ///
    /// The publish's.
    pub async fn ack(&self) -> Result<(), Error> {
        self.ack_with(AckKind::Ack).await
    }

    /// Acknowledges and waits for the server to confirm it: an ack that
    /// never arrives is an error, not a silent redelivery later.
    ///
    /// # Errors
    ///
    /// `TimedOut` when the server did not confirm within `timeout`.
    pub async fn double_ack(&self, timeout: Duration) -> Result<(), Error> {
        let reply = self.reply()?.to_string();
        self.client
            .request_with(
                reply,
                AckKind::Ack.payload(),
                RequestOptions::default().timeout(timeout),
            )
            .await
            .map(drop)
    }

    /// Asks for redelivery, after `delay` if given.
    ///
    /// # Errors
    ///
    /// The publish's.
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), Error> {
        self.ack_with(AckKind::Nak(delay)).await
    }

    /// Says the work is still in progress (restarts the ack timer).
    ///
    /// # Errors
    ///
    /// The publish's.
    pub async fn in_progress(&self) -> Result<(), Error> {
        self.ack_with(AckKind::Progress).await
    }

    /// Never redeliver.
    ///
    /// # Errors
    ///
    /// The publish's.
    pub async fn term(&self, reason: Option<String>) -> Result<(), Error> {
        self.ack_with(AckKind::Term(reason)).await
    }
}
