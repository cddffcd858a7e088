//! Signed, expiring file URLs: `/files/{object}?expires={unix seconds}&signature={hex}`, where
//! the signature is HMAC-SHA-256 over the method, the object's path and the expiry. Anyone
//! holding the URL may GET (or PUT) that one object until it expires; changing any part of it
//! breaks the signature.
//!
//! Expiry is measured on the real clock passed in, never the tournament's (an accelerated demo
//! clock would expire every link at once).

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Download (GET, with Range).
    Read,
    /// Upload (PUT raw bytes).
    Write,
}

impl Access {
    fn tag(self) -> &'static str {
        match self {
            Access::Read => "GET",
            Access::Write => "PUT",
        }
    }
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// The link's time is up.
    #[error("this link expired at {0}; ask the API for a new one")]
    Expired(Timestamp),
    /// The signature does not match (tampered, truncated, or for another object or method).
    #[error("this link's signature does not match; use the URL exactly as the API returned it")]
    BadSignature,
}

/// Signs and checks file URLs with one secret key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
    lifetime_seconds: i64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Signer")
            .field("lifetime_seconds", &self.lifetime_seconds)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with secret `key` whose links live `lifetime_seconds`.
    pub fn new(key: [u8; 32], lifetime_seconds: u64) -> Self {
        Self {
            key,
            lifetime_seconds: i64::try_from(lifetime_seconds).unwrap_or(i64::MAX / 2),
        }
    }

    /// The keyed hash of a link: method, object and expiry.
    fn mac(&self, access: Access, object: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length works");
        mac.update(access.tag().as_bytes());
        mac.update(b"\n");
        mac.update(object.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The query string (`expires=…&signature=…`) granting `access` to `object` from `now`.
    pub fn query(&self, access: Access, object: &str, now: Timestamp) -> String {
        let expires = now.as_second().saturating_add(self.lifetime_seconds);
        let signature = hex::encode(self.mac(access, object, expires).finalize().into_bytes());
        format!("expires={expires}&signature={signature}")
    }

    /// Checks a link's `expires` and `signature` for `access` to `object` at `now`.
    ///
    /// # Errors
    /// [`UrlRefusal`].
    pub fn check(
        &self,
        access: Access,
        object: &str,
        expires: i64,
        signature: &str,
        now: Timestamp,
    ) -> Result<(), UrlRefusal> {
        let given = hex::decode(signature).map_err(|_| UrlRefusal::BadSignature)?;
        // Constant-time comparison.
        self.mac(access, object, expires)
            .verify_slice(&given)
            .map_err(|_| UrlRefusal::BadSignature)?;
        if now.as_second() >= expires {
            return Err(UrlRefusal::Expired(
                Timestamp::from_second(expires).unwrap_or(Timestamp::MIN),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (i64, String) {
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap();
            match name {
                "expires" => expires = value.parse().unwrap(),
                _ => signature = value.to_owned(),
            }
        }
        (expires, signature)
    }

    #[test]
    fn a_link_works_for_its_object_and_method_until_it_expires() {
        let signer = Signer::new([7; 32], 600);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let (expires, signature) = parts(&signer.query(Access::Read, "data/v1/train.parquet", now));
        let check = |access, object: &str, expires, signature: &str, at| {
            signer.check(access, object, expires, signature, at)
        };
        assert_eq!(
            check(
                Access::Read,
                "data/v1/train.parquet",
                expires,
                &signature,
                now
            ),
            Ok(())
        );
        let later = now + jiff::SignedDuration::from_secs(600);
        assert!(matches!(
            check(
                Access::Read,
                "data/v1/train.parquet",
                expires,
                &signature,
                later
            ),
            Err(UrlRefusal::Expired(_))
        ));
        for (access, object, expires) in [
            (Access::Write, "data/v1/train.parquet", expires),
            (Access::Read, "data/v1/live.parquet", expires),
            (Access::Read, "data/v1/train.parquet", expires + 3600),
        ] {
            assert_eq!(
                check(access, object, expires, &signature, now),
                Err(UrlRefusal::BadSignature)
            );
        }
        let mut tampered = signature.clone().into_bytes();
        tampered[5] = if tampered[5] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            check(
                Access::Read,
                "data/v1/train.parquet",
                expires,
                &tampered,
                now
            ),
            Err(UrlRefusal::BadSignature)
        );
        let other = Signer::new([8; 32], 600);
        assert_eq!(
            other.check(
                Access::Read,
                "data/v1/train.parquet",
                expires,
                &signature,
                now
            ),
            Err(UrlRefusal::BadSignature)
        );
    }
}
