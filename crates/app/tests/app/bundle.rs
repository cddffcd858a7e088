//! A resolved round's replay bundle holds everything needed to recompute it: recomputed from
//! the bundle's files alone, one submission at a time, its scores and payouts are the stored
//! ones.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use faer::Mat;
use numerus_app::blobs::sha256_hex;
use numerus_frames::{ReadOptions, Table, read_table};
use numerus_ledger::staking::{PayoutConfig, payout_factor, payout_rate};
use numerus_ledger::{ModelId, Nmr, Rate};
use numerus_scoring::metrics;
use numerus_scoring::rank::{RankScale, RankScratch, rank_codes};
use numerus_tournament::records::DailyScore;
use serde_json::Value;

use crate::{
    FIRST, after, live_ids, market, predictions, run_to_resolution, schedule, scratch, service,
};

fn table(path: &Path) -> Table {
    read_table(
        path,
        &ReadOptions {
            text_columns: &["id", "era", "data_type"],
            select: None,
        },
    )
    .unwrap()
}

fn numbers<'t>(table: &'t Table, name: &str) -> &'t [f64] {
    table.column(name).unwrap().values.as_numbers().unwrap()
}

fn ids(table: &Table) -> &[String] {
    table.column("id").unwrap().values.as_text().unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_resolved_round_recomputes_from_its_bundle() {
    let dir = scratch("bundle");
    let mut service = service(&dir, 4);
    let round = schedule(FIRST);
    service.tick(market(), after(round.open, 1)).unwrap();
    let live = live_ids(&service, FIRST);
    for model in 1..=3 {
        service
            .upload(
                model,
                "p.csv",
                &predictions(&live, model),
                after(round.open, 2),
            )
            .unwrap();
    }
    service.tick(market(), after(round.close, 1)).unwrap();
    service
        .upload(4, "late.csv", &predictions(&live, 9), after(round.close, 2))
        .unwrap();
    let early = scratch("bundle_early").join("b");
    let refused = service.export_round(FIRST, &early).unwrap_err();
    assert!(refused.to_string().contains("not resolved"), "{refused}");
    run_to_resolution(&mut service, FIRST);
    let out = scratch("bundle_out").join("round");
    service.export_round(FIRST, &out).unwrap();

    // Every file is as the manifest says.
    let manifest = json(&out.join("manifest.json"));
    for file in manifest["files"].as_array().unwrap() {
        let bytes = std::fs::read(out.join(file["name"].as_str().unwrap())).unwrap();
        assert_eq!(sha256_hex(&bytes), file["sha256"].as_str().unwrap());
    }

    // Inputs, from the bundle only.
    let live_table = table(&out.join("live.parquet"));
    let live_ids = ids(&live_table).to_vec();
    let features: Vec<&[f64]> = live_table
        .columns
        .iter()
        .filter(|c| c.name.starts_with("feature_"))
        .map(|c| c.values.as_numbers().unwrap())
        .collect();
    let features = Mat::from_fn(live_ids.len(), features.len(), |r, c| features[c][r]);
    let aligned = |path: &Path, column: &str| -> Vec<f64> {
        let t = table(path);
        let found: HashMap<&str, f64> = ids(&t)
            .iter()
            .map(String::as_str)
            .zip(numbers(&t, column).iter().copied())
            .collect();
        live_ids
            .iter()
            .map(|id| found.get(id.as_str()).copied().unwrap_or(f64::NAN))
            .collect()
    };
    let benchmark = aligned(&out.join("live_example_preds.parquet"), "prediction");
    let submissions = json(&out.join("submissions.json"));
    let mut columns: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let mut at_risk: BTreeMap<u64, Nmr> = BTreeMap::new();
    for submission in submissions.as_array().unwrap() {
        let model = submission["model"].as_u64().unwrap();
        columns.insert(
            model,
            aligned(
                &out.join(submission["file"].as_str().unwrap()),
                "prediction",
            ),
        );
        at_risk.insert(
            model,
            submission["at_risk"].as_str().unwrap().parse().unwrap(),
        );
    }
    assert_eq!(columns.len(), 4);
    assert!(at_risk[&4].is_zero(), "the late submission is not at risk");

    // The meta model: tie-kept ranks, gaussianized, weighted by at-risk NMR.
    let scale = RankScale::new(live_ids.len());
    let mut meta = vec![0.0; live_ids.len()];
    let total: f64 = at_risk
        .values()
        .map(|nmr| nmr.base_units() as f64 / 1e18)
        .sum();
    for (model, column) in &columns {
        let weight = at_risk[model].base_units() as f64 / 1e18;
        let mut codes = vec![0; column.len()];
        rank_codes(column, &mut RankScratch::new(), &mut codes);
        for (m, code) in meta.iter_mut().zip(codes) {
            *m += weight * scale.gaussian(code) / total;
        }
    }
    let stored_meta = aligned(&out.join("meta_model.parquet"), "numerai_meta_model");
    for (a, b) in meta.iter().zip(&stored_meta) {
        assert!((a - b).abs() < 1e-12, "meta model {a} vs {b}");
    }

    // Every daily score, one submission at a time.
    let scores: Vec<DailyScore> = serde_json::from_value(json(&out.join("scores.json"))).unwrap();
    let mut checked = 0;
    for score in scores.iter().filter(|s| s.day > 0) {
        let target = aligned(
            &out.join(format!("targets/day_{:02}.parquet", score.day)),
            "target",
        );
        let p = &columns[&score.model];
        let expected = [
            ("corr", metrics::numerai_corr(p, &target)),
            ("mmc", metrics::mmc(p, &stored_meta, &target)),
            ("bmc", metrics::mmc(p, &benchmark, &target)),
            ("fnc", metrics::fnc(p, features.as_ref(), &target)),
        ];
        for (name, value) in expected {
            let stored = score.values[name].unwrap();
            assert!(
                (stored - value.unwrap()).abs() < 1e-12,
                "day {} {name}",
                score.day
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 4 * 20);

    // Payouts, by the formula, from the bundle's config and the final scores.
    let summary = json(&out.join("round.json"));
    let config: PayoutConfig = serde_json::from_value(summary["payout"].clone()).unwrap();
    let total_at_risk = at_risk
        .values()
        .fold(Nmr::ZERO, |sum, nmr| sum.checked_add(*nmr).unwrap());
    let factor = payout_factor(config.stake_threshold, total_at_risk);
    assert_eq!(
        summary["payout_factor"].as_str().unwrap(),
        factor.to_string()
    );
    let payouts = json(&out.join("payouts.json"));
    assert_eq!(payouts.as_array().unwrap().len(), 3);
    for payout in payouts.as_array().unwrap() {
        let model = payout["model"].as_u64().unwrap();
        let finals = scores
            .iter()
            .find(|s| s.day == 20 && s.model == model)
            .unwrap();
        let named: BTreeMap<String, Rate> = config
            .multipliers
            .keys()
            .map(|name| {
                (
                    name.clone(),
                    Rate::from_f64(finals.values[name].unwrap()).unwrap(),
                )
            })
            .collect();
        let rate = payout_rate(&config, factor, ModelId(model), &named).unwrap();
        assert_eq!(payout["rate"].as_str().unwrap(), rate.to_string());
        let amount = at_risk[&model].times_rate_toward_zero(rate);
        let paid: Nmr = payout["paid"].as_str().unwrap().parse().unwrap();
        let burned: Nmr = payout["burned_from_stake"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            amount.to_string(),
            if rate >= Rate::ZERO {
                paid.to_string()
            } else {
                format!("-{burned}")
            }
        );
    }
}
