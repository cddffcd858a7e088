//! The optimizer on seeded random problems: constraints hold, TC equals central finite
//! differences of re-solved portfolios, and bad input is a named error or status.

use numerus_optimizer::{Constraints, Problem, ProblemError, Status, solve, true_contribution};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    problem: Problem,
    predictions: Vec<Vec<f64>>,
    stakes: Vec<f64>,
    returns: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller
    let (a, b): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

fn signal(predictions: &[Vec<f64>], stakes: &[f64]) -> Vec<f64> {
    let total: f64 = stakes.iter().sum();
    (0..predictions[0].len())
        .map(|i| {
            predictions
                .iter()
                .zip(stakes)
                .map(|(g, s)| s * g[i])
                .sum::<f64>()
                / total
        })
        .collect()
}

fn case(seed: u64, n: usize, factors: usize, groups: usize, models: usize) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let common: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
    let predictions: Vec<Vec<f64>> = (0..models)
        .map(|_| {
            common
                .iter()
                .map(|c| 0.6 * c + 0.8 * normal(&mut rng))
                .collect()
        })
        .collect();
    let stakes: Vec<f64> = (0..models).map(|_| rng.random_range(1.0..100.0)).collect();
    let problem = Problem {
        signal: signal(&predictions, &stakes),
        factors: (0..factors)
            .map(|f| (format!("f{f}"), (0..n).map(|_| normal(&mut rng)).collect()))
            .collect(),
        groups: (0..n).map(|i| i % groups.max(1)).collect(),
        group_names: (0..groups.max(1)).map(|g| format!("g{g}")).collect(),
    };
    let returns = (0..n)
        .map(|i| 0.02 * common[i] + 0.05 * normal(&mut rng))
        .collect();
    Case {
        problem,
        predictions,
        stakes,
        returns,
    }
}

fn constraints() -> Constraints {
    Constraints {
        gross: 1.0,
        net: 0.0,
        net_tolerance: 0.02,
        position_cap: 0.05,
        factor_tolerance: 0.05,
        group_tolerance: 0.05,
        risk_aversion: 0.5,
    }
}

#[test]
fn the_portfolio_keeps_every_constraint() {
    for seed in 0..5 {
        let case = case(seed, 120, 4, 5, 6);
        let config = constraints();
        let portfolio = solve(&case.problem, &config).unwrap();
        assert_eq!(portfolio.status, Status::Solved, "seed {seed}");
        let slack = 1e-7;
        assert!(portfolio.gross() <= config.gross + slack);
        assert!((portfolio.net() - config.net).abs() <= config.net_tolerance + slack);
        assert!(
            portfolio
                .weights
                .iter()
                .all(|w| w.abs() <= config.position_cap + slack)
        );
        for (name, column) in &case.problem.factors {
            let exposure: f64 = column
                .iter()
                .zip(&portfolio.weights)
                .map(|(b, w)| b * w)
                .sum();
            assert!(
                exposure.abs() <= config.factor_tolerance + slack,
                "{name}: {exposure}"
            );
        }
        for g in 0..case.problem.group_names.len() {
            let exposure: f64 = (0..case.problem.len())
                .filter(|&i| case.problem.groups[i] == g)
                .map(|i| portfolio.weights[i])
                .sum();
            assert!(exposure.abs() <= config.group_tolerance + slack);
        }
        // Long the signal: the weights point the way of the signal.
        let alignment: f64 = case
            .problem
            .signal
            .iter()
            .zip(&portfolio.weights)
            .map(|(s, w)| s * w)
            .sum();
        assert!(alignment > 0.0);
    }
}

fn realized(case: &Case, stakes: &[f64], config: &Constraints) -> f64 {
    let mut problem = case.problem.clone();
    problem.signal = signal(&case.predictions, stakes);
    let portfolio = solve(&problem, config).unwrap();
    assert_eq!(portfolio.status, Status::Solved);
    portfolio
        .weights
        .iter()
        .zip(&case.returns)
        .map(|(w, r)| w * r)
        .sum()
}

