//! The map of a keyed limiter's shard: keys stored with the hash computed once to pick the
//! shard, looked up by borrowed probes without cloning the key.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::gcra::Cell;

/// A shard's map. Keys are stored with the hash computed once to pick the shard, and the map
/// hashes them by passing that value through, so a lookup hashes the key only once.
pub(super) type Map<K> = HashMap<Hashed<K>, Cell, BuildHasherDefault<PassThrough>>;

pub(super) struct Hashed<K> {
    pub(super) hash: u64,
    pub(super) key: K,
}

/// What a lookup needs from a key: its precomputed hash and the key to compare. Stored keys
/// (`Hashed`) and borrowed probes (`Probe`) both provide it, so `get` takes a probe without
/// cloning the key.
pub(super) trait Lookup<K> {
    fn hash(&self) -> u64;
    fn key(&self) -> &K;
}

pub(super) struct Probe<'a, K> {
    pub(super) hash: u64,
    pub(super) key: &'a K,
}

impl<K> Lookup<K> for Hashed<K> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &K {
        &self.key
    }
}

impl<K> Lookup<K> for Probe<'_, K> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &K {
        self.key
    }
}

impl<'a, K: 'a> Borrow<dyn Lookup<K> + 'a> for Hashed<K> {
    fn borrow(&self) -> &(dyn Lookup<K> + 'a) {
        self
    }
}

// `Hashed` and its borrowed form hash and compare identically, as `Borrow` requires.
impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<K> Hash for dyn Lookup<K> + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(Lookup::hash(self));
    }
}

impl<K: Eq> PartialEq for Hashed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for Hashed<K> {}

impl<K: Eq> PartialEq for dyn Lookup<K> + '_ {
    fn eq(&self, other: &Self) -> bool {
        Lookup::hash(self) == Lookup::hash(other) && self.key() == other.key()
    }
}

impl<K: Eq> Eq for dyn Lookup<K> + '_ {}

/// Hands the precomputed hash (already from the limiter's keyed hasher) to the map unchanged.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called (see the `Hash` impls above); stay correct anyway.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
