//! The message queue behind a [`Subscriber`](crate::Subscriber) stream.
//!
//! A mutex around a `VecDeque`: it allocates nothing until the first
//! message (an idle subscription costs a few dozen bytes), and it is
//! bounded by the subscription's pending limits, which the Connection
//! checks before every push.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::Msg;

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Msg>,
    waker: Option<Waker>,
    senders: usize,
    receiver_gone: bool,
}

#[derive(Debug, Default)]
struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side of a subscription's message queue.
///
/// # Examples
///
/// ```
/// let (tx, _rx) = nats_actix::queue::channel();
/// assert!(tx.send(nats_actix::Msg::new("a", None, "x")).is_ok());
/// ```
#[derive(Debug)]
pub struct MsgSender(Arc<Shared>);

/// The receiving side of a subscription's message queue. It takes the
/// queued messages a batch at a time: one lock per batch, not per message.
#[derive(Debug)]
pub struct MsgReceiver {
    shared: Arc<Shared>,
    local: VecDeque<Msg>,
}

/// A new unbounded queue; the Connection bounds it with the pending limits.
pub fn channel() -> (MsgSender, MsgReceiver) {
    let shared = Arc::new(Shared(Mutex::new(Inner {
        senders: 1,
        ..Inner::default()
    })));
    (
        MsgSender(shared.clone()),
        MsgReceiver {
            shared,
            local: VecDeque::new(),
        },
    )
}

impl MsgSender {
    /// Queues a message; gives it back when the receiver is gone.
    ///
    /// # Errors
    ///
    /// The message, when the receiver was dropped or closed.
    #[allow(clippy::result_large_err)]
    pub fn send(&self, msg: Msg) -> Result<(), Msg> {
        let waker = {
            let mut q = self.0.lock();
            if q.receiver_gone {
                return Err(msg);
            }
            q.items.push_back(msg);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.0.lock().receiver_gone
    }
}

impl Clone for MsgSender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        MsgSender(self.0.clone())
    }
}

impl Drop for MsgSender {
    fn drop(&mut self) {
        let waker = {
            let mut q = self.0.lock();
            q.senders -= 1;
            if q.senders == 0 { q.waker.take() } else { None }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl MsgReceiver {
    /// The next message; `Ready(None)` once every sender is gone and the
    /// queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        if let Some(m) = self.local.pop_front() {
            return Poll::Ready(Some(m));
        }
        let mut q = self.shared.lock();
        if !q.items.is_empty() {
            // Swap the whole batch out; the sender keeps our empty deque's
            // allocation for the next batch.
            std::mem::swap(&mut q.items, &mut self.local);
            drop(q);
            return Poll::Ready(self.local.pop_front());
        }
        if q.senders == 0 || q.receiver_gone {
            return Poll::Ready(None);
        }
        match &q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next message if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Msg> {
        if let Some(m) = self.local.pop_front() {
            return Some(m);
        }
        let mut q = self.shared.lock();
        if q.items.is_empty() {
            return None;
        }
        std::mem::swap(&mut q.items, &mut self.local);
        drop(q);
        self.local.pop_front()
    }

    /// The next message, waiting for it.
    pub async fn recv(&mut self) -> Option<Msg> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Stops receiving: queued messages are dropped (freeing their pending
    /// slots) and later sends fail.
    pub fn close(&mut self) {
        let items = {
            let mut q = self.shared.lock();
            q.receiver_gone = true;
            std::mem::take(&mut q.items)
        };
        drop(items);
        self.local.clear();
    }
}

impl Drop for MsgReceiver {
    fn drop(&mut self) {
        self.close();
    }
}
