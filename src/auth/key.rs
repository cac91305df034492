//! The key format and its hashing, without the database: a key reads
//! `lrk_<key_id>_<secret>` (6 random bytes of id, 32 of secret, in hex);
//! only the SHA-256 of the secret is stored (the secret is random, so a fast
//! hash is enough), and compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "lrk_";

/// A key's two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    /// Public: names the key in listings and the audit trail.
    pub key_id: String,
    /// Shown once, stored only as `secret_hash`.
    pub secret: String,
}

impl KeyParts {
    /// A new random key.
    pub fn generate() -> KeyParts {
        let mut id = [0u8; 6];
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut id);
        rand::rng().fill_bytes(&mut secret);
        KeyParts { key_id: hex(&id), secret: hex(&secret) }
    }

    /// The parts of a presented key; `None` when it is not of the key format.
    pub fn parse(presented: &str) -> Option<KeyParts> {
        let rest = presented.strip_prefix(PREFIX)?;
        let (key_id, secret) = rest.split_once('_')?;
        Some(KeyParts { key_id: key_id.into(), secret: secret.into() })
    }

    /// The key as the caller presents it.
    pub fn full_text(&self) -> String {
        format!("{PREFIX}{}_{}", self.key_id, self.secret)
    }

    /// What is stored of the secret.
    pub fn secret_hash(&self) -> Vec<u8> {
        Sha256::digest(self.secret.as_bytes()).to_vec()
    }

    /// Whether this key's secret is the one `stored_hash` was made from.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        constant_time_eq(stored_hash, &self.secret_hash())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal bytes, in a time that does not depend on where they differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_into_its_parts_and_matches_only_its_own_hash() {
        let key = KeyParts::generate();
        assert_eq!((key.key_id.len(), key.secret.len()), (12, 64));
        let text = key.full_text();
        assert!(text.starts_with("lrk_"), "{text}");
        let parsed = KeyParts::parse(&text).unwrap();
        assert_eq!(parsed, key);
        assert!(parsed.matches(&key.secret_hash()));
        assert!(!KeyParts::generate().matches(&key.secret_hash()));
    }

    #[test]
    fn text_that_is_not_of_the_key_format_does_not_parse() {
        for bad in ["", "lrk_", "lrk_abc", "key_abc_def", "LRK_abc_def"] {
            assert_eq!(KeyParts::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            KeyParts::parse("lrk_abc_d_e"),
            Some(KeyParts { key_id: "abc".into(), secret: "d_e".into() }),
            "the id ends at the first underscore"
        );
    }

    #[test]
    fn the_secret_hash_is_the_sha256_of_the_secret() {
        let key = KeyParts { key_id: "k".into(), secret: "abc".into() };
        assert_eq!(hex(&key.secret_hash()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn constant_time_equality_needs_the_same_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
