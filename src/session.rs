//! What survives a transport: the live subscriptions, the PONG waiters,
//! the server's INFO and the replay plan. A plain struct whose methods
//! return (or write into a buffer) what to send; the Connection actor
//! keeps the IO, as rumqttc keeps its `MqttState` apart from its event
//! loop.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use bytes::{BufMut, BytesMut};
use tokio::sync::oneshot;

use crate::messages::{Delivery, End};
use crate::pending::SubShared;
use crate::proto::{ClientOp, ServerInfo};
use crate::{Error, Subject};

/// What a PONG answers.
pub(crate) enum PongWaiter {
    /// Our keepalive PING.
    Keepalive,
    Flush(oneshot::Sender<Result<(), Error>>),
    Rtt(Instant, oneshot::Sender<Result<Duration, Error>>),
    DrainSub(u64, oneshot::Sender<Result<(), Error>>),
    DrainAll,
}

impl PongWaiter {
    pub(crate) fn fail(self, err: &Error) {
        match self {
            PongWaiter::Flush(tx) | PongWaiter::DrainSub(_, tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            PongWaiter::Rtt(_, tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            PongWaiter::Keepalive | PongWaiter::DrainAll => {}
        }
    }

    /// Whether the waiter outlives a transport (a flush made while
    /// disconnected is answered after the reconnect).
    fn survives(&self) -> bool {
        matches!(self, PongWaiter::Flush(_))
    }
}

/// Subscription ids are small sequential integers: hash them as is.
#[derive(Default)]
pub(crate) struct SidHasher(u64);

impl Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type SidMap<V> = HashMap<u64, V, BuildHasherDefault<SidHasher>>;

/// A live subscription as the Connection routes it.
pub(crate) struct SubEntry {
    pub(crate) subject: Subject,
    pub(crate) queue: Option<Subject>,
    pub(crate) max: Option<u64>,
    pub(crate) delivered: u64,
    pub(crate) addr: Recipient<End>,
    pub(crate) delivery: Delivery,
    pub(crate) shared: Arc<SubShared>,
    pub(crate) limit_msgs: u64,
    pub(crate) limit_bytes: u64,
}

/// The session state of one client, across transports.
pub(crate) struct Session {
    pub(crate) subs: SidMap<SubEntry>,
    pub(crate) next_sid: u64,
    pub(crate) pongs: VecDeque<PongWaiter>,
    pub(crate) pings_out: usize,
    pub(crate) info: Option<ServerInfo>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            subs: SidMap::default(),
            next_sid: 1,
            pongs: VecDeque::new(),
            pings_out: 0,
            info: None,
        }
    }
}

impl Session {
    /// A new subscription id.
    pub(crate) fn new_sid(&mut self) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        sid
    }

    /// The replay plan: a SUB for every live subscription, with an UNSUB
    /// carrying what remains of its `max`, in sid order (the order they
    /// were made).
    pub(crate) fn replay(&self, out: &mut BytesMut) {
        let mut sids: Vec<u64> = self.subs.keys().copied().collect();
        sids.sort_unstable();
        for sid in sids {
            let s = &self.subs[&sid];
            let _ = ClientOp::Subscribe {
                sid,
                subject: s.subject.clone(),
                queue_group: s.queue.clone(),
            }
            .encode(out);
            if let Some(max) = s.max {
                let _ = ClientOp::Unsubscribe {
                    sid,
                    max: Some(max.saturating_sub(s.delivered)),
                }
                .encode(out);
            }
        }
    }

    /// The transport is gone: fail the PONG waiters that cannot outlive
    /// it; returns how many survive (flushes, whose PINGs are sent again
    /// after the reconnect).
    pub(crate) fn transport_lost(&mut self, err: &Error) -> usize {
        self.pings_out = 0;
        let mut kept = VecDeque::new();
        for w in self.pongs.drain(..) {
            if w.survives() {
                kept.push_back(w);
            } else {
                w.fail(err);
            }
        }
        self.pongs = kept;
        self.pongs.len()
    }

    /// Fails every PONG waiter (closing).
    pub(crate) fn fail_pongs(&mut self, err: &Error) {
        for w in self.pongs.drain(..) {
            w.fail(err);
        }
    }

    /// The subscription a permission error names.
    pub(crate) fn find(&self, subject: &str, queue: Option<&str>) -> Option<u64> {
        self.subs
            .iter()
            .filter(|(_, s)| {
                s.subject.as_str() == subject && s.queue.as_ref().map(|q| q.as_str()) == queue
            })
            .map(|(sid, _)| *sid)
            .min()
    }
}

/// Keeps the publishes (`PUB`/`HPUB` frames, whole) of a run of encoded
/// client ops and drops everything else (`SUB`, `UNSUB`, `PING`, `PONG`:
/// the replay and the new transport redo those). Returns the kept bytes
/// and how many publish frames they hold. Stops at the first incomplete or
/// unreadable frame (none: the writer only holds whole frames it encoded).
pub(crate) fn publishes_only(ops: &[u8]) -> (BytesMut, usize) {
    let mut out = BytesMut::new();
    let mut frames = 0;
    let mut at = 0;
    while at < ops.len() {
        let Some(nl) = memchr::memchr(b'\n', &ops[at..]) else {
            break;
        };
        let line = &ops[at..at + nl + 1];
        let body = if line.starts_with(b"PUB ") || line.starts_with(b"HPUB ") {
            // The last argument is the total length (headers included).
            let text = &line[..line.len().saturating_sub(2)];
            let total = text
                .rsplit(|b| *b == b' ')
                .next()
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok());
            match total {
                Some(t) => Some(t + 2),
                None => break,
            }
        } else {
            None
        };
        match body {
            Some(len) => {
                let end = at + line.len() + len;
                if end > ops.len() {
                    break;
                }
                out.put_slice(&ops[at..end]);
                frames += 1;
                at = end;
            }
            None => at += line.len(),
        }
    }
    (out, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_only_keeps_whole_publish_frames_in_order() {
        let ops = b"SUB a 1\r\nPUB a 5\r\nhello\r\nPING\r\nHPUB b r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\nUNSUB 1\r\nPUB c 4\r\nPUB \r\n";
        let (kept, n) = publishes_only(ops);
        assert_eq!(n, 3);
        assert_eq!(
            &kept[..],
            &b"PUB a 5\r\nhello\r\nHPUB b r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPUB c 4\r\nPUB \r\n"[..]
        );
        let (kept, n) = publishes_only(b"PUB a 10\r\nshort");
        assert_eq!((kept.len(), n), (0, 0), "an incomplete frame is not kept");
    }
}