#[test]
fn tc_equals_central_finite_differences_of_re_solved_portfolios() {
    let mut checked = 0;
    for (seed, risk_aversion, gross) in [
        (11, 0.5, 1.0),
        (12, 2.0, 10.0),
        (13, 0.2, 0.6),
        (14, 1.0, 1.5),
    ] {
        let case = case(seed, 80, 3, 4, 8);
        let config = Constraints {
            risk_aversion,
            gross,
            ..constraints()
        };
        let portfolio = solve(&case.problem, &config).unwrap();
        assert_eq!(portfolio.status, Status::Solved);
        let tc = true_contribution(&case.problem, &portfolio, &case.returns, &case.predictions);
        let total: f64 = case.stakes.iter().sum();
        let scale = tc.iter().fold(0.0_f64, |m, t| m.max(t.abs()));
        for k in 0..case.stakes.len() {
            let h = 1e-6 * total;
            let mut up = case.stakes.clone();
            up[k] += h;
            let mut down = case.stakes.clone();
            down[k] -= h;
            let difference = (realized(&case, &up, &config) - realized(&case, &down, &config))
                / (2.0 * h)
                * total;
            assert!(
                (tc[k] - difference).abs() <= 1e-4 * scale + 1e-9,
                "seed {seed} model {k}: TC {} vs finite difference {difference} (scale {scale})",
                tc[k]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 32);
}

#[test]
fn a_model_that_is_the_meta_model_contributes_nothing() {
    let mut case = case(21, 60, 2, 3, 4);
    let meta = case.problem.signal.clone();
    case.predictions.push(meta);
    let portfolio = solve(&case.problem, &constraints()).unwrap();
    let tc = true_contribution(&case.problem, &portfolio, &case.returns, &case.predictions);
    assert!(tc[4].abs() < 1e-12, "{}", tc[4]);
    // Stake-weighted, the contributions cancel: Σ σ_k (g_k − s) = 0.
    let weighted: f64 = tc[..4].iter().zip(&case.stakes).map(|(t, s)| t * s).sum();
    assert!(
        weighted.abs() < 1e-9 * case.stakes.iter().sum::<f64>(),
        "{weighted}"
    );
}

#[test]
fn an_infeasible_config_is_a_status_naming_the_binding_constraint() {
    let case = case(31, 50, 2, 3, 3);
    let config = Constraints {
        gross: 0.1,
        net: 0.5,
        net_tolerance: 0.0,
        ..constraints()
    };
    let portfolio = solve(&case.problem, &config).unwrap();
    match &portfolio.status {
        Status::Infeasible { binding } => {
            assert!(
                binding
                    .iter()
                    .any(|b| b == "net exposure" || b == "gross exposure"),
                "{binding:?}"
            );
        }
        other => panic!("expected infeasible, got {other:?}"),
    }
    assert!(portfolio.weights.iter().all(|w| *w == 0.0));
}

#[test]
fn bad_input_is_a_named_error_never_a_panic() {
    let case = case(41, 30, 2, 3, 3);
    let mut short = case.problem.clone();
    short.factors[1].1.pop();
    assert!(matches!(
        solve(&short, &constraints()),
        Err(ProblemError::Length { .. })
    ));
    let mut nan = case.problem.clone();
    nan.factors[0].1[7] = f64::NAN;
    let error = solve(&nan, &constraints()).unwrap_err();
    assert_eq!(
        error,
        ProblemError::NotFinite {
            what: "factor f0".into(),
            row: 7
        }
    );
    let empty = Problem {
        signal: vec![],
        factors: vec![],
        groups: vec![],
        group_names: vec![],
    };
    assert_eq!(
        solve(&empty, &constraints()).unwrap_err(),
        ProblemError::Empty
    );
    let bad = Constraints {
        risk_aversion: 0.0,
        ..constraints()
    };
    assert!(matches!(
        solve(&case.problem, &bad),
        Err(ProblemError::Config(_))
    ));
}
