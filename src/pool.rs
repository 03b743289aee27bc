//! The server pool and the reconnect backoff: plain structs with
//! per-server state, no IO, no clock of their own (the time is an
//! argument) and no hidden randomness (the generator is an argument), so
//! they are tested without a runtime and replay the same for the same seed.
//!
//! The selection rule is nats.go's: the server just tried (or lost) moves
//! to the back of the pool, or leaves it once it has used its
//! `max_reconnect_attempts`; the client sleeps `reconnect_time_wait` plus
//! jitter (or what `reconnect_delay_handler` says) only after it has tried
//! every server of the pool once, so a cluster fails over at once and a
//! lone server is retried at the configured pace.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use crate::options::ServerAddr;

/// Most servers learned from the cluster that the pool keeps: a hostile
/// server cannot make the pool grow without bound.
pub(crate) const MAX_IMPLICIT: usize = 256;

/// One server of the pool and what the client knows of it.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) addr: ServerAddr,
    /// Learned from INFO `connect_urls`, not given by the user.
    pub(crate) implicit: bool,
    /// The client has connected to it at least once.
    pub(crate) did_connect: bool,
    /// Connect attempts since the last successful connect to it.
    pub(crate) attempts: usize,
    /// The last authentication error it gave, for the abort rule.
    pub(crate) last_auth_error: Option<String>,
    /// The host name to verify its certificate against: the host of the
    /// URL the user gave, kept for servers learned as bare IPs.
    pub(crate) tls_name: String,
    /// The last connection to it was TLS (the server may require TLS
    /// without the options asking for it): the TLS reconnect jitter
    /// applies.
    pub(crate) tls_seen: bool,
}

impl Server {
    fn new(addr: ServerAddr, implicit: bool, tls_name: String) -> Server {
        Server {
            addr,
            implicit,
            did_connect: false,
            attempts: 0,
            last_auth_error: None,
            tls_name,
            tls_seen: false,
        }
    }

    fn same(&self, other: &ServerAddr) -> bool {
        same_server(&self.addr, other)
    }
}

fn same_server(a: &ServerAddr, b: &ServerAddr) -> bool {
    a.host().eq_ignore_ascii_case(b.host()) && a.port() == b.port()
}

/// What a cluster update changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PoolChange {
    pub(crate) added: Vec<String>,
    pub(crate) deleted: Vec<String>,
}

impl PoolChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deleted.is_empty()
    }
}

/// The server pool. `servers[0]` is the current server (the one connected
/// to, or the one being tried).
#[derive(Debug, Clone)]
pub(crate) struct ServerPool {
    servers: Vec<Server>,
    randomize: bool,
    /// Attempts per server; `None` is unlimited.
    max_attempts: Option<usize>,
}

