//! A stable hash for cache keys and route names.
//!
//! `std`'s `RandomState` changes from process to process; cache keys, route
//! lookups and anything written to a diagnostics report must hash the same way
//! on every run and every machine. This is 64-bit FNV-1a: tiny, no state, no
//! allocation, good enough spread for short keys such as
//! `ha.state/light.kitchen`. It is not meant to resist a chosen-key attacker;
//! callers always compare the full key after a hash match.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`. Identical on every platform and run.
pub const fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash = OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_fnv1a_vectors() {
        // Reference values from the FNV specification's test suite.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn is_usable_in_const_context() {
        const ROUTE: u64 = stable_hash(b"Alexa.PowerController");
        assert_eq!(ROUTE, stable_hash(b"Alexa.PowerController"));
        assert_ne!(ROUTE, stable_hash(b"Alexa.PowerControllex"));
    }
}
