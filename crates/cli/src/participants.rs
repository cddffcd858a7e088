//! Simple seeded participants: model families that train on a dataset's training file and
//! predict live files. The tournament simulator drives the service with them directly; the
//! demo's built-in participants run the same models through the public API.

use anyhow::Context;
use numerus_frames::Table;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// How a participant's model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The k features most correlated with the target in training, weighted by that correlation.
    TopFeatures(usize),
    /// Every feature, weighted by its training correlation.
    AllFeatures,
    /// Random weights: no skill.
    Random,
    /// The best features, sign flipped: loses.
    Contrarian,
}

impl Family {
    /// A family drawn with the simulator's mix (4 top-k : 3 all : 2 random : 1 contrarian).
    pub fn draw(rng: &mut ChaCha8Rng) -> Self {
        match rng.random_range(0..10) {
            0..=3 => Family::TopFeatures(rng.random_range(3..=12)),
            4..=6 => Family::AllFeatures,
            7..=8 => Family::Random,
            _ => Family::Contrarian,
        }
    }

    /// A short name for tables and logs.
    pub fn label(self) -> String {
        match self {
            Family::TopFeatures(k) => format!("top{k}"),
            Family::AllFeatures => "all".into(),
            Family::Random => "random".into(),
            Family::Contrarian => "contrarian".into(),
        }
    }
}

/// What training learned: each feature's correlation with the target, and the features by
/// decreasing absolute correlation.
#[derive(Debug, Clone)]
pub struct Training {
    correlations: Vec<f64>,
    order: Vec<usize>,
}

impl Training {
    /// Learns from a training table (`feature_*` columns and `target`).
    ///
    /// # Errors
    /// When the table has no `target`.
    pub fn of(train: &Table) -> anyhow::Result<Self> {
        let target = train
            .column("target")
            .and_then(|column| column.values.as_numbers())
            .context("the training file has no target")?;
        let features: Vec<&[f64]> = train.numbers_with_prefix("feature_");
        let correlations: Vec<f64> = features
            .iter()
            .map(|feature| pearson(feature, target))
            .collect();
        let mut order: Vec<usize> = (0..features.len()).collect();
        order.sort_by(|&a, &b| correlations[b].abs().total_cmp(&correlations[a].abs()));
        Ok(Self {
            correlations,
            order,
        })
    }

    /// A model of `family`: one weight per feature.
    pub fn weights(&self, family: Family, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let mut weights = vec![0.0; self.correlations.len()];
        match family {
            Family::TopFeatures(k) => {
                for &f in self.order.iter().take(k) {
                    weights[f] = self.correlations[f];
                }
            }
            Family::AllFeatures => weights.clone_from(&self.correlations),
            Family::Random => {
                for weight in &mut weights {
                    *weight = rng.random_range(-1.0..1.0);
                }
            }
            Family::Contrarian => {
                for &f in self.order.iter().take(5) {
                    weights[f] = -self.correlations[f];
                }
            }
        }
        weights
    }
}

/// A model's raw predictions of each row: `Σ w·(feature − 2)` plus uniform noise of `noise`.
pub fn predict(weights: &[f64], features: &[&[f64]], noise: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let rows = features.first().map_or(0, |feature| feature.len());
    (0..rows)
        .map(|row| {
            let signal: f64 = weights
                .iter()
                .zip(features)
                .map(|(w, f)| w * (f[row] - 2.0))
                .sum();
            signal + noise * rng.random_range(-1.0..1.0)
        })
        .collect()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// Replaces values by their rank percentiles `(rank + 0.5) / n` (ties broken by position).
pub fn percentile_ranks(values: &mut [f64]) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let n = values.len() as f64;
    let mut ranked = vec![0.0; values.len()];
    for (rank, &row) in order.iter().enumerate() {
        ranked[row] = (rank as f64 + 0.5) / n;
    }
    values.copy_from_slice(&ranked);
}

/// A submission CSV; `flaw` 0, 1, 2 makes it invalid (wrong column, a NaN, ids missing).
pub fn csv(ids: &[String], values: &[f64], flaw: u32) -> Vec<u8> {
    let mut text = String::from(if flaw == 0 {
        "id,pred\n"
    } else {
        "id,prediction\n"
    });
    let rows = if flaw == 2 { ids.len() - 10 } else { ids.len() };
    for row in 0..rows {
        if flaw == 1 && row == 7 {
            text.push_str(&format!("{},\n", ids[row]));
        } else {
            text.push_str(&format!("{},{}\n", ids[row], values[row]));
        }
    }
    text.into_bytes()
}
