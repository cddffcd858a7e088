//! Leaderboards, reputation and seasons from the stored final scores
//! (`numerus_tournament::leaderboard` does the arithmetic).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use numerus_ledger::staking::Model;
use numerus_ledger::{AccountId, RoundKey, Store, TournamentId};
use numerus_tournament::leaderboard::{
    FinalScore, RankedRow, Row, Season, SeasonRule, account_reputation, rank, reputation, season,
};
use numerus_tournament::records::{Records, RoundPhase};

use crate::Error;
use crate::service::Service;

/// The name of the payout score in final scores: `Σ multiplier · score` of the round's config.
pub const PAYOUT: &str = "payout";

impl<S: Store + Records> Service<S> {
    /// One record per model per resolved round: its final-day scores, plus [`PAYOUT`].
    ///
    /// # Errors
    /// The store's.
    pub fn final_scores(&self) -> Result<Vec<FinalScore>, Error> {
        let tournament = self.definition().id;
        let store = self.ledger().store();
        let owners: HashMap<u64, u64> = store
            .models(TournamentId(tournament))?
            .into_iter()
            .map(|model| (model.id.0, model.user.0))
            .collect();
        let mut finals = Vec::new();
        for round in store.round_records(tournament, false)? {
            if round.phase != RoundPhase::Resolved {
                continue;
            }
            let key = RoundKey {
                tournament: TournamentId(tournament),
                number: round.number,
            };
            let Some(ledger_round) = store.round(key)? else {
                continue;
            };
            let at_risk: HashMap<u64, u128> = store
                .round_stakes(key)?
                .into_iter()
                .map(|stake| (stake.model.0, stake.at_risk.base_units()))
                .collect();
            let late: HashMap<u64, bool> = store
                .round_submissions(tournament, round.number)?
                .into_iter()
                .filter(|submission| submission.blob.is_some())
                .map(|submission| (submission.id, submission.late))
                .collect();
            for score in store.round_scores(tournament, round.number)? {
                if score.day != round.scored_days {
                    continue;
                }
                let mut scores: BTreeMap<String, f64> = score
                    .values
                    .iter()
                    .filter_map(|(name, value)| value.map(|value| (name.clone(), value)))
                    .collect();
                let payout: Option<f64> = ledger_round
                    .config
                    .multipliers
                    .iter()
                    .map(|(name, multiplier)| {
                        scores.get(name).map(|s| s * multiplier.to_f64_lossy())
                    })
                    .sum();
                if let Some(payout) = payout {
                    scores.insert(PAYOUT.into(), payout);
                }
                finals.push(FinalScore {
                    round: round.number,
                    resolved_at: round.resolve_at,
                    model: score.model,
                    account: owners.get(&score.model).copied().unwrap_or_default(),
                    on_time: !late.get(&score.submission).copied().unwrap_or(true),
                    at_risk: at_risk.get(&score.model).copied().unwrap_or_default(),
                    scores,
                });
            }
        }
        Ok(finals)
    }

    /// Every model of the tournament with its stake now (base units).
    fn staked_models(&self) -> Result<Vec<(Model, u128)>, Error> {
        let store = self.ledger().store();
        store
            .models(TournamentId(self.definition().id))?
            .into_iter()
            .map(|model| {
                let stake = store
                    .balance(AccountId::Stake(model.id))?
                    .map_or(0, |balance| balance.posted().base_units());
                Ok((model, stake))
            })
            .collect()
    }

    /// The model leaderboard at `now`: models ranked by their 1-year reputation in `score`
    /// (missing last; ties by stake, then name).
    ///
    /// # Errors
    /// The store's.
    pub fn model_leaderboard(&self, score: &str, now: Timestamp) -> Result<Vec<RankedRow>, Error> {
        let finals = self.final_scores()?;
        let reputations = reputation(
            &finals,
            now,
            numerus_tournament::leaderboard::REPUTATION_WINDOW_DAYS,
        );
        let rows = self
            .staked_models()?
            .into_iter()
            .map(|(model, stake)| Row {
                id: model.id.0,
                score: reputations.get(&model.id.0).and_then(|r| r.mean(score)),
                name: model.name,
                stake,
            })
            .collect();
        Ok(rank(rows))
    }

