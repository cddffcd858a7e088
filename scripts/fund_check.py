#!/usr/bin/env python3
"""Cross-check of the fund's optimizer with cvxpy (from PyPI).

For seeded random problems (signal, factor exposures, sectors, constraints) it runs
`numerus fund solve` on CSV files and solves the same portfolio with cvxpy, written
independently in the weights alone:

    minimize   ½·γ·‖w‖² − sᵀw
    subject to ‖w‖₁ ≤ gross, |Σw − net| ≤ net_tolerance, |w| ≤ cap,
               |Bᵀw| ≤ factor_tolerance, |Σ_{i∈g} w_i| ≤ group_tolerance

(Numerus splits w = u − v; at the optimum the two agree.) Weights must agree within 1e-6
and objectives within 1e-7 relative; an infeasible config must be infeasible for both.

    scripts/fund-check                 # the checks
    scripts/fund-check --bench         # also time both on 5,000 stocks x 50 factors x 11 sectors
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd


def problem(seed: int, n: int, factors: int, sectors: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "ids": [f"s{i:05d}" for i in range(n)],
        "signal": rng.standard_normal(n),
        "exposures": rng.standard_normal((n, factors)),
        "groups": rng.integers(0, sectors, n),
        "config": {
            "gross": float(rng.choice([0.5, 1.0, 2.0])),
            "net": 0.0,
            "net_tolerance": float(rng.choice([0.0, 0.01, 0.05])),
            "position_cap": float(rng.choice([0.01, 0.02, 0.05])),
            "factor_tolerance": float(rng.choice([0.005, 0.02])),
            "group_tolerance": float(rng.choice([0.0, 0.01])),
            "risk_aversion": float(rng.choice([0.05, 0.5, 2.0])),
        },
    }


def write(p: dict, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": p["ids"], "signal": p["signal"]}).to_csv(work / "signal.csv", index=False)
    exposures = pd.DataFrame(p["exposures"], columns=[f"factor_{f}" for f in range(p["exposures"].shape[1])])
    exposures.insert(0, "group", [f"sector_{g}" for g in p["groups"]])
    exposures.insert(0, "id", p["ids"])
    exposures.to_csv(work / "exposures.csv", index=False)
    (work / "config.toml").write_text("".join(f"{k} = {v!r}\n" for k, v in p["config"].items()))


def numerus_solve(numerus: Path, work: Path) -> tuple[dict, np.ndarray | None, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(numerus), "fund", "solve", "--signal", str(work / "signal.csv"),
         "--exposures", str(work / "exposures.csv"), "--config", str(work / "config.toml"),
         "--out", str(work / "out")],
        capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    report_path = work / "out" / "portfolio.json"
    if not report_path.exists():
        raise SystemExit(f"numerus fund solve failed: {done.stderr}")
    report = json.loads(report_path.read_text())
    weights = None
    if report["status"] in ("solved", "almost_solved"):
        weights = pd.read_csv(work / "out" / "weights.csv")["weight"].to_numpy()
    return report, weights, elapsed


def cvxpy_solve(p: dict) -> tuple[str, np.ndarray | None, float | None, float]:
    c = p["config"]
    n = len(p["signal"])
    w = cp.Variable(n)
    constraints = [
        cp.norm1(w) <= c["gross"],
        cp.abs(cp.sum(w) - c["net"]) <= c["net_tolerance"],
        cp.abs(w) <= c["position_cap"],
        cp.abs(p["exposures"].T @ w) <= c["factor_tolerance"],
    ]
    for g in np.unique(p["groups"]):
        constraints.append(cp.abs(cp.sum(w[p["groups"] == g])) <= c["group_tolerance"])
    objective = cp.Minimize(0.5 * c["risk_aversion"] * cp.sum_squares(w) - p["signal"] @ w)
    problem = cp.Problem(objective, constraints)
    started = time.perf_counter()
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    elapsed = time.perf_counter() - started
    if problem.status in ("optimal", "optimal_inaccurate"):
        return problem.status, w.value, problem.value, elapsed
    return problem.status, None, None, elapsed


def check(numerus: Path, work: Path, seeds: range) -> int:
    failures = 0
    for seed in seeds:
        p = problem(seed, n=300, factors=6, sectors=5)
        write(p, work / f"seed{seed}")
        report, weights, _ = numerus_solve(numerus, work / f"seed{seed}")
        status, reference, value, _ = cvxpy_solve(p)
        if weights is None or reference is None:
            both = weights is None and status.startswith("infeasible")
            print(f"{'PASS' if both else 'FAIL'} seed {seed}: numerus {report['status']}, cvxpy {status}")
            failures += not both
            continue
        difference = float(np.max(np.abs(weights - reference)))
        relative = abs(report["objective"] - value) / max(1.0, abs(value))
        ok = difference <= 1e-6 and relative <= 1e-7
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} seed {seed}: max |Δw| {difference:.2e}, objective "
              f"{report['objective']:.10f} vs {value:.10f} (rel {relative:.1e}), "
              f"{report['positions']} positions, gross {report['gross']:.4f}, config {p['config']}")
    # An infeasible config: net 0.5 within a gross of 0.1.
    p = problem(99, n=100, factors=3, sectors=3)
    p["config"].update(gross=0.1, net=0.5, net_tolerance=0.0)
    write(p, work / "infeasible")
    report, weights, _ = numerus_solve(numerus, work / "infeasible")
    status, _, _, _ = cvxpy_solve(p)
    ok = "infeasible" in json.dumps(report["status"]) and status.startswith("infeasible")
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} infeasible config: numerus {report['status']}, cvxpy {status}")
    return failures


def bench(numerus: Path, work: Path) -> None:
    p = problem(2026, n=5_000, factors=50, sectors=11)
    p["config"].update(gross=1.0, net_tolerance=0.01, position_cap=0.002, factor_tolerance=0.01,
                       group_tolerance=0.01, risk_aversion=0.01)
    write(p, work / "bench")
    runs = []
    for _ in range(3):
        report, weights, numerus_time = numerus_solve(numerus, work / "bench")
        status, reference, value, cvxpy_time = cvxpy_solve(p)
        runs.append((numerus_time, cvxpy_time))
    difference = float(np.max(np.abs(weights - reference)))
    numerus_median = sorted(r[0] for r in runs)[1]
    cvxpy_median = sorted(r[1] for r in runs)[1]
    print(f"bench 5000 x 50 x 11: numerus fund solve (whole command: read CSVs, solve, write) "
          f"median {numerus_median:.3f} s {[round(r[0], 3) for r in runs]}; cvxpy+Clarabel solve "
          f"median {cvxpy_median:.3f} s {[round(r[1], 3) for r in runs]}; ratio "
          f"{cvxpy_median / numerus_median:.2f}x; max |Δw| {difference:.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numerus", type=Path, default=Path("target/debug/numerus"))
    parser.add_argument("--bench", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="numerus-fund-check-") as tmp:
        failures = check(args.numerus, Path(tmp), range(1, 9))
        if args.bench:
            bench(args.numerus, Path(tmp))
    print("fund check: " + ("all passed" if not failures else f"{failures} failed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
