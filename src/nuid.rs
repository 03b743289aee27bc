//! Unique ids for inboxes and request tokens: 22 base-62 characters, a
//! random prefix that changes every 62^10 ids and a sequential suffix with
//! a random increment, in the spirit of the NATS `nuid`.

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX_LEN: usize = 12;
const SEQ_LEN: usize = 10;
const MAX_SEQ: u64 = 839_299_365_868_340_224; // 62^10

/// A generator of unique ids.
///
/// # Examples
///
/// ```
/// let mut nuid = nats_actix::nuid::Nuid::new();
/// let a = nuid.next();
/// let b = nuid.next();
/// assert_eq!(a.len(), 22);
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone)]
pub struct Nuid {
    prefix: [u8; PREFIX_LEN],
    seq: u64,
    inc: u64,
    rng: u64,
}

impl Default for Nuid {
    fn default() -> Self {
        Nuid::new()
    }
}

/// 64 bits from the thread's OS-seeded CSPRNG (`rand`'s thread RNG, a
/// ChaCha generator reseeded from the operating system): prefixes of
/// processes started together never collide, and cannot be predicted.
fn seed() -> u64 {
    rand::random::<u64>()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Nuid {
    /// A generator with a fresh random prefix.
    pub fn new() -> Nuid {
        let mut n = Nuid {
            prefix: [0; PREFIX_LEN],
            seq: 0,
            inc: 0,
            rng: seed(),
        };
        n.randomize();
        n
    }

    /// A generator whose ids all follow from `seed` (replayable runs; see
    /// [`ConnectOptions::rng_seed`](crate::ConnectOptions::rng_seed)).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::nuid::Nuid;
    /// assert_eq!(Nuid::with_seed(7).next(), Nuid::with_seed(7).next());
    /// ```
    pub fn with_seed(seed: u64) -> Nuid {
        let mut n = Nuid {
            prefix: [0; PREFIX_LEN],
            seq: 0,
            inc: 0,
            rng: seed,
        };
        n.randomize();
        n
    }

    fn rand(&mut self) -> u64 {
        self.rng = splitmix(self.rng);
        self.rng
    }

    fn randomize(&mut self) {
        for i in 0..PREFIX_LEN {
            let r = self.rand();
            self.prefix[i] = DIGITS[(r % 62) as usize];
        }
        self.seq = self.rand() % MAX_SEQ;
        self.inc = 33 + self.rand() % 300;
    }

    /// The next id.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> String {
        self.seq += self.inc;
        if self.seq >= MAX_SEQ {
            self.randomize();
        }
        let mut out = [0u8; PREFIX_LEN + SEQ_LEN];
        out[..PREFIX_LEN].copy_from_slice(&self.prefix);
        let mut s = self.seq;
        for i in (PREFIX_LEN..PREFIX_LEN + SEQ_LEN).rev() {
            out[i] = DIGITS[(s % 62) as usize];
            s /= 62;
        }
        out.iter().map(|b| *b as char).collect()
    }
}

/// A new unique id from a fresh generator.
///
/// # Examples
///
/// ```
/// assert_ne!(nats_actix::nuid::next(), nats_actix::nuid::next());
/// ```
pub fn next() -> String {
    Nuid::new().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_and_base62() {
        let mut n = Nuid::new();
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = n.next();
            assert_eq!(id.len(), 22);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(id));
        }
        assert_ne!(Nuid::new().next()[..12], Nuid::new().next()[..12]);
    }
}