    /// The account leaderboard at `now`: accounts ranked by the 1-year mean of their per-round
    /// stake-weighted scores in `score`; stake is the total of their models'.
    ///
    /// # Errors
    /// The store's.
    pub fn account_leaderboard(
        &self,
        score: &str,
        now: Timestamp,
    ) -> Result<Vec<RankedRow>, Error> {
        let finals = self.final_scores()?;
        let reputations = account_reputation(
            &finals,
            now,
            numerus_tournament::leaderboard::REPUTATION_WINDOW_DAYS,
        );
        let mut stakes: HashMap<u64, u128> = HashMap::new();
        for (model, stake) in self.staked_models()? {
            *stakes.entry(model.user.0).or_default() += stake;
        }
        let rows = self
            .ledger()
            .store()
            .accounts()?
            .into_iter()
            .map(|(id, name)| Row {
                id,
                name,
                stake: stakes.get(&id).copied().unwrap_or_default(),
                score: reputations.get(&id).and_then(|r| r.mean(score)),
            })
            .collect();
        Ok(rank(rows))
    }

    /// Season `year`'s standings at `now` under `rule` (the Classic or Signals tiers).
    ///
    /// # Errors
    /// The store's.
    pub fn season(&self, year: i16, now: Timestamp, rule: &SeasonRule) -> Result<Season, Error> {
        Ok(season(&self.final_scores()?, year, now, rule))
    }
}

/// A round as numerapi's `rounds` query returns it (field names and types as the API's:
/// decimals as strings, times as ISO 8601).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundView {
    /// The tournament's id.
    pub tournament: u32,
    /// The round's number.
    pub number: u32,
    /// Submissions open.
    pub open_time: Timestamp,
    /// Submissions close.
    pub close_time: Timestamp,
    /// Staking closes (with submissions).
    pub close_staking_time: Timestamp,
    /// The first daily score; the payout factor is fixed then.
    pub score_time: Timestamp,
    /// The final score.
    pub resolve_time: Timestamp,
    /// Every daily score is in.
    pub resolved_general: bool,
    /// The round is settled in the ledger.
    pub resolved_staking: bool,
    /// `min(1, threshold / total at risk)`, once fixed.
    pub payout_factor: Option<String>,
    /// The payout config's stake threshold (NMR).
    pub stake_threshold: String,
    /// The live data's market date as `YYYYMMDD`.
    pub data_datestamp: u32,
    /// `UPCOMING`, `OPEN`, `RESOLVING` or `RESOLVED`.
    pub status: &'static str,
}

impl<S: Store + Records> Service<S> {
    /// Round `number` as numerapi sees it, at `now`; `None` if it was never opened.
    ///
    /// # Errors
    /// The store's.
    pub fn round_view(&self, number: u32, now: Timestamp) -> Result<Option<RoundView>, Error> {
        use numerus_ledger::staking::RoundState;
        let tournament = self.definition().id;
        let store = self.ledger().store();
        let Some(round) = store.round_record(tournament, number)? else {
            return Ok(None);
        };
        let key = RoundKey {
            tournament: TournamentId(tournament),
            number,
        };
        let ledger_round = store.round(key)?;
        let (payout_factor, settled) = match ledger_round.as_ref().map(|r| &r.state) {
            Some(RoundState::Scored { payout_factor, .. }) => {
                (Some(payout_factor.to_string()), false)
            }
            Some(RoundState::Settled { payout_factor, .. }) => {
                (Some(payout_factor.to_string()), true)
            }
            _ => (None, false),
        };
        let stake_threshold = ledger_round.map_or_else(
            || self.definition().payout.stake_threshold.to_string(),
            |r| r.config.stake_threshold.to_string(),
        );
        // The records decide resolution: a round past its resolve time whose last score is
        // not in yet (waiting for data) is still resolving.
        let status = match self.calendar().round(number) {
            _ if round.phase == RoundPhase::Resolved => "RESOLVED",
            Ok(schedule) => match schedule.stage(now).api_status() {
                "RESOLVED" => "RESOLVING",
                status => status,
            },
            Err(_) => "RESOLVING",
        };
        let date = round.data_date;
        Ok(Some(RoundView {
            tournament,
            number,
            open_time: round.open_at,
            close_time: round.close_at,
            close_staking_time: round.close_at,
            score_time: round.score_at,
            resolve_time: round.resolve_at,
            resolved_general: round.phase == RoundPhase::Resolved,
            resolved_staking: settled,
            payout_factor,
            stake_threshold,
            data_datestamp: u32::try_from(date.year()).unwrap_or(0) * 10_000
                + u32::from(date.month().unsigned_abs()) * 100
                + u32::from(date.day().unsigned_abs()),
            status,
        }))
    }
}
