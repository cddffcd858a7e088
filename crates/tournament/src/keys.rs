//! API keys: a public id and a secret, shown once; only a hash of the secret is kept.
//!
//! numerapi sends `Authorization: Token PUBLIC_ID$SECRET_KEY`. A key is made from 32 + 32
//! random bytes the caller supplies (the domain never draws randomness itself); the public id
//! and the secret are 32 upper-case letters and digits each, like Numerai's. The secret is
//! high-entropy, so a SHA-256 of it is enough to store (no slow password hash is needed), and
//! a presented secret is compared with the stored hash in constant time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do (Numerai's scope names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read the account's profile, models and wallet.
    ReadUserInfo,
    /// Read the account's submissions and scores.
    ReadSubmissionInfo,
    /// Upload submissions.
    UploadSubmission,
    /// Change stakes.
    Stake,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [
        Scope::ReadUserInfo,
        Scope::ReadSubmissionInfo,
        Scope::UploadSubmission,
        Scope::Stake,
    ];

    /// The scope's name, as numerapi's docs and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::ReadUserInfo => "read_user_info",
            Scope::ReadSubmissionInfo => "read_submission_info",
            Scope::UploadSubmission => "upload_submission",
            Scope::Stake => "stake",
        }
    }
}

/// A newly made key: the only time the secret exists in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The public id.
    pub public_id: String,
    /// The secret, to show the user once.
    pub secret: String,
    /// What to store.
    pub stored: StoredKey,
}

/// What the store keeps of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The public id.
    pub public_id: String,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
}

/// 32 characters from 32 random bytes: A–Z and 2–7 (unambiguous, like base32).
fn characters(random: &[u8; 32]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(byte % 32)]))
        .collect()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl NewKey {
    /// A key with `scopes` from 64 caller-supplied random bytes.
    pub fn new(
        public_random: &[u8; 32],
        secret_random: &[u8; 32],
        scopes: BTreeSet<Scope>,
    ) -> Self {
        let public_id = characters(public_random);
        let secret = characters(secret_random);
        let stored = StoredKey {
            public_id: public_id.clone(),
            secret_sha256: sha256_hex(&secret),
            scopes,
        };
        Self {
            public_id,
            secret,
            stored,
        }
    }

    /// The `Authorization` header value numerapi sends for this key.
    pub fn header(&self) -> String {
        format!("Token {}${}", self.public_id, self.secret)
    }
}

/// Why a request's credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header is not `Token PUBLIC$SECRET`.
    #[error("the Authorization header must be `Token PUBLIC_ID$SECRET_KEY`")]
    Malformed,
    /// The secret does not match.
    #[error("the API key is not valid; create one with `numerus account create`")]
    Invalid,
    /// The key lacks the scope.
    #[error("this API key lacks the `{}` scope", .0.name())]
    Scope(Scope),
}

/// The public id and secret of an `Authorization` header value.
pub fn parse_header(value: &str) -> Result<(&str, &str), AuthError> {
    let credentials = value.strip_prefix("Token ").ok_or(AuthError::Malformed)?;
    let (public_id, secret) = credentials.split_once('$').ok_or(AuthError::Malformed)?;
    if public_id.is_empty() || secret.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok((public_id, secret))
}

impl StoredKey {
    /// Checks a presented secret (in constant time over the hash) and the scope it needs.
    pub fn authorize(&self, secret: &str, needed: Scope) -> Result<(), AuthError> {
        let presented = sha256_hex(secret);
        let differences = presented
            .bytes()
            .zip(self.secret_sha256.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differences != 0 || presented.len() != self.secret_sha256.len() {
            return Err(AuthError::Invalid);
        }
        if !self.scopes.contains(&needed) {
            return Err(AuthError::Scope(needed));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[Scope]) -> NewKey {
        NewKey::new(&[3; 32], &[200; 32], scopes.iter().copied().collect())
    }

    #[test]
    fn a_key_round_trips_through_numerapis_header() {
        let key = key(&Scope::ALL);
        assert_eq!(key.public_id.len(), 32);
        assert_eq!(key.secret.len(), 32);
        let header = key.header();
        let (public_id, secret) = parse_header(&header).unwrap();
        assert_eq!(public_id, key.public_id);
        assert_eq!(key.stored.authorize(secret, Scope::Stake), Ok(()));
    }

    #[test]
    fn only_the_hash_is_stored_and_a_wrong_secret_is_refused() {
        let key = key(&Scope::ALL);
        assert!(!key.stored.secret_sha256.contains(&key.secret));
        let mut wrong = key.secret.clone();
        wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            key.stored.authorize(&wrong, Scope::ReadUserInfo),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn scopes_are_enforced() {
        let key = key(&[Scope::ReadUserInfo, Scope::UploadSubmission]);
        assert_eq!(
            key.stored.authorize(&key.secret, Scope::UploadSubmission),
            Ok(())
        );
        let refused = key.stored.authorize(&key.secret, Scope::Stake).unwrap_err();
        assert_eq!(refused, AuthError::Scope(Scope::Stake));
        assert!(refused.to_string().contains("`stake` scope"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["Bearer A$B", "Token AB", "Token $B", "Token A$", ""] {
            assert_eq!(parse_header(header), Err(AuthError::Malformed), "{header}");
        }
    }

    #[test]
    fn different_randomness_gives_different_keys() {
        let a = NewKey::new(&[1; 32], &[2; 32], BTreeSet::new());
        let b = NewKey::new(&[1; 32], &[3; 32], BTreeSet::new());
        assert_eq!(a.public_id, b.public_id);
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.stored.secret_sha256, b.stored.secret_sha256);
    }
}
