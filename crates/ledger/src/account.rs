//! Accounts, their kinds and balances, and the ids of the things that own them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::serde_as_text;

use crate::money::Nmr;

/// A participant account (the owner of a wallet and of models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub u64);

/// A model: one stream of predictions with its own stake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModelId(pub u64);

/// A tournament by its number (Numerai: Classic 8, Signals 11, Crypto 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TournamentId(pub u32);

/// One round of one tournament.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoundKey {
    /// The tournament.
    pub tournament: TournamentId,
    /// The round number within it.
    pub number: u32,
}

impl fmt::Display for RoundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tournament.0, self.number)
    }
}

/// Every account of the ledger. Each has one [`AccountKind`] and a stable text key
/// (`wallet:7`, `stake:42`, `treasury`, ...), which is how stores and the CLI name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountId {
    /// Where the whole supply comes from, once.
    Genesis,
    /// NMR held outside the platform: the market, exchanges, other wallets.
    Outside,
    /// The platform's reserve that pays positive payouts.
    Treasury,
    /// Destroyed NMR. Credited by burns, never debited.
    Burn,
    /// A participant's wallet on the platform.
    Wallet(UserId),
    /// The NMR staked on a model: what rounds put at risk.
    Stake(ModelId),
    /// NMR a model asked to release: still burnable, earning nothing, paid to the
    /// wallet when the model's last round active at request time resolves.
    PendingRelease(ModelId),
}

/// What an account is for; it decides the account's overdraft rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// [`AccountId::Genesis`].
    Genesis,
    /// [`AccountId::Outside`].
    Outside,
    /// [`AccountId::Treasury`].
    Treasury,
    /// [`AccountId::Burn`].
    Burn,
    /// [`AccountId::Wallet`].
    Wallet,
    /// [`AccountId::Stake`].
    Stake,
    /// [`AccountId::PendingRelease`].
    PendingRelease,
}

impl AccountId {
    /// The account's kind.
    pub fn kind(self) -> AccountKind {
        match self {
            AccountId::Genesis => AccountKind::Genesis,
            AccountId::Outside => AccountKind::Outside,
            AccountId::Treasury => AccountKind::Treasury,
            AccountId::Burn => AccountKind::Burn,
            AccountId::Wallet(_) => AccountKind::Wallet,
            AccountId::Stake(_) => AccountKind::Stake,
            AccountId::PendingRelease(_) => AccountKind::PendingRelease,
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountId::Genesis => f.write_str("genesis"),
            AccountId::Outside => f.write_str("outside"),
            AccountId::Treasury => f.write_str("treasury"),
            AccountId::Burn => f.write_str("burn"),
            AccountId::Wallet(user) => write!(f, "wallet:{}", user.0),
            AccountId::Stake(model) => write!(f, "stake:{}", model.0),
            AccountId::PendingRelease(model) => write!(f, "pending:{}", model.0),
        }
    }
}

/// A text that names no account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an account: use genesis, outside, treasury, burn, wallet:USER, stake:MODEL or pending:MODEL"
)]
pub struct UnknownAccount(pub String);

impl FromStr for AccountId {
    type Err = UnknownAccount;

    fn from_str(text: &str) -> Result<AccountId, UnknownAccount> {
        let unknown = || UnknownAccount(text.to_owned());
        let fixed = match text {
            "genesis" => Some(AccountId::Genesis),
            "outside" => Some(AccountId::Outside),
            "treasury" => Some(AccountId::Treasury),
            "burn" => Some(AccountId::Burn),
            _ => None,
        };
        if let Some(account) = fixed {
            return Ok(account);
        }
        let (prefix, number) = text.split_once(':').ok_or_else(unknown)?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unknown());
        }
        let number: u64 = number.parse().map_err(|_| unknown())?;
        match prefix {
            "wallet" => Ok(AccountId::Wallet(UserId(number))),
            "stake" => Ok(AccountId::Stake(ModelId(number))),
            "pending" => Ok(AccountId::PendingRelease(ModelId(number))),
            _ => Err(unknown()),
        }
    }
}

serde_as_text!(AccountId);

/// The four running totals of an account, as in TigerBeetle: posted and pending
/// debits and credits. Balances are derived from them, never stored apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Sum of posted debits.
    pub debits_posted: Nmr,
    /// Sum of posted credits.
    pub credits_posted: Nmr,
    /// Sum of debits held by pending transfers.
    pub debits_pending: Nmr,
    /// Sum of credits held by pending transfers.
    pub credits_pending: Nmr,
}

impl Balance {
    /// Posted credits minus posted debits, for accounts that cannot overdraft;
    /// zero for the genesis account, whose balance is the negative of what it minted.
    pub fn posted(&self) -> Nmr {
        self.credits_posted.saturating_sub(self.debits_posted)
    }

    /// What the account can still send: posted balance minus held debits.
    pub fn available(&self) -> Nmr {
        self.posted().saturating_sub(self.debits_pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_round_trip_and_reject_what_names_nothing() {
        for account in [
            AccountId::Genesis,
            AccountId::Outside,
            AccountId::Treasury,
            AccountId::Burn,
            AccountId::Wallet(UserId(7)),
            AccountId::Stake(ModelId(42)),
            AccountId::PendingRelease(ModelId(0)),
        ] {
            assert_eq!(account.to_string().parse::<AccountId>().unwrap(), account);
        }
        for text in [
            "",
            "wallet",
            "wallet:",
            "wallet:x",
            "stake:-1",
            "vault:1",
            "Treasury",
            "wallet:+1",
        ] {
            assert!(text.parse::<AccountId>().is_err(), "{text:?}");
        }
    }
}