impl ServerPool {
    /// A pool of the given servers, shuffled unless `randomize` is false
    /// (as nats.go does, so that many clients spread over a cluster).
    pub(crate) fn new(
        given: Vec<ServerAddr>,
        randomize: bool,
        max_attempts: Option<usize>,
        rng: &mut impl Rng,
    ) -> ServerPool {
        let mut servers: Vec<Server> = Vec::with_capacity(given.len());
        for addr in given {
            if !servers.iter().any(|s| s.same(&addr)) {
                let name = addr.host().to_string();
                servers.push(Server::new(addr, false, name));
            }
        }
        if randomize {
            servers.shuffle(rng);
        }
        ServerPool {
            servers,
            randomize,
            max_attempts,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The current server.
    pub(crate) fn current(&self) -> Option<&Server> {
        self.servers.first()
    }

    /// The servers, current first.
    #[cfg(test)]
    pub(crate) fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The pool's URLs (without credentials), current first.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.addr.to_string()).collect()
    }

    /// Selects the next server to try: the current one moves to the back
    /// (or leaves the pool when it has used its attempts), and the new
    /// front is returned. `None` when the pool is empty: every server has
    /// used its attempts.
    pub(crate) fn next_server(&mut self) -> Option<&Server> {
        if self.servers.is_empty() {
            return None;
        }
        let cur = self.servers.remove(0);
        if self.max_attempts.is_none_or(|max| cur.attempts < max) {
            self.servers.push(cur);
        }
        // A server out of attempts at the front (after a pool update, say)
        // leaves too.
        while let Some(front) = self.servers.first() {
            if self.max_attempts.is_some_and(|max| front.attempts >= max) {
                self.servers.remove(0);
            } else {
                break;
            }
        }
        self.servers.first()
    }

    /// Counts an attempt on the current server.
    pub(crate) fn attempting(&mut self) {
        if let Some(s) = self.servers.first_mut() {
            s.attempts += 1;
        }
    }

    /// The current server accepted the connection: its attempts start
    /// again from zero (as in nats.go).
    pub(crate) fn connected(&mut self) {
        if let Some(s) = self.servers.first_mut() {
            s.did_connect = true;
            s.attempts = 0;
            s.last_auth_error = None;
        }
    }

    /// Records whether the connection to the current server is TLS.
    pub(crate) fn set_tls(&mut self, tls: bool) {
        if let Some(s) = self.servers.first_mut() {
            s.tls_seen = tls;
        }
    }

    /// The current server refused the credentials with `error`. Returns
    /// true when it gave the same error the time before too: the abort
    /// rule (nats.go's) then closes the client instead of trying forever.
    pub(crate) fn auth_failed(&mut self, error: &str) -> bool {
        let Some(s) = self.servers.first_mut() else {
            return false;
        };
        let twice = s.last_auth_error.as_deref() == Some(error);
        s.last_auth_error = Some(error.to_string());
        twice
    }

    /// The current server failed for another reason than credentials.
    pub(crate) fn failed(&mut self) {
        if let Some(s) = self.servers.first_mut() {
            s.last_auth_error = None;
        }
    }

    /// Applies a cluster update (INFO `connect_urls`, the first INFO
    /// included): adds the servers not in the pool yet (shuffled among
    /// themselves unless `no_randomize`), removes implicit servers the
    /// cluster no longer lists (never the current one, nor a server the
    /// user gave), and deduplicates. Bounded by [`MAX_IMPLICIT`].
    pub(crate) fn update(&mut self, urls: &[String], rng: &mut impl Rng) -> PoolChange {
        let mut listed: Vec<ServerAddr> = Vec::new();
        for url in urls {
            if let Ok(addr) = ServerAddr::parse(url)
                && !listed.iter().any(|a| same_server(a, &addr))
            {
                listed.push(addr);
            }
            if listed.len() >= MAX_IMPLICIT {
                break;
            }
        }
        let mut change = PoolChange::default();
        let current = self.servers.first().map(|s| s.addr.clone());
        self.servers.retain(|s| {
            let keep = !s.implicit
                || current.as_ref().is_some_and(|c| s.same(c))
                || listed.iter().any(|a| s.same(a));
            if !keep {
                change.deleted.push(s.addr.to_string());
            }
            keep
        });
        // The TLS name of learned servers is the host the user gave.
        let tls_name = self
            .servers
            .iter()
            .find(|s| !s.implicit)
            .map(|s| s.tls_name.clone())
            .unwrap_or_default();
        let mut added: Vec<Server> = Vec::new();
        let implicit = self.servers.iter().filter(|s| s.implicit).count();
        for addr in listed {
            if self.servers.iter().any(|s| s.same(&addr)) {
                continue;
            }
            if implicit + added.len() >= MAX_IMPLICIT {
                break;
            }
            // An IP learned from the cluster is verified against the
            // original host name; a learned name against itself.
            let name = if addr.is_ip() {
                tls_name.clone()
            } else {
                addr.host().to_string()
            };
            added.push(Server::new(addr, true, name));
        }
        if self.randomize {
            added.shuffle(rng);
        }
        change.added = added.iter().map(|s| s.addr.to_string()).collect();
        self.servers.extend(added);
        change
    }
}

/// How long to wait before a reconnect attempt.
#[derive(Clone)]
pub(crate) struct Backoff {
    pub(crate) wait: Duration,
    pub(crate) jitter: Duration,
    pub(crate) jitter_tls: Duration,
    pub(crate) handler: Option<crate::options::ReconnectDelayHandler>,
}

impl std::fmt::Debug for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backoff")
            .field("wait", &self.wait)
            .field("jitter", &self.jitter)
            .field("jitter_tls", &self.jitter_tls)
            .field("handler", &self.handler.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl Backoff {
    /// The delay before the `round`-th wait (from 1): the handler's answer
    /// when there is one, else the time wait plus a random jitter below
    /// the (TLS or plain) jitter bound.
    pub(crate) fn delay(&self, round: usize, tls: bool, rng: &mut impl Rng) -> Duration {
        if let Some(h) = &self.handler {
            return h(round);
        }
        let bound = if tls { self.jitter_tls } else { self.jitter };
        let jitter = if bound.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.random_range(0..bound.as_nanos().min(u64::MAX as u128) as u64))
        };
        self.wait.saturating_add(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn addrs(list: &[&str]) -> Vec<ServerAddr> {
        list.iter().map(|s| ServerAddr::parse(s).unwrap()).collect()
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn no_randomize_keeps_order_and_dedups() {
        let pool = ServerPool::new(
            addrs(&["a:1", "b:2", "A:1", "c:3"]),
            false,
            Some(10),
            &mut rng(),
        );
        assert_eq!(
            pool.urls(),
            ["nats://a:1", "nats://b:2", "nats://c:3"].map(String::from)
        );
    }

    #[test]
    fn randomize_spreads_and_is_seeded() {
        let list = addrs(&["a:1", "b:2", "c:3", "d:4"]);
        let mut firsts = std::collections::HashSet::new();
        for seed in 0..64 {
            let p1 = ServerPool::new(list.clone(), true, None, &mut StdRng::seed_from_u64(seed));
            let p2 = ServerPool::new(list.clone(), true, None, &mut StdRng::seed_from_u64(seed));
            assert_eq!(p1.urls(), p2.urls(), "same seed, same order");
            firsts.insert(p1.urls()[0].clone());
        }
        assert_eq!(firsts.len(), 4, "every server comes first for some seed");
    }

    #[test]
    fn rotation_and_per_server_attempts() {
        let mut pool = ServerPool::new(addrs(&["a:1", "b:2"]), false, Some(2), &mut rng());
        // Lost a: b is tried next, then a, then b...
        let mut tried = Vec::new();
        while let Some(s) = pool.next_server() {
            tried.push(s.addr.host().to_string());
            pool.attempting();
            pool.failed();
            assert!(tried.len() < 10, "the pool must run dry");
        }
        assert_eq!(tried, ["b", "a", "b", "a"]);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_successful_connect_resets_attempts() {
        let mut pool = ServerPool::new(addrs(&["a:1"]), false, Some(1), &mut rng());
        pool.next_server();
        pool.attempting();
        pool.connected();
        assert_eq!(pool.current().unwrap().attempts, 0);
        assert!(pool.current().unwrap().did_connect);
        assert!(pool.next_server().is_some(), "a has attempts again");
        pool.attempting();
        assert!(pool.next_server().is_none(), "one attempt, used");
    }

    #[test]
    fn unlimited_attempts_never_run_dry() {
        let mut pool = ServerPool::new(addrs(&["a:1"]), false, None, &mut rng());
        for _ in 0..1000 {
            assert!(pool.next_server().is_some());
            pool.attempting();
        }
    }

    #[test]
    fn zero_attempts_means_no_reconnect() {
        let mut pool = ServerPool::new(addrs(&["a:1", "b:2"]), false, Some(0), &mut rng());
        assert!(pool.next_server().is_none());
    }

    #[test]
    fn auth_abort_rule_needs_the_same_error_twice() {
        let mut pool = ServerPool::new(addrs(&["a:1"]), false, None, &mut rng());
        assert!(!pool.auth_failed("Authorization Violation"));
        assert!(pool.auth_failed("Authorization Violation"));
        pool.failed();
        assert!(!pool.auth_failed("Authorization Violation"));
        assert!(!pool.auth_failed("User Authentication Expired"));
    }

    #[test]
    fn cluster_updates_add_remove_and_keep_given() {
        let mut pool = ServerPool::new(addrs(&["seed:4222"]), false, None, &mut rng());
        let ch = pool.update(
            &[
                "10.0.0.1:4222".into(),
                "10.0.0.2:4222".into(),
                "10.0.0.1:4222".into(),
            ],
            &mut rng(),
        );
        assert_eq!(ch.added, ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]);
        assert!(ch.deleted.is_empty());
        assert_eq!(pool.len(), 3);
        // Learned IPs keep the user's host name for TLS.
        assert!(
            pool.servers()[1..]
                .iter()
                .all(|s| s.implicit && s.tls_name == "seed")
        );
        // The same update again changes nothing.
        let same = pool.update(
            &["10.0.0.2:4222".into(), "10.0.0.1:4222".into()],
            &mut rng(),
        );
        assert!(same.is_empty());
        // 10.0.0.1 leaves the cluster; the seed the user gave stays.
        let ch = pool.update(&["10.0.0.2:4222".into()], &mut rng());
        assert_eq!(ch.deleted, ["nats://10.0.0.1:4222"]);
        assert!(ch.added.is_empty());
        assert_eq!(pool.urls(), ["nats://seed:4222", "nats://10.0.0.2:4222"]);
        // An empty list removes every implicit server but the current one.
        pool.next_server(); // current is now 10.0.0.2
        let ch = pool.update(&[], &mut rng());
        assert!(ch.deleted.is_empty(), "{ch:?}");
    }

    #[test]
    fn hostile_updates_are_bounded() {
        let mut pool = ServerPool::new(addrs(&["seed:4222"]), false, None, &mut rng());
        let urls: Vec<String> = (0..10_000)
            .map(|i| format!("10.1.{}.{}:4222", i / 256, i % 256))
            .collect();
        pool.update(&urls, &mut rng());
        assert!(pool.len() <= MAX_IMPLICIT + 1);
        let urls: Vec<String> = (0..10_000)
            .map(|i| format!("10.2.{}.{}:4222", i / 256, i % 256))
            .collect();
        pool.update(&urls, &mut rng());
        assert!(pool.len() <= MAX_IMPLICIT + 1);
    }

    #[test]
    fn backoff_wait_plus_jitter_or_handler() {
        let b = Backoff {
            wait: Duration::from_millis(100),
            jitter: Duration::from_millis(10),
            jitter_tls: Duration::from_millis(1000),
            handler: None,
        };
        let mut r = rng();
        for _ in 0..100 {
            let d = b.delay(1, false, &mut r);
            assert!(d >= Duration::from_millis(100) && d < Duration::from_millis(110));
            let d = b.delay(1, true, &mut r);
            assert!(d >= Duration::from_millis(100) && d < Duration::from_millis(1100));
        }
        let h = Backoff {
            handler: Some(std::sync::Arc::new(|n| Duration::from_millis(n as u64))),
            ..b
        };
        assert_eq!(h.delay(7, true, &mut r), Duration::from_millis(7));
    }
}
