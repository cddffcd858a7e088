"""The peer of `cargo bench -p numerus-app --bench score_day`: numerai-tools 0.7.2 computing
one scoring day's CORR, MMC, BMC and FNC for submissions of the same shape (6,700 live ids,
40 features), one submission at a time as its API scores them. Prints seconds per
submission and the extrapolation to the benchmark's 25 rounds x 10,000 models.

    .venv/bin/python scripts/bench_score_day_peer.py [--rows 6700] [--features 40] [--submissions 200]
"""

import argparse
import time

import numpy as np
import pandas as pd
from numerai_tools.scoring import correlation_contribution, feature_neutral_corr, numerai_corr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6700)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    ids = pd.Index([f"n{i:015x}" for i in range(args.rows)], name="id").sort_values()
    target = pd.Series(
        rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=args.rows, p=[0.05, 0.2, 0.5, 0.2, 0.05]),
        index=ids,
        name="target",
    )
    meta = pd.Series(rng.random(args.rows), index=ids, name="numerai_meta_model")
    benchmark = pd.Series(rng.random(args.rows), index=ids, name="benchmark")
    features = pd.DataFrame(
        rng.integers(0, 5, size=(args.rows, args.features)).astype(float),
        index=ids,
        columns=[f"feature_{j}" for j in range(args.features)],
    )
    submissions = [
        pd.DataFrame({f"model_{k}": rng.random(args.rows)}, index=ids) for k in range(args.submissions)
    ]
    timings = {}
    for name, score in [
        ("corr", lambda p: numerai_corr(p, target)),
        ("mmc", lambda p: correlation_contribution(p, meta, target)),
        ("bmc", lambda p: correlation_contribution(p, benchmark, target)),
        ("fnc", lambda p: feature_neutral_corr(p, features, target)),
    ]:
        started = time.perf_counter()
        for p in submissions:  # noqa: B023
            score(p)
        timings[name] = (time.perf_counter() - started) / args.submissions
    total = sum(timings.values())
    for name, seconds in timings.items():
        print(f"{name:>5}: {seconds * 1e3:8.3f} ms per submission")
    print(f"all four: {total * 1e3:.3f} ms per submission; 25 rounds x 10,000 models: {total * 250_000:,.0f} s")


if __name__ == "__main__":
    main()
