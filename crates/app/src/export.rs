//! Replay bundles: everything needed to recompute a resolved round without Numerus, and the
//! published meta model of past rounds.
//!
//! A bundle directory holds (format `numerus-round/1`):
//!
//! ```text
//! round.json                  schedule, target, payout config, payout factor, total at risk
//! live.parquet                the round's live file (ids, era, features)
//! live_example_preds.parquet  the benchmark BMC is measured against
//! meta_model.parquet          the stake-weighted meta model (id, numerai_meta_model), if staked
//! targets/day_NN.parquet      the payout target of the round's live era on scoring day NN (id, target)
//! submissions/ID.csv|parquet  every scored submission, byte for byte as uploaded
//! submissions.json            per submission: model, account, file, sha256, late, stake at close, at risk
//! scores.json                 every stored score: day 0 (return-independent) and days 1..N
//! payouts.json                per at-risk model: rate, earning at risk, paid, burned
//! manifest.json               every other file with its size and SHA-256
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use numerus_frames::{Column, Table, write_table};
use numerus_ledger::staking::RoundState;
use numerus_ledger::{ModelId, RoundKey, Store, TournamentId};
use numerus_tournament::records::{Records, RoundPhase};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::blobs::sha256_hex;
use crate::pack::Pack;
use crate::service::Service;
use crate::{Error, tables};

/// The bundle format's name.
pub const FORMAT: &str = "numerus-round/1";

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Path within the bundle.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// One submission of a bundle (`submissions.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSubmission {
    /// Submission id.
    pub submission: u64,
    /// Model id.
    pub model: u64,
    /// Model name.
    pub model_name: String,
    /// Account name.
    pub account: String,
    /// The file in the bundle.
    pub file: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Uploaded after close.
    pub late: bool,
    /// Stake at close (NMR, decimal).
    pub stake_at_close: String,
    /// At risk (NMR, decimal): the meta model's weight and the payout's base.
    pub at_risk: String,
    /// Why at-risk is zero although staked.
    pub zero_reason: Option<String>,
}

fn write(out: &Path, name: &str, bytes: &[u8], files: &mut Vec<BundleFile>) -> Result<(), Error> {
    let path = out.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    }
    fs::write(&path, bytes).map_err(Error::io("write", &path))?;
    files.push(BundleFile {
        name: name.to_owned(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    });
    Ok(())
}

fn pretty(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("bundle records serialize");
    bytes.push(b'\n');
    bytes
}

