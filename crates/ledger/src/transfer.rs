//! Transfers, the batches that apply them all-or-nothing, and their ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::account::{AccountId, AccountKind, RoundKey};
use crate::money::Nmr;
use crate::staking::Effect;

/// Longest id a caller may choose for a transfer or a batch.
pub const ID_LENGTH_MAX: usize = 160;

/// An id that is not usable as a transfer or batch id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a usable id: use 1 to 160 characters from letters, digits and - _ . : / @")]
pub struct BadId(pub String);

fn checked_id(text: &str) -> Result<String, BadId> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:/@".contains(c);
    if text.is_empty() || text.len() > ID_LENGTH_MAX || !text.chars().all(allowed) {
        return Err(BadId(text.to_owned()));
    }
    Ok(text.to_owned())
}

/// A caller-chosen, deterministic transfer id (`payout/8/712/42`, `deposit/0xab…`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransferId(String);

/// A caller-chosen, deterministic batch id: the unit of idempotency.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BatchId(String);

macro_rules! text_id {
    ($name:ident) => {
        impl $name {
            /// The id, if `text` is 1–160 characters of letters, digits and `- _ . : / @`.
            ///
            /// # Errors
            /// [`BadId`] naming the text otherwise.
            pub fn parse(text: &str) -> Result<$name, BadId> {
                checked_id(text).map($name)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;

            fn try_from(text: String) -> Result<$name, BadId> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(TransferId);
text_id!(BatchId);

/// Why money moves. Each code allows one set of (debit kind, credit kind) pairs, so a
/// transfer can only ever move NMR along the flows the token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferCode {
    /// Genesis → treasury or outside: the one-time creation of the supply.
    Mint,
    /// Outside → wallet, with the chain transaction's hash as reference.
    Deposit,
    /// Wallet → outside (held pending until the chain transaction is known).
    Withdrawal,
    /// Wallet → stake.
    StakeIncrease,
    /// Stake → pending release: a decrease or drain request.
    ReleaseRequest,
    /// Pending release → wallet, when the request's round resolves.
    Release,
    /// Treasury → stake: a positive round payout, compounded.
    Payout,
    /// Stake or pending release → burn: a negative round payout, destroyed.
    Burn,
    /// Outside → treasury: NMR bought back on the market.
    Buyback,
    /// Treasury → wallet or outside: any other emission of the treasury.
    Emission,
}

impl TransferCode {
    /// Whether money may flow from an account of kind `debit` to one of kind `credit`
    /// under this code.
    pub fn allows(self, debit: AccountKind, credit: AccountKind) -> bool {
        use AccountKind as K;
        match self {
            TransferCode::Mint => debit == K::Genesis && matches!(credit, K::Treasury | K::Outside),
            TransferCode::Deposit => debit == K::Outside && credit == K::Wallet,
            TransferCode::Withdrawal => debit == K::Wallet && credit == K::Outside,
            TransferCode::StakeIncrease => debit == K::Wallet && credit == K::Stake,
            TransferCode::ReleaseRequest => debit == K::Stake && credit == K::PendingRelease,
            TransferCode::Release => debit == K::PendingRelease && credit == K::Wallet,
            TransferCode::Payout => debit == K::Treasury && credit == K::Stake,
            TransferCode::Burn => {
                matches!(debit, K::Stake | K::PendingRelease) && credit == K::Burn
            }
            TransferCode::Buyback => debit == K::Outside && credit == K::Treasury,
            TransferCode::Emission => {
                debit == K::Treasury && matches!(credit, K::Wallet | K::Outside)
            }
        }
    }

    /// Whether a transfer with this code may be held pending first. Mints and burns are
    /// final by nature.
    pub fn may_be_held(self) -> bool {
        !matches!(self, TransferCode::Mint | TransferCode::Burn)
    }

    /// The code's name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferCode::Mint => "mint",
            TransferCode::Deposit => "deposit",
            TransferCode::Withdrawal => "withdrawal",
            TransferCode::StakeIncrease => "stake_increase",
            TransferCode::ReleaseRequest => "release_request",
            TransferCode::Release => "release",
            TransferCode::Payout => "payout",
            TransferCode::Burn => "burn",
            TransferCode::Buyback => "buyback",
            TransferCode::Emission => "emission",
        }
    }

    /// The code named `text`, if any.
    pub fn parse(text: &str) -> Option<TransferCode> {
        ALL_CODES.into_iter().find(|code| code.as_str() == text)
    }
}

const ALL_CODES: [TransferCode; 10] = [
    TransferCode::Mint,
    TransferCode::Deposit,
    TransferCode::Withdrawal,
    TransferCode::StakeIncrease,
    TransferCode::ReleaseRequest,
    TransferCode::Release,
    TransferCode::Payout,
    TransferCode::Burn,
    TransferCode::Buyback,
    TransferCode::Emission,
];

/// Whether a transfer moves money now, holds it, or settles an earlier hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Moves the amount now.
    Posted,
    /// Reserves the amount: the debit account cannot spend it, the credit account
    /// cannot use it yet.
    Pending,
    /// Completes the named pending transfer (same accounts, amount and code).
    Post(TransferId),
    /// Cancels the named pending transfer; the reserved amount is free again.
    Void(TransferId),
}

