//! Per-era row ids: a keyed hash of (secret, era, ticker), shaped like Numerai's ids.
//!
//! `id = "n" + the first 15 hex digits of HMAC-SHA-256(secret, era_key ‖ 0x00 ‖ ticker)`.
//! Without the secret nobody can link an id to a ticker or two eras' ids of one stock; with it
//! the operator recomputes any id (to score a live era, to rebuild a file). Sixty bits make a
//! collision among the ~3 million ids of a large dataset a one-in-a-few-hundred-thousand event;
//! a build still checks each era's ids are distinct.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The secret key ids are derived from.
#[derive(Clone)]
pub struct IdKey([u8; 32]);

impl IdKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The id of `ticker` in the era keyed `era_key` (`"0001"` for a weekly era,
    /// `"live-2026-11-24"` for a live era).
    pub fn id(&self, era_key: &str, ticker: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(era_key.as_bytes());
        mac.update(&[0]);
        mac.update(ticker.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut id = String::with_capacity(16);
        id.push('n');
        for byte in &digest[..8] {
            id.push_str(&format!("{byte:02x}"));
        }
        id.truncate(16);
        id
    }
}

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_numerai_ids_and_change_with_era_ticker_and_key() {
        let key = IdKey::new([7; 32]);
        let id = key.id("0001", "AAPL US");
        assert_eq!(id.len(), 16);
        assert!(id.starts_with('n') && id[1..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, key.id("0001", "AAPL US"));
        assert_ne!(id, key.id("0002", "AAPL US"));
        assert_ne!(id, key.id("0001", "MSFT US"));
        assert_ne!(id, IdKey::new([8; 32]).id("0001", "AAPL US"));
    }
}
