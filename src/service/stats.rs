//! Per-endpoint statistics (ADR-32 `EndpointStats`), counted with atomics:
//! the delivery counts a request as it arrives (on the connection's
//! thread), the handler counts its answer (on its actor's thread).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The live counters of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct EndpointCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    processing_ns: AtomicU64,
    last_error: Mutex<String>,
}

impl EndpointCounters {
    /// A request arrived.
    pub(crate) fn received(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// A request was answered (or dropped) after `elapsed`.
    pub(crate) fn processed(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.processing_ns.fetch_add(ns, Relaxed);
    }

    /// A request was answered with a service error.
    pub(crate) fn error(&self, code: u16, description: &str) {
        self.errors.fetch_add(1, Relaxed);
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        last.clear();
        use std::fmt::Write as _;
        let _ = write!(last, "{code}:{description}");
    }

    /// Back to zero.
    pub(crate) fn reset(&self) {
        self.requests.store(0, Relaxed);
        self.errors.store(0, Relaxed);
        self.processing_ns.store(0, Relaxed);
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> Counts {
        let num_requests = self.requests.load(Relaxed);
        let processing_time = self.processing_ns.load(Relaxed);
        Counts {
            num_requests,
            num_errors: self.errors.load(Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            processing_time,
            average_processing_time: processing_time.checked_div(num_requests).unwrap_or(0),
        }
    }
}

/// A snapshot of an endpoint's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) num_requests: u64,
    pub(crate) num_errors: u64,
    pub(crate) last_error: String,
    pub(crate) processing_time: u64,
    pub(crate) average_processing_time: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_average() {
        let c = EndpointCounters::default();
        assert_eq!(c.snapshot().average_processing_time, 0);
        for ns in [100, 200, 301] {
            c.received();
            c.processed(Duration::from_nanos(ns));
        }
        c.error(500, "boom");
        let s = c.snapshot();
        assert_eq!(s.num_requests, 3);
        assert_eq!(s.num_errors, 1);
        assert_eq!(s.last_error, "500:boom");
        assert_eq!(s.processing_time, 601);
        assert_eq!(s.average_processing_time, 200);
        c.reset();
        assert_eq!(c.snapshot(), Counts::default());
    }
}
