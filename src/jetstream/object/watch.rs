//! Watching a bucket's meta: the latest info of every object, a ready
//! marker, then every change, through an ordered consumer on `$O.<b>.M.>`.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use super::{ObjectInfo, ObjectStore};
use crate::jetstream::{OrderedConsumer, OrderedOptions, OrderedStart};
use crate::{Error, ErrorKind, Event};

/// How a watch reads. See [`ObjectStore::watch_with`].
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::object::WatchOptions;
/// let o = WatchOptions::new().ignore_deletes(true);
/// assert!(o.ignore_deletes && !o.include_history);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Every kept meta revision first, not only the latest.
    pub include_history: bool,
    /// No deleted objects.
    pub ignore_deletes: bool,
    /// Only changes made after the watch starts.
    pub updates_only: bool,
}

impl WatchOptions {
    /// The latest info of each object, then changes.
    pub fn new() -> WatchOptions {
        WatchOptions::default()
    }
    /// Sets include-history.
    pub fn include_history(mut self, on: bool) -> Self {
        self.include_history = on;
        self
    }
    /// Sets ignore-deletes.
    pub fn ignore_deletes(mut self, on: bool) -> Self {
        self.ignore_deletes = on;
        self
    }
    /// Sets updates-only.
    pub fn updates_only(mut self, on: bool) -> Self {
        self.updates_only = on;
        self
    }
}

/// What a watch yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// An object was put, updated or deleted (`deleted` set).
    Info(Box<ObjectInfo>),
    /// The initial data has all been delivered (once per watch).
    Ready,
}

#[derive(Debug)]
pub(super) struct Watcher {
    consumer: OrderedConsumer,
    opts: WatchOptions,
    ready_due: bool,
    ready_sent: bool,
}

impl Watcher {
    async fn next_event(&mut self) -> Result<Option<WatchEvent>, Error> {
        loop {
            if self.ready_due && !self.ready_sent {
                self.ready_sent = true;
                return Ok(Some(WatchEvent::Ready));
            }
            let Some(m) = self.consumer.next().await? else {
                return Ok(None);
            };
            if !self.ready_sent && m.info()?.pending == 0 {
                self.ready_due = true;
            }
            let info: ObjectInfo = match serde_json::from_slice(m.payload()) {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(subject = %m.subject(), "skipping bad object meta: {e}");
                    continue;
                }
            };
            if self.opts.ignore_deletes && info.deleted {
                continue;
            }
            return Ok(Some(WatchEvent::Info(Box::new(info))));
        }
    }

    /// Infos up to the end of the initial data.
    pub(super) async fn initial(&mut self) -> Result<Vec<ObjectInfo>, Error> {
        let mut out = Vec::new();
        loop {
            match self.next_event().await? {
                Some(WatchEvent::Info(i)) => out.push(*i),
                Some(WatchEvent::Ready) => return Ok(out),
                None => {}
            }
        }
    }
}

impl ObjectStore {
    pub(super) async fn watcher(&self, opts: WatchOptions) -> Result<Watcher, Error> {
        let start = if opts.updates_only {
            OrderedStart::New
        } else if opts.include_history {
            OrderedStart::All
        } else {
            OrderedStart::LastPerSubject
        };
        let ordered = OrderedOptions::new()
            .filter(format!("$O.{}.M.>", self.bucket))
            .start(start);
        let mut consumer = self.js.ordered_with(&self.stream, ordered);
        consumer
            .start()
            .await
            .map_err(|e| super::bucket_error(e, &self.bucket))?;
        let ready_due = opts.updates_only || consumer.pending() == 0;
        Ok(Watcher {
            consumer,
            opts,
            ready_due,
            ready_sent: false,
        })
    }

    /// Watches the bucket: the latest info of every object (deleted ones
    /// included), [`WatchEvent::Ready`], then every put, meta update and
    /// delete.
    ///
    /// # Errors
    ///
    /// `BucketNotFound`; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::object::WatchEvent;
    /// let mut watch = store.watch().await?;
    /// while let Some(event) = watch.next().await {
    ///     match event? {
    ///         WatchEvent::Info(i) => println!("{} {} deleted={}", i.name, i.size, i.deleted),
    ///         WatchEvent::Ready => println!("-- up to date --"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn watch(&self) -> Result<ObjectWatch, Error> {
        self.watch_with(WatchOptions::new()).await
    }

    /// [`ObjectStore::watch`] with options. The watch runs until the
    /// [`ObjectWatch`] is dropped and resumes by itself across a server
    /// restart; an error it cannot get past is yielded, reported as an
    /// [`Event::Error`] and retried every second.
    ///
    /// # Errors
    ///
    /// As [`ObjectStore::watch`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::object::WatchOptions;
    /// let mut changes = store.watch_with(WatchOptions::new().updates_only(true)).await?;
    /// if let Some(event) = changes.next().await {
    ///     println!("{:?}", event?);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn watch_with(&self, opts: WatchOptions) -> Result<ObjectWatch, Error> {
        let mut w = self.watcher(opts).await?;
        let (tx, rx) = mpsc::channel(64);
        let client = self.js.client().clone();
        let bucket = self.bucket.clone();
        let task = actix::spawn(async move {
            loop {
                match w.next_event().await {
                    Ok(Some(ev)) => {
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        if tx.is_closed() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Closed => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Err(e) => {
                        let text = format!("object watch on {bucket}: {e}; retrying");
                        tracing::warn!("{text}");
                        client.emit_event(Event::Error(Error::with_source(
                            ErrorKind::JetStream,
                            text,
                        )));
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(ObjectWatch { rx, task })
    }
}

/// A running watch: a `Stream` of [`WatchEvent`]s (or errors, after which
/// it goes on). Dropping it stops the watch and deletes its consumer.
#[derive(Debug)]
pub struct ObjectWatch {
    rx: mpsc::Receiver<Result<WatchEvent, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl ObjectWatch {
    /// The next event; `None` after the client closed.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, Error>> {
        self.rx.recv().await
    }
}

impl Stream for ObjectWatch {
    type Item = Result<WatchEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for ObjectWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
