//! A round's frozen selection and what is computed from it.
//!
//! When a round's first score is due its selection is frozen into a [`Pack`]: the live ids
//! in the live file's order and, for each selected submission, its tie-kept rank codes over
//! those ids (`2r − 1`, as `numerus_scoring::rank` defines them). Every score of a round —
//! CORR, MMC, BMC, FNC, CWMM, the peer correlations, the meta model — starts by ranking the
//! predictions, and a rank code keeps exactly the order and the ties of the value it came
//! from, so scoring the codes gives the scores of the values, at 4 bytes a prediction and
//! without reading a submission file again on any of the 20 scoring days.
//!
//! Stored as one blob: `NUMPACK1`, the header's length (u64 LE), the header (JSON), then the
//! codes (u32 LE), column by column.

use std::collections::BTreeMap;

use faer::MatRef;
use numerus_scoring::Score;
use numerus_scoring::rank::{RankScale, RankScratch, RankedColumns, rank_codes};
use numerus_scoring::{Era, EraInput, EraTarget};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Error;

const MAGIC: &[u8; 8] = b"NUMPACK1";

/// One selected submission in a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The model.
    pub model: u64,
    /// The submission.
    pub submission: u64,
    /// Uploaded after close.
    pub late: bool,
    /// NMR at risk at close, base units (decimal text); zero for late or unstaked.
    pub at_risk: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    ids: Vec<String>,
    entries: Vec<Entry>,
}

/// A round's frozen selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    /// Live ids, in the live file's order.
    pub ids: Vec<String>,
    /// The submissions, one column each.
    pub entries: Vec<Entry>,
    /// Rank codes, column-major: `codes[column * ids.len() + row]`.
    pub codes: Vec<u32>,
}

impl Pack {
    /// A pack of `columns` (each aligned with `ids`; no NaN), ranked in parallel.
    pub fn new(ids: Vec<String>, entries: Vec<Entry>, columns: &[Vec<f64>]) -> Self {
        let rows = ids.len();
        let mut codes = vec![0u32; rows * columns.len()];
        if rows > 0 {
            codes
                .par_chunks_mut(rows)
                .zip(columns.par_iter())
                .for_each_init(RankScratch::new, |scratch, (out, column)| {
                    rank_codes(column, scratch, out);
                });
        }
        Self {
            ids,
            entries,
            codes,
        }
    }

    /// Rows (live ids).
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// The codes of column `column`.
    pub fn column(&self, column: usize) -> &[u32] {
        let rows = self.rows();
        &self.codes[column * rows..(column + 1) * rows]
    }

    /// The codes as the scoring crate's ranks over all rows (no ranking needed).
    pub fn ranked(&self) -> RankedColumns {
        RankedColumns::from_codes(self.rows(), self.codes.clone())
    }

    /// The codes as `f64`, column-major (rows × submissions): ranking them again gives the
    /// same codes. Filled in parallel.
    pub fn values(&self) -> Vec<f64> {
        let rows = self.rows().max(1);
        let mut values = vec![0.0; self.codes.len()];
        values
            .par_chunks_mut(rows)
            .zip(self.codes.par_chunks(rows))
            .for_each(|(out, codes)| {
                for (value, &code) in out.iter_mut().zip(codes) {
                    *value = f64::from(code);
                }
            });
        values
    }

    /// The blob bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&Header {
            ids: self.ids.clone(),
            entries: self.entries.clone(),
        })
        .expect("a pack header serializes");
        let mut bytes = Vec::with_capacity(16 + header.len() + 4 * self.codes.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        write_codes(&self.codes, &mut bytes);
        bytes
    }

    /// Reads blob bytes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when they are not a pack.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Corrupt("a stored prediction pack is damaged".into());
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad());
        }
        let length = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let header_end = 16usize.checked_add(length).ok_or_else(bad)?;
        let header: Header = serde_json::from_slice(bytes.get(16..header_end).ok_or_else(bad)?)
            .map_err(|_| bad())?;
        let body = &bytes[header_end..];
        if body.len() != 4 * header.ids.len() * header.entries.len() {
            return Err(bad());
        }
        let codes = read_codes(body);
        Ok(Self {
            ids: header.ids,
            entries: header.entries,
            codes,
        })
    }

    /// The stake-weighted meta model: each staked submission's tie-kept rank, gaussianized,
    /// averaged with its at-risk amount as weight; `None` when nothing is at risk.
    pub fn meta_model(&self) -> Option<Vec<f64>> {
        let weights: Vec<f64> = self
            .entries
            .iter()
            .map(|entry| stake_weight(&entry.at_risk))
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let scale = RankScale::new(self.rows());
        let mut blended = vec![0.0; self.rows()];
        for (column, &weight) in weights.iter().enumerate() {
            if weight > 0.0 {
                for (out, &code) in blended.iter_mut().zip(self.column(column)) {
                    *out += weight * scale.gaussian(code);
                }
            }
        }
        for value in &mut blended {
            *value /= total;
        }
        Some(blended)
    }
}

/// Appends rank codes as `u32` LE (the pack's body, an upload's `ranks` blob).
pub(crate) fn write_codes(codes: &[u32], bytes: &mut Vec<u8>) {
    for code in codes {
        bytes.extend_from_slice(&code.to_le_bytes());
    }
}

/// Rank codes from `u32` LE bytes (a trailing partial code is ignored), decoded in parallel.
pub(crate) fn read_codes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .par_chunks_exact(4)
        .map(|chunk| u32::from_le_bytes(chunk.try_into().expect("4 bytes")))
        .collect()
}

/// An at-risk amount (base units, decimal text) as a weight in NMR. Weights average scores;
/// no money is computed from them.
fn stake_weight(base_units: &str) -> f64 {
    base_units
        .parse::<u128>()
        .map_or(0.0, |units| units as f64 / 1e18)
}

