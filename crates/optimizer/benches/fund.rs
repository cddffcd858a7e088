//! The fund at Numerai's scale: a portfolio of 5,000 stocks with 50 factors and 11 sectors,
//! and TC for 10,000 models, on seeded data.
//!
//! ```text
//! cargo bench -p numerus-optimizer --bench fund
//! NUMERUS_BENCH_STOCKS=5000 NUMERUS_BENCH_FACTORS=50 NUMERUS_BENCH_MODELS=10000 cargo bench -p numerus-optimizer --bench fund
//! ```

use std::time::Instant;

use numerus_optimizer::{Constraints, Problem, Status, solve, true_contribution};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (a, b): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

fn main() {
    let n = setting("NUMERUS_BENCH_STOCKS", 5_000);
    let factors = setting("NUMERUS_BENCH_FACTORS", 50);
    let sectors = 11;
    let models = setting("NUMERUS_BENCH_MODELS", 10_000);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let common: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
    let started = Instant::now();
    let predictions: Vec<Vec<f64>> = (0..models)
        .map(|_| common.iter().map(|c| 0.3 * c + normal(&mut rng)).collect())
        .collect();
    let stakes: Vec<f64> = (0..models)
        .map(|_| rng.random_range(1.0..1_000.0))
        .collect();
    let total: f64 = stakes.iter().sum();
    let signal: Vec<f64> = (0..n)
        .map(|i| {
            predictions
                .iter()
                .zip(&stakes)
                .map(|(g, s)| s * g[i])
                .sum::<f64>()
                / total
        })
        .collect();
    eprintln!(
        "{models} models × {n} stocks generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let problem = Problem {
        signal,
        factors: (0..factors)
            .map(|f| {
                (
                    format!("factor_{f}"),
                    (0..n).map(|_| normal(&mut rng)).collect(),
                )
            })
            .collect(),
        groups: (0..n).map(|_| rng.random_range(0..sectors)).collect(),
        group_names: (0..sectors).map(|g| format!("sector_{g}")).collect(),
    };
    let returns: Vec<f64> = (0..n)
        .map(|i| 0.01 * common[i] + 0.05 * normal(&mut rng))
        .collect();
    let constraints = Constraints {
        gross: 1.0,
        net: 0.0,
        net_tolerance: 0.01,
        position_cap: 0.002,
        factor_tolerance: 0.01,
        group_tolerance: 0.01,
        risk_aversion: 0.01,
    };
    let mut solves = Vec::new();
    let mut portfolio = None;
    for _ in 0..3 {
        let begin = Instant::now();
        let solved = solve(&problem, &constraints).expect("valid data");
        solves.push(begin.elapsed().as_secs_f64());
        portfolio = Some(solved);
    }
    let portfolio = portfolio.unwrap();
    assert_eq!(portfolio.status, Status::Solved, "{:?}", portfolio.status);
    let mut tcs = Vec::new();
    let mut tc = Vec::new();
    for _ in 0..3 {
        let begin = Instant::now();
        tc = true_contribution(&problem, &portfolio, &returns, &predictions);
        tcs.push(begin.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (solve_time, tc_time) = (median(solves.clone()), median(tcs.clone()));
    println!(
        "solve {n} stocks × {factors} factors × {sectors} sectors: median {:.3} s (runs {:?}), {} iterations, {} positions, gross {:.4}",
        solve_time,
        solves.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>(),
        portfolio.iterations,
        portfolio.positions(),
        portfolio.gross(),
    );
    println!(
        "TC for {models} models: median {:.3} s (runs {:?}); TC / solve = {:.3} (target < 10); mean TC {:.3e}",
        tc_time,
        tcs.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>(),
        tc_time / solve_time,
        tc.iter().sum::<f64>() / tc.len() as f64,
    );
}
