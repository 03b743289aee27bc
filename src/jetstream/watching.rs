//! What the KV and object-store watches share: the loop that reads a
//! watch's events, reports and retries its errors, and stops when nobody
//! listens; and [`Watch`], the running watch as a `Stream`.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::{Client, Error, ErrorKind, Event};

/// A watch's reader: the next event, or `Ok(None)` after an idle while.
pub(crate) trait WatchSource {
    /// What it yields.
    type Event;
    /// How reports name it (`kv watch on cfg`).
    fn what(&self) -> String;
    /// The client its errors are reported to.
    fn client(&self) -> &Client;
    /// The next event; `Ok(None)` when nothing came for a while.
    async fn next_event(&mut self) -> Result<Option<Self::Event>, Error>;
}

/// Runs a watch until `sink` says stop (returns false), `alive` says
/// nobody listens any more, or the client closes. Errors go to `sink` and
/// to the client's events; the watch then tries again a second later.
pub(crate) async fn run_watch<S, F, Fut, A>(mut w: S, sink: F, alive: A)
where
    S: WatchSource,
    F: Fn(Result<S::Event, Error>) -> Fut,
    Fut: std::future::Future<Output = bool>,
    A: Fn() -> bool,
{
    loop {
        match w.next_event().await {
            Ok(Some(ev)) => {
                if !sink(Ok(ev)).await {
                    return;
                }
            }
            Ok(None) => {
                if !alive() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Closed => {
                let _ = sink(Err(e)).await;
                return;
            }
            Err(e) => {
                let text = format!("{}: {e}; retrying", w.what());
                tracing::warn!("{text}");
                w.client()
                    .emit_event(Event::Error(Error::with_source(ErrorKind::JetStream, text)));
                if !sink(Err(e)).await {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A running watch of a KV bucket ([`KvWatch`](super::kv::KvWatch)) or
/// an object store ([`ObjectWatch`](super::object::ObjectWatch)): a
/// `Stream` of events (or errors, after which it goes on). It reads ahead
/// in a task of its own, up to a bounded number of events; dropping it
/// stops the watch and deletes its consumer.
///
/// # Examples
///
/// ```no_run
/// # async fn run(kv: nats_actix::jetstream::kv::Store) -> nats_actix::Result<()> {
/// use nats_actix::jetstream::kv::WatchEvent;
/// let mut watch = kv.watch("config.>").await?;
/// while let Some(event) = watch.next().await {
///     if let WatchEvent::Entry(e) = event? {
///         println!("{} = {:?}", e.key, e.value);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Watch<E> {
    rx: mpsc::Receiver<Result<E, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl<E> std::fmt::Debug for Watch<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl<E: 'static> Watch<E> {
    /// Starts reading `source` in a task, `ahead` events at most.
    pub(crate) fn spawn<S>(source: S, ahead: usize) -> Watch<E>
    where
        S: WatchSource<Event = E> + 'static,
    {
        let (tx, rx) = mpsc::channel(ahead);
        let task = actix::spawn(async move {
            let probe = tx.clone();
            run_watch(
                source,
                |item| {
                    let tx = tx.clone();
                    async move { tx.send(item).await.is_ok() }
                },
                move || !probe.is_closed(),
            )
            .await;
        });
        Watch { rx, task }
    }
}

impl<E> Watch<E> {
    /// The next event; `None` after the client closed.
    pub async fn next(&mut self) -> Option<Result<E, Error>> {
        self.rx.recv().await
    }
}

impl<E> Stream for Watch<E> {
    type Item = Result<E, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<E> Drop for Watch<E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