impl<S: Store + Records> Service<S> {
    /// Writes round `number`'s replay bundle into `out` (which must not exist); returns the
    /// manifest's files.
    ///
    /// # Errors
    /// [`Error::Refused`] for a round that is unknown, not resolved yet, or an existing `out`.
    pub fn export_round(&self, number: u32, out: &Path) -> Result<Vec<BundleFile>, Error> {
        let tournament = self.definition().id;
        let store = self.ledger().store();
        let round = store.round_record(tournament, number)?.ok_or_else(|| {
            Error::Refused(format!(
                "there is no round {number} in {}",
                self.definition().name
            ))
        })?;
        if round.phase != RoundPhase::Resolved {
            return Err(Error::Refused(format!(
                "round {number} is {}, not resolved; it resolves at {}",
                round.phase.name(),
                round.resolve_at
            )));
        }
        if out.exists() {
            return Err(Error::Refused(format!(
                "{} exists; give a new directory for the bundle",
                out.display()
            )));
        }
        let key = RoundKey {
            tournament: TournamentId(tournament),
            number,
        };
        let blobs = self.blobs();
        let staging = out.with_extension("partial");
        let _ = fs::remove_dir_all(&staging);
        let mut files = Vec::new();
        write(
            &staging,
            "live.parquet",
            &blobs.read(&round.blobs["live"])?,
            &mut files,
        )?;
        write(
            &staging,
            "live_example_preds.parquet",
            &blobs.read(&round.blobs["benchmark"])?,
            &mut files,
        )?;
        if let Some(id) = round.blobs.get("meta_model") {
            write(&staging, "meta_model.parquet", &blobs.read(id)?, &mut files)?;
        }
        let pack = Pack::from_bytes(&blobs.read(&round.blobs["predictions"])?)?;
        for day in 1..=round.scored_days {
            let id = &round.blobs[&format!("targets/{day:02}")];
            let target = tables::day_target(
                blobs,
                id,
                &self.definition().target,
                round.data_date,
                day,
                &pack.ids,
            )?;
            let table = Table {
                columns: vec![
                    Column::text("id", pack.ids.clone()),
                    Column::number("target", target),
                ],
            };
            let path = staging.join(format!("day_{day:02}.tmp.parquet"));
            write_table(&path, &table)?;
            let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
            fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            write(
                &staging,
                &format!("targets/day_{day:02}.parquet"),
                &bytes,
                &mut files,
            )?;
        }

        let stakes: BTreeMap<u64, _> = store
            .round_stakes(key)?
            .into_iter()
            .map(|stake| (stake.model.0, stake))
            .collect();
        let mut submissions = Vec::new();
        for entry in &pack.entries {
            let record = store.submission(entry.submission)?.ok_or_else(|| {
                Error::Corrupt(format!("submission {} is not recorded", entry.submission))
            })?;
            let blob = record.blob.as_deref().unwrap_or("");
            let bytes = blobs.read(blob)?;
            let extension = blob.rsplit('.').next().unwrap_or("bin");
            let file = format!("submissions/{}.{extension}", entry.submission);
            write(&staging, &file, &bytes, &mut files)?;
            let model = store
                .model(ModelId(entry.model))?
                .ok_or_else(|| Error::Corrupt(format!("model {} is not recorded", entry.model)))?;
            let account = store
                .user(model.user)?
                .map(|user| user.name)
                .unwrap_or_default();
            let stake = stakes.get(&entry.model);
            submissions.push(BundleSubmission {
                submission: entry.submission,
                model: entry.model,
                model_name: model.name,
                account,
                file,
                sha256: sha256_hex(&bytes),
                late: entry.late,
                stake_at_close: stake
                    .map(|s| s.stake_at_close.to_string())
                    .unwrap_or_else(|| "0".into()),
                at_risk: stake
                    .filter(|_| !entry.late)
                    .map(|s| s.at_risk.to_string())
                    .unwrap_or_else(|| "0".into()),
                zero_reason: stake.and_then(|s| s.zero_reason.clone()),
            });
        }
        write(
            &staging,
            "submissions.json",
            &pretty(&submissions),
            &mut files,
        )?;
        let scores = store.round_scores(tournament, number)?;
        write(&staging, "scores.json", &pretty(&scores), &mut files)?;
        let payouts: Vec<_> = stakes
            .values()
            .filter_map(|stake| {
                let settlement = stake.settlement.as_ref()?;
                Some(json!({
                    "model": stake.model.0,
                    "at_risk": stake.at_risk,
                    "rate": settlement.rate,
                    "earning_at_risk": settlement.earning_at_risk,
                    "paid": settlement.paid,
                    "burned_from_stake": settlement.burned_from_stake,
                    "burned_from_pending": settlement.burned_from_pending,
                }))
            })
            .collect();
        write(&staging, "payouts.json", &pretty(&payouts), &mut files)?;
        let ledger_round = store
            .round(key)?
            .ok_or_else(|| Error::Corrupt(format!("round {number} is not in the ledger")))?;
        let (payout_factor, total_at_risk) = match &ledger_round.state {
            RoundState::Settled {
                payout_factor,
                total_at_risk,
                ..
            } => (payout_factor.to_string(), total_at_risk.to_string()),
            other => {
                return Err(Error::Corrupt(format!(
                    "round {number} is resolved but {} in the ledger",
                    other.name()
                )));
            }
        };
        let summary = json!({
            "format": FORMAT,
            "tournament": tournament,
            "tournament_name": self.definition().name,
            "round": number,
            "open_time": round.open_at,
            "close_time": round.close_at,
            "score_time": round.score_at,
            "resolve_time": round.resolve_at,
            "data_date": round.data_date,
            "scoring_days": round.scored_days,
            "target": self.definition().target,
            "payout": ledger_round.config,
            "payout_factor": payout_factor,
            "total_at_risk": total_at_risk,
            "daily_scores": crate::definition::DAILY_SCORES,
            "round_scores": crate::definition::ROUND_SCORES,
        });
        write(&staging, "round.json", &pretty(&summary), &mut files)?;
        let manifest = json!({ "format": FORMAT, "round": number, "files": files });
        fs::write(staging.join("manifest.json"), pretty(&manifest))
            .map_err(Error::io("write", &staging))?;
        fs::rename(&staging, out).map_err(Error::io("rename", &staging))?;
        Ok(files)
    }

    /// Writes `meta_model.parquet` over every resolved round's live era: `id`, `era`,
    /// `round`, `numerai_meta_model`. Rounds without stakes have no meta model and no rows.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Frames`].
    pub fn publish_meta_model(&self, path: &Path) -> Result<usize, Error> {
        let tournament = self.definition().id;
        let mut rounds = self.ledger().store().round_records(tournament, false)?;
        rounds.reverse();
        let (mut ids, mut eras, mut numbers, mut values) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in rounds
            .iter()
            .filter(|round| round.phase == RoundPhase::Resolved)
        {
            let Some(meta) = round.blobs.get("meta_model") else {
                continue;
            };
            let live = tables::read_blob_table(self.blobs(), &round.blobs["live"], None)?;
            let era = tables::text(&live, "era")?
                .first()
                .cloned()
                .unwrap_or_default();
            let table = tables::read_blob_table(self.blobs(), meta, None)?;
            let round_ids = tables::text(&table, "id")?;
            ids.extend_from_slice(round_ids);
            eras.extend(std::iter::repeat_n(era, round_ids.len()));
            numbers.extend(std::iter::repeat_n(
                f64::from(round.number),
                round_ids.len(),
            ));
            values.extend_from_slice(tables::numbers(&table, "numerai_meta_model")?);
        }
        let rows = ids.len();
        write_table(
            path,
            &Table {
                columns: vec![
                    Column::text("id", ids),
                    Column::text("era", eras),
                    Column::number("round", numbers),
                    Column::number("numerai_meta_model", values),
                ],
            },
        )?;
        Ok(rows)
    }
}
