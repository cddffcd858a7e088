//! Applying one batch inside an open transaction.

use numerus_ledger::book::{self, Hold, LedgerView};
use numerus_ledger::staking::{Effect, RoundState};
use numerus_ledger::{
    AccountId, Balance, Batch, BatchId, LedgerError, Mode, Nmr, Outcome, RoundKey, TransferId,
};
use rusqlite::{Connection, params};

use crate::{Fault, Reader, StoreError, sql};

/// The transaction's reads, for the ledger's rules.
struct View<'c>(&'c Connection);

impl LedgerView for View<'_> {
    fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError> {
        Reader(self.0).balance(account)
    }

    fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError> {
        Reader(self.0).hold(id)
    }

    fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError> {
        Reader(self.0).transfer_exists(id)
    }
}

/// Counts writes and fails where a fault says to.
struct Writer<'c> {
    connection: &'c Connection,
    writes: u32,
    fault: Option<Fault>,
}

impl Writer<'_> {
    fn execute(
        &mut self,
        query: &str,
        params: impl rusqlite::Params,
        context: &str,
    ) -> Result<usize, LedgerError> {
        if let Some(fault) = self.fault
            && self.writes >= fault.fail_after_writes
        {
            return Err(LedgerError::store(StoreError::Injected(self.writes)));
        }
        self.writes += 1;
        let mut statement = self
            .connection
            .prepare_cached(query)
            .map_err(sql(context))?;
        statement.execute(params).map_err(sql(context))
    }
}

fn text(amount: Nmr) -> String {
    amount.base_units().to_string()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, LedgerError> {
    serde_json::to_string(value).map_err(|error| crate::corrupt(error.to_string()))
}

fn state_json(state: &RoundState) -> Result<(String, &'static str), LedgerError> {
    Ok((to_json(state)?, state.name()))
}

/// Applies `batch` in the open transaction on `connection` (see [`numerus_ledger::Store::apply`]).
pub(crate) fn apply(
    connection: &Connection,
    batch: &Batch,
    fault: Option<Fault>,
) -> Result<Outcome, LedgerError> {
    match Reader(connection).batch_digest(&batch.id)? {
        Some(digest) if digest == batch.digest => return Ok(Outcome::AlreadyApplied),
        Some(_) => {
            return Err(LedgerError::Conflict {
                batch: batch.id.clone(),
            });
        }
        None => {}
    }
    let plan = book::plan(batch, &View(connection))?;
    let mut writer = Writer {
        connection,
        writes: 0,
        fault,
    };
    let at = batch.at.to_string();
    writer.execute(
        "INSERT INTO batches (id, digest, applied_at) VALUES (?1, ?2, ?3)",
        params![batch.id.as_str(), batch.digest.to_hex(), at],
        "recording a batch",
    )?;
    // Users and models first (accounts refer to them), the other records last (they
    // refer to transfers).
    let creates =
        |effect: &&Effect| matches!(effect, Effect::CreateUser(_) | Effect::CreateModel(_));
    for effect in batch.effects.iter().filter(creates) {
        apply_effect(&mut writer, effect)?;
    }
    for (account, balance) in &plan.balances {
        writer.execute(
            "INSERT INTO accounts (id, debits_posted, credits_posted, debits_pending, credits_pending)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET debits_posted = ?2, credits_posted = ?3, debits_pending = ?4, credits_pending = ?5",
            params![
                account.to_string(),
                text(balance.debits_posted),
                text(balance.credits_posted),
                text(balance.debits_pending),
                text(balance.credits_pending)
            ],
            "writing a balance",
        )?;
    }
    append_transfers(&mut writer, &batch.id, &at, batch)?;
    for (hold, state) in &plan.holds {
        writer.execute(
            "INSERT INTO holds (transfer_id, state) VALUES (?1, ?2) ON CONFLICT (transfer_id) DO UPDATE SET state = ?2",
            params![hold.as_str(), state.as_str()],
            "writing a hold",
        )?;
    }
    for effect in batch.effects.iter().filter(|effect| !creates(effect)) {
        apply_effect(&mut writer, effect)?;
    }
    Ok(Outcome::Applied)
}

fn append_transfers(
    writer: &mut Writer<'_>,
    batch_id: &BatchId,
    at: &str,
    batch: &Batch,
) -> Result<(), LedgerError> {
    for transfer in &batch.transfers {
        let (mode, hold) = match &transfer.mode {
            Mode::Posted => ("posted", None),
            Mode::Pending => ("pending", None),
            Mode::Post(hold) => ("post", Some(hold.as_str())),
            Mode::Void(hold) => ("void", Some(hold.as_str())),
        };
        writer.execute(
            "INSERT INTO transfers (id, batch_id, applied_at, debit, credit, amount, code, mode, hold_id,
                                    round_tournament, round_number, reference)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                transfer.id.as_str(),
                batch_id.as_str(),
                at,
                transfer.debit.to_string(),
                transfer.credit.to_string(),
                text(transfer.amount),
                transfer.code.as_str(),
                mode,
                hold,
                transfer.round.map(|round| round.tournament.0),
                transfer.round.map(|round| round.number),
                transfer.reference.as_deref(),
            ],
            "appending a transfer",
        )?;
    }
    Ok(())
}

fn update_round_state(
    writer: &mut Writer<'_>,
    round: RoundKey,
    state: &RoundState,
) -> Result<(), LedgerError> {
    let (state, stage) = state_json(state)?;
    writer.execute(
        "UPDATE stake_rounds SET state = ?3, stage = ?4 WHERE tournament = ?1 AND number = ?2",
        params![round.tournament.0, round.number, state, stage],
        "updating a round",
    )?;
    Ok(())
}