fn value(score: Score) -> Option<f64> {
    score.ok()
}

/// The inputs of one scoring day, aligned with the pack's ids.
#[derive(Debug, Clone, Copy)]
pub struct DayInputs<'a> {
    /// The day's target (NaN where unknown).
    pub target: &'a [f64],
    /// The round's meta model.
    pub meta_model: Option<&'a [f64]>,
    /// The benchmark (the example model's live predictions).
    pub benchmark: Option<&'a [f64]>,
    /// The live features (rows × features), for FNC.
    pub features: Option<MatRef<'a, f64>>,
}

/// Every daily score ([`crate::definition::DAILY_SCORES`]) of every submission of the pack,
/// in the order of its entries. The pack is consumed: its codes become the era's ranks
/// without a copy.
pub fn daily_scores(pack: Pack, inputs: DayInputs<'_>) -> Vec<BTreeMap<String, Option<f64>>> {
    let values = pack.values();
    let (rows, count) = (pack.rows(), pack.entries.len());
    let matrix = MatRef::from_column_major_slice(&values, rows, count);
    let ranked = RankedColumns::from_codes(rows, pack.codes);
    let era = Era::new(EraInput {
        meta_model: inputs.meta_model,
        benchmark: inputs.benchmark,
        features: inputs.features,
        era_target: EraTarget::of(inputs.target),
        ..EraInput::new(matrix.as_ref(), inputs.target)
    })
    .with_ranks(ranked);
    let none = || vec![None; count];
    let listed = |scores: Vec<Score>| scores.into_iter().map(value).collect::<Vec<_>>();
    let corr = listed(era.numerai_corr());
    let mmc = era.mmc().map(listed).unwrap_or_else(|_| none());
    let bmc = era.bmc().map(listed).unwrap_or_else(|_| none());
    let fnc = era.fnc().map(listed).unwrap_or_else(|_| none());
    (0..count)
        .map(|s| {
            BTreeMap::from([
                ("corr".to_string(), corr[s]),
                ("mmc".to_string(), mmc[s]),
                ("bmc".to_string(), bmc[s]),
                ("fnc".to_string(), fnc[s]),
            ])
        })
        .collect()
}

/// The scores that do not depend on returns ([`crate::definition::ROUND_SCORES`]): CWMM
/// against the meta model, and the maximum and mean correlation with the round's other
/// submissions.
pub fn round_scores(pack: &Pack, meta_model: Option<&[f64]>) -> Vec<BTreeMap<String, Option<f64>>> {
    let values = pack.values();
    let matrix = MatRef::from_column_major_slice(&values, pack.rows(), pack.entries.len());
    let zeros = vec![0.0; pack.rows()];
    let era = Era::new(EraInput {
        meta_model,
        ..EraInput::new(matrix.as_ref(), &zeros)
    })
    .with_ranks(pack.ranked());
    let count = pack.entries.len();
    let cwmm: Vec<Option<f64>> = era
        .cwmm()
        .map(|scores| scores.into_iter().map(value).collect())
        .unwrap_or_else(|_| vec![None; count]);
    let (max, mean) = era.peer_correlations();
    (0..count)
        .map(|s| {
            BTreeMap::from([
                ("cwmm".to_string(), cwmm[s]),
                ("mcwnm".to_string(), value(max[s].clone())),
                ("apcwnm".to_string(), value(mean[s].clone())),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(at_risk: [&str; 3]) -> Pack {
        let ids: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let entries = at_risk
            .iter()
            .enumerate()
            .map(|(i, stake)| Entry {
                model: i as u64 + 1,
                submission: i as u64 + 10,
                late: false,
                at_risk: (*stake).to_string(),
            })
            .collect();
        let columns = vec![
            vec![0.1, 0.2, 0.2, 0.9, 0.5],
            vec![0.5, 0.4, 0.3, 0.2, 0.1],
            vec![0.3, 0.3, 0.3, 0.3, 0.3],
        ];
        Pack::new(ids, entries, &columns)
    }

    #[test]
    fn codes_are_tie_kept_ranks_and_survive_the_blob_format() {
        let pack = pack(["0", "0", "0"]);
        // Ranks 1, 2.5, 2.5, 5, 4 as codes 2r − 1.
        assert_eq!(pack.column(0), [1, 4, 4, 9, 7]);
        assert_eq!(pack.column(2), [5, 5, 5, 5, 5]);
        assert_eq!(Pack::from_bytes(&pack.to_bytes()).unwrap(), pack);
        let mut damaged = pack.to_bytes();
        damaged.pop();
        assert!(Pack::from_bytes(&damaged).is_err());
        assert!(Pack::from_bytes(b"NUMPACK2").is_err());
    }

    #[test]
    fn the_meta_model_weighs_gaussianized_ranks_by_stake() {
        assert_eq!(pack(["0", "0", "0"]).meta_model(), None);
        let one = pack(["1000000000000000000", "0", "0"])
            .meta_model()
            .unwrap();
        let scale = RankScale::new(5);
        let expected: Vec<f64> = [1, 4, 4, 9, 7].iter().map(|&c| scale.gaussian(c)).collect();
        assert_eq!(one, expected);
        // 3 NMR on the first, 1 on the second: a 3:1 blend.
        let blend = pack(["3000000000000000000", "1000000000000000000", "0"])
            .meta_model()
            .unwrap();
        let second: Vec<f64> = [9, 7, 5, 3, 1].iter().map(|&c| scale.gaussian(c)).collect();
        for row in 0..5 {
            let want = (3.0 * expected[row] + second[row]) / 4.0;
            assert!((blend[row] - want).abs() < 1e-15);
        }
    }
}