/// One immutable movement of NMR from one account to another.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// The caller's deterministic id, unique in the ledger.
    pub id: TransferId,
    /// The account the amount leaves.
    pub debit: AccountId,
    /// The account the amount enters.
    pub credit: AccountId,
    /// How much; never zero.
    pub amount: Nmr,
    /// Why.
    pub code: TransferCode,
    /// Now, held, or settling a hold.
    pub mode: Mode,
    /// The round the transfer belongs to, for payouts, burns and releases.
    pub round: Option<RoundKey>,
    /// A free reference: a chain transaction hash, a withdrawal address.
    pub reference: Option<String>,
}

impl Transfer {
    /// A posted transfer without round or reference.
    pub fn posted(
        id: TransferId,
        debit: AccountId,
        credit: AccountId,
        amount: Nmr,
        code: TransferCode,
    ) -> Transfer {
        Transfer {
            id,
            debit,
            credit,
            amount,
            code,
            mode: Mode::Posted,
            round: None,
            reference: None,
        }
    }

    /// The same transfer tagged with a round.
    pub fn in_round(mut self, round: RoundKey) -> Transfer {
        self.round = Some(round);
        self
    }

    /// The same transfer with a reference.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Transfer {
        self.reference = Some(reference.into());
        self
    }

    /// The same transfer in another mode.
    pub fn with_mode(mut self, mode: Mode) -> Transfer {
        self.mode = mode;
        self
    }
}

/// SHA-256 of a request's canonical JSON: what "the same content" means for a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `request`'s JSON encoding (struct fields in declaration order,
    /// maps sorted: deterministic).
    pub fn of<T: Serialize>(request: &T) -> Digest {
        let json = serde_json::to_vec(request).expect("ledger requests serialize to JSON");
        Digest(Sha256::digest(&json).into())
    }

    /// Lowercase hex.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// From lowercase or uppercase hex.
    pub fn from_hex(text: &str) -> Option<Digest> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
        }
        Some(Digest(bytes))
    }
}

/// Transfers and record changes that apply all-or-nothing, in one store transaction.
///
/// `digest` is the digest of the request the batch answers, not of the batch: a retry
/// of the same request — even one planned later, when the state it reads has moved
/// on — is recognized by `id` and `digest` and applies nothing a second time; the same
/// `id` with another digest is a conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The caller's deterministic id.
    pub id: BatchId,
    /// Digest of the request the batch answers.
    pub digest: Digest,
    /// When the batch is applied (the injected clock's time).
    pub at: jiff::Timestamp,
    /// Money movements, applied in order: a later transfer sees the earlier ones.
    pub transfers: Vec<Transfer>,
    /// Staking records written in the same transaction.
    pub effects: Vec<Effect>,
}

impl Batch {
    /// A batch of transfers only, whose request is the transfers themselves.
    pub fn of_transfers(id: BatchId, at: jiff::Timestamp, transfers: Vec<Transfer>) -> Batch {
        Batch {
            digest: Digest::of(&(&id, &transfers)),
            id,
            at,
            transfers,
            effects: Vec::new(),
        }
    }
}

/// What applying a batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The batch was applied now.
    Applied,
    /// A batch with this id and digest was applied before; nothing changed.
    AlreadyApplied,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_at_the_boundary() {
        assert!(TransferId::parse("payout/8/712/42").is_ok());
        assert!(TransferId::parse("deposit/0xABCdef").is_ok());
        for text in ["", "has space", "semi;colon", "é", &"x".repeat(161)] {
            assert!(TransferId::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn every_code_allows_only_its_flows() {
        use AccountKind as K;
        let kinds = [
            K::Genesis,
            K::Outside,
            K::Treasury,
            K::Burn,
            K::Wallet,
            K::Stake,
            K::PendingRelease,
        ];
        for code in ALL_CODES {
            assert_eq!(TransferCode::parse(code.as_str()), Some(code));
            for debit in kinds {
                // Nothing leaves the burn account and nothing enters genesis.
                assert!(!code.allows(K::Burn, debit));
                assert!(!code.allows(debit, K::Genesis));
            }
        }
        assert!(TransferCode::Burn.allows(K::PendingRelease, K::Burn));
        assert!(!TransferCode::Burn.allows(K::Wallet, K::Burn));
        assert!(!TransferCode::Mint.allows(K::Genesis, K::Wallet));
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = Digest::of(&("a", 1));
        assert_eq!(Digest::from_hex(&digest.to_hex()), Some(digest));
        assert_ne!(Digest::of(&("a", 2)), digest);
        assert_eq!(Digest::from_hex("zz"), None);
    }
}