fn stored_round_state(writer: &Writer<'_>, round: RoundKey) -> Result<RoundState, LedgerError> {
    Reader(writer.connection)
        .round(round)?
        .map(|round| round.state)
        .ok_or(LedgerError::UnknownRound { round })
}

fn apply_effect(writer: &mut Writer<'_>, effect: &Effect) -> Result<(), LedgerError> {
    match effect {
        Effect::CreateUser(user) => {
            writer.execute(
                "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![user.id.0, user.name, user.created_at.to_string()],
                "creating a user",
            )?;
        }
        Effect::CreateModel(model) => {
            writer.execute(
                "INSERT INTO models (id, user_id, name, tournament) VALUES (?1, ?2, ?3, ?4)",
                params![model.id.0, model.user.0, model.name, model.tournament.0],
                "creating a model",
            )?;
        }
        Effect::OpenRound(round) => {
            let (state, stage) = state_json(&round.state)?;
            writer.execute(
                "INSERT INTO stake_rounds (tournament, number, close_at, resolve_at, config, stage, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    round.key.tournament.0,
                    round.key.number,
                    round.close_at.to_string(),
                    round.resolve_at.to_string(),
                    to_json(&round.config)?,
                    stage,
                    state
                ],
                "opening a round",
            )?;
        }
        Effect::CloseRound {
            round,
            closed_at,
            stakes,
        } => {
            let mut total = Nmr::ZERO;
            for stake in stakes {
                total = total
                    .checked_add(stake.at_risk)
                    .ok_or_else(|| crate::corrupt("at-risk beyond u128"))?;
                writer.execute(
                    "INSERT INTO round_stakes (tournament, number, model_id, at_risk, stake_at_close, zero_reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        round.tournament.0,
                        round.number,
                        stake.model.0,
                        text(stake.at_risk),
                        text(stake.stake_at_close),
                        stake.zero_reason
                    ],
                    "recording an at-risk amount",
                )?;
            }
            update_round_state(
                writer,
                *round,
                &RoundState::Closed {
                    closed_at: *closed_at,
                    total_at_risk: total,
                },
            )?;
        }
        Effect::ScoreRound {
            round,
            payout_factor,
        } => {
            let RoundState::Closed { total_at_risk, .. } = stored_round_state(writer, *round)?
            else {
                return Err(crate::corrupt(format!(
                    "round {round} scored while not closed"
                )));
            };
            update_round_state(
                writer,
                *round,
                &RoundState::Scored {
                    total_at_risk,
                    payout_factor: *payout_factor,
                },
            )?;
        }
        Effect::SettleRound { round, at } => {
            let RoundState::Scored {
                total_at_risk,
                payout_factor,
            } = stored_round_state(writer, *round)?
            else {
                return Err(crate::corrupt(format!(
                    "round {round} settled while not scored"
                )));
            };
            let settled = RoundState::Settled {
                total_at_risk,
                payout_factor,
                settled_at: *at,
            };
            update_round_state(writer, *round, &settled)?;
        }
        Effect::SettleModel {
            round,
            model,
            settlement,
        } => {
            writer.execute(
                "UPDATE round_stakes SET settlement = ?4 WHERE tournament = ?1 AND number = ?2 AND model_id = ?3",
                params![round.tournament.0, round.number, model.0, to_json(settlement)?],
                "recording a settlement",
            )?;
        }
        Effect::RequestRelease(request) => {
            writer.execute(
                "INSERT INTO release_requests (id, model_id, amount, remaining, requested_at, at_risk_in,
                                               release_tournament, release_number, released_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    request.id.as_str(),
                    request.model.0,
                    text(request.amount),
                    text(request.remaining),
                    request.requested_at.to_string(),
                    to_json(&request.at_risk_in)?,
                    request.release_round.map(|round| round.tournament.0),
                    request.release_round.map(|round| round.number),
                    request.released_at.map(|at| at.to_string()),
                ],
                "recording a release request",
            )?;
        }
        Effect::ReduceRelease { id, by } => {
            let remaining: String = writer
                .connection
                .query_row(
                    "SELECT remaining FROM release_requests WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .map_err(sql("reading a release request"))?;
            let remaining = Nmr::from_base_units(crate::parse(&remaining, "an amount")?);
            let left = remaining
                .checked_sub(*by)
                .ok_or_else(|| crate::corrupt(format!("release {id} reduced below zero")))?;
            writer.execute(
                "UPDATE release_requests SET remaining = ?2 WHERE id = ?1",
                params![id.as_str(), text(left)],
                "reducing a release request",
            )?;
        }
        Effect::CompleteRelease { id, at } => {
            writer.execute(
                "UPDATE release_requests SET remaining = '0', released_at = ?2 WHERE id = ?1",
                params![id.as_str(), at.to_string()],
                "completing a release request",
            )?;
        }
        Effect::RecordBuyback(buyback) => {
            writer.execute(
                "INSERT INTO buybacks (transfer_id, nmr, price_usd, fiat_usd_cents) VALUES (?1, ?2, ?3, ?4)",
                params![
                    buyback.transfer.as_str(),
                    text(buyback.nmr),
                    buyback.price_usd.to_string(),
                    buyback.fiat_usd_cents.to_string()
                ],
                "recording a buyback",
            )?;
        }
    }
    Ok(())
}
