//! Status events for tests: an actor that forwards every event (with the
//! time it arrived) to a channel. Registered through
//! `ConnectOptions::event_recipient`, it sees the first `Connected` too.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use actix::prelude::*;
use nats_actix::Event;
use tokio::sync::mpsc;

/// The receiving end: every event with the time it arrived.
pub type Events = mpsc::UnboundedReceiver<(Instant, Event)>;

struct EventSink(mpsc::UnboundedSender<(Instant, Event)>);

impl Actor for EventSink {
    type Context = Context<Self>;
}

impl Handler<Event> for EventSink {
    type Result = ();
    fn handle(&mut self, e: Event, _: &mut Context<Self>) {
        let _ = self.0.send((Instant::now(), e));
    }
}

/// A recipient to give `ConnectOptions::event_recipient`, and its channel.
pub fn event_sink() -> (Recipient<Event>, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    (EventSink(tx).start().recipient(), rx)
}

/// The next event `pred` accepts, with its time (20 s at most).
pub async fn next_timed(rx: &mut Events, pred: impl Fn(&Event) -> bool) -> (Instant, Event) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rx.recv().await {
                Some((t, e)) if pred(&e) => return (t, e),
                Some(_) => {}
                None => panic!("event channel ended"),
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

/// The next event `pred` accepts (20 s at most).
pub async fn next_of(rx: &mut Events, pred: impl Fn(&Event) -> bool) -> Event {
    next_timed(rx, pred).await.1
}

pub fn is_disconnected(e: &Event) -> bool {
    matches!(e, Event::Disconnected { .. })
}

pub fn is_reconnected(e: &Event) -> bool {
    matches!(e, Event::Reconnected { .. })
}

pub fn is_reconnecting(e: &Event) -> bool {
    matches!(e, Event::Reconnecting { .. })
}
