//! Watching a bucket's meta: the latest info of every object, a ready
//! marker, then every change, through an ordered consumer on `$O.<b>.M.>`.

use super::{ObjectInfo, ObjectStore};
use crate::Error;
use crate::jetstream::watching::WatchSource;
use crate::jetstream::{OrderedConsumer, OrderedOptions, OrderedStart};

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
    bucket: String,
    consumer: OrderedConsumer,
    opts: WatchOptions,
    ready_due: bool,
    ready_sent: bool,
}

impl WatchSource for Watcher {
    type Event = WatchEvent;

    fn what(&self) -> String {
        format!("object watch on {}", self.bucket)
    }

    fn client(&self) -> &crate::Client {
        self.consumer.client()
    }

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
}

impl Watcher {
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
            bucket: self.bucket.clone(),
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
    /// [`Event::Error`](crate::Event::Error) and retried every second.
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
        let w = self.watcher(opts).await?;
        Ok(ObjectWatch::spawn(w, 64))
    }
}

/// A running watch of a bucket: a `Stream` of [`WatchEvent`]s (or errors,
/// after which it goes on). Dropping it stops the watch and deletes its
/// consumer. See [`Watch`](crate::jetstream::Watch).
pub type ObjectWatch = crate::jetstream::Watch<WatchEvent>;
