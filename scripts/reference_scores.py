#!/usr/bin/env python3
"""Score a `numerus sample` directory with numerai-tools, the reference for parity.

Usage:
    python scripts/reference_scores.py DIR [--pairs FILE] [--benchmark-column C] --out ref.json

DIR holds data.parquet, predictions.parquet, meta_model.parquet,
benchmark.parquet, neutralizers.parquet, sample_weights.parquet and stakes.csv
(see `numerus sample`). The output has the "numerus-scores/1" shape of
`numerus score --out`, so scripts/parity.py can compare the two entry by entry.

Every metric is computed by numerai-tools (pinned in scripts/requirements.txt),
called per era on whole DataFrames indexed by id, exactly as the package is
meant to be used. Only feature_exposure's zero-std feature filter, cwmm, mcwnm,
apcwnm, the per-era bookkeeping and the summaries are computed here, from
numerai-tools primitives. When a whole-frame call raises, the metric is retried
one submission at a time so one bad column cannot hide the others. Whatever
numerai-tools returns as NaN/inf or raises is recorded under "undefined" with
code "reference_failed" and the exception text.

Inputs are joined on (era, id): within an era every frame is indexed by id and
sorted by id (numerai-tools asserts sorted indices), and the meta model,
benchmark, neutralizers and sample weights are restricted to the ids of the
era's predictions. Numeric columns are widened to float64 before scoring.
"""

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from itertools import combinations

# Single-threaded BLAS: numerai-tools solves many small least-squares problems, for
# which OpenBLAS threads are ~3x slower, and one thread fixes the summation order.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the BLAS thread settings)
import pandas as pd  # noqa: E402
from numerai_tools import scoring as nt
from numerai_tools import signals as nts

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import SCHEMA, summary_stats  # noqa: E402  (one summary definition for both sides)

PER_ERA_METRICS = (
    "numerai_corr", "mmc", "bmc", "fnc", "neutral_corr", "neutral_mmc", "alpha", "mpc",
    "feature_exposure", "cwmm", "mcwnm", "apcwnm",
)
CROSS_ERA_METRICS = ("churn", "turnover", "neutral_churn")
SERIES_METRICS = ("stake_weight", "stake_weight_ranked")
MAX_AUTO_PAIRS_SUBMISSIONS = 100
REFERENCE_FAILED = "reference_failed"


def quiet_warnings():
    """numerai-tools on edge cases (constant columns, tiny eras) is noisy; keep output readable."""
    for category in (RuntimeWarning, FutureWarning, DeprecationWarning, UserWarning,
                     pd.errors.PerformanceWarning):
        warnings.filterwarnings("ignore", category=category)
    np.seterr(all="ignore")


# --------------------------------------------------------------------------- inputs


@dataclass
class Era:
    """One era's inputs, each indexed by id and sorted by id."""
    name: str
    predictions: pd.DataFrame   # P_e: one column per submission
    target: pd.Series           # D_e.target over all data rows of the era (NaN kept)
    features: pd.DataFrame      # D_e features over all data rows of the era
    meta_model: pd.Series       # M_e
    benchmark: pd.Series        # B_e
    neutralizers: pd.DataFrame  # N_e
    sample_weights: pd.Series   # v_e

    @property
    def complete_ids(self):
        """F: ids of the predictions whose features are all non-NaN."""
        complete = self.features.index[self.features.notna().all(axis=1)]
        return self.predictions.index.intersection(complete).sort_values()


def read_frame(directory, name):
    """Reads NAME.parquet, or NAME.csv beside it when the sample was written as CSV."""
    path = os.path.join(directory, name)
    if os.path.exists(path):
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path.removesuffix(".parquet") + ".csv", dtype={"era": str, "id": str})
    df["era"] = df["era"].astype(str)
    df["id"] = df["id"].astype(str)
    if df.duplicated(["era", "id"]).any():
        raise SystemExit(f"{name}: duplicate (era, id) rows")
    value_cols = [c for c in df.columns if c not in ("era", "id")]
    df[value_cols] = df[value_cols].astype("float64")  # widen f32 exactly
    return df


def by_era(df, columns):
    """{era: frame of `columns` indexed by id, sorted by id}."""
    return {era: g.set_index("id")[columns].sort_index() for era, g in df.groupby("era", sort=True)}


def restrict(frames, era, ids, what):
    """Join an auxiliary file's era onto the prediction ids of that era (NaN where missing)."""
    frame = frames.get(era)
    if frame is None:
        frame = pd.DataFrame(columns=next(iter(frames.values())).columns, dtype="float64")
    missing = ids.difference(frame.index)
    if len(missing):
        print(f"warning: {what} lacks {len(missing)} prediction ids in era {era}", file=sys.stderr)
    return frame.reindex(ids)


def load_eras(directory, benchmark_column=None):
    """Read the sample directory into (eras in sorted order, submission names)."""
    data = read_frame(directory, "data.parquet")
    preds = read_frame(directory, "predictions.parquet")
    meta = read_frame(directory, "meta_model.parquet")
    bench = read_frame(directory, "benchmark.parquet")
    neut = read_frame(directory, "neutralizers.parquet")
    weights = read_frame(directory, "sample_weights.parquet")

    submissions = [c for c in preds.columns if c not in ("era", "id")]
    features = [c for c in data.columns if c.startswith("feature_")]
    bench_cols = sorted(c for c in bench.columns if c not in ("era", "id"))
    benchmark_column = benchmark_column or bench_cols[0]
    if benchmark_column not in bench_cols:
        raise SystemExit(f"benchmark column {benchmark_column!r} not in {bench_cols}")
    neut_cols = [c for c in neut.columns if c not in ("era", "id")]

    p_e, d_e = by_era(preds, submissions), by_era(data, features + ["target"])
    m_e, b_e = by_era(meta, ["numerai_meta_model"]), by_era(bench, [benchmark_column])
    n_e, w_e = by_era(neut, neut_cols), by_era(weights, ["sample_weight"])
    eras = []
    for name in sorted(p_e):
        p = p_e[name]
        d = d_e.get(name, pd.DataFrame(columns=features + ["target"], dtype="float64"))
        eras.append(Era(
            name=name,
            predictions=p,
            target=d["target"],
            features=d[features],
            meta_model=restrict(m_e, name, p.index, "meta_model")["numerai_meta_model"],
            benchmark=restrict(b_e, name, p.index, "benchmark")[benchmark_column],
            neutralizers=restrict(n_e, name, p.index, "neutralizers"),
            sample_weights=restrict(w_e, name, p.index, "sample_weights")["sample_weight"],
        ))
    return eras, submissions


def load_stakes(directory, submissions):
    """stakes.csv as a float Series indexed by submission, in the file's order."""
    df = pd.read_csv(os.path.join(directory, "stakes.csv"), dtype={"submission": str})
    unknown = set(df["submission"]) - set(submissions)
    if unknown:
        print(f"warning: stakes.csv names unknown submissions {sorted(unknown)}; ignored", file=sys.stderr)
    df = df[df["submission"].isin(submissions)]
    return pd.Series(df["stake"].astype("float64").values, index=pd.Index(df["submission"]), name="stake")


def load_pairs(path, submissions):
    """Pairs from a JSON list of [a, b], or all a<b in column order for <= 100 submissions."""
    if path is None:
        if len(submissions) > MAX_AUTO_PAIRS_SUBMISSIONS:
            return []
        return list(combinations(submissions, 2))
    with open(path) as fh:
        pairs = [tuple(map(str, pair)) for pair in json.load(fh)]
    for a, b in pairs:
        for s in (a, b):
            if s not in submissions:
                raise SystemExit(f"--pairs names unknown submission {s!r}")
    return pairs


# --------------------------------------------------------------------------- output


def explain(exc):
    """Exception text, with the raising numerai-tools line when the message is empty."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if not str(exc):
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            text += f" ({os.path.basename(last.filename)}:{last.lineno} in {last.name}: {last.line})"
    return text


class Output:
    """Collects values and undefined entries in the numerus-scores/1 shape."""

    def __init__(self):
        self.doc = {
            "schema": SCHEMA,
            "generator": "scripts/reference_scores.py (numerai-tools)",
            "per_era": {m: {} for m in PER_ERA_METRICS},
            "pairs": {"churn": {}},
            "cross_era": {m: {} for m in CROSS_ERA_METRICS},
            "series": {m: {} for m in SERIES_METRICS},
            "summary": {},
            "undefined": [],
        }

    def put(self, section, metric, era, key, value):
        """Store a number, or an undefined entry if numerai-tools gave NaN/inf."""
        value = float(value)
        if math.isfinite(value):
            self.doc[section][metric].setdefault(era, {})[str(key)] = value
        else:
            self.undefined(section, metric, era, key, f"numerai-tools returned {value}")

    def undefined(self, section, metric, era, key, reason):
        label = metric if section == "per_era" else f"{section}.{metric}"
        self.doc["undefined"].append({"metric": label, "era": era, "submission": str(key),
                                      "code": REFERENCE_FAILED, "reason": reason})

    def attempt(self, section, metric, era, key, compute):
        """put(compute()) or record why it failed."""
        try:
            value = compute()
        except Exception as exc:  # numerai-tools signals bad input with assertions and others
            self.undefined(section, metric, era, key, explain(exc))
        else:
            self.put(section, metric, era, key, value)

    def add_summaries(self):
        for metric, values in self.doc["per_era"].items():
            per_sub = {}
            for era in sorted(values):
                for sub, x in values[era].items():
                    per_sub.setdefault(sub, []).append(x)
            self.doc["summary"][metric] = {sub: summary_stats(xs) for sub, xs in per_sub.items()}


def score_columns(out, metric, era, submissions, fn):
    """Record fn(submissions) (a Series by submission), per submission if the whole call raises."""
    if not submissions:
        return
    try:
        scores = fn(list(submissions))
    except Exception:
        for s in submissions:
            out.attempt("per_era", metric, era, s, lambda s=s: fn([s]).loc[s])
        return
    for s in submissions:
        out.put("per_era", metric, era, s, scores.loc[s])


# --------------------------------------------------------------------------- per-era metrics


def per_era_numerai_tools(out, e, submissions):
    """The metrics numerai-tools has a function for, on whole frames."""
    P, t, N, v = e.predictions, e.target, e.neutralizers, e.sample_weights
    F = e.complete_ids
    X = e.features.loc[F]
    calls = {
        "numerai_corr": lambda cols: nt.numerai_corr(P[cols], t),
        "mmc": lambda cols: nt.correlation_contribution(P[cols], e.meta_model, t),
        "bmc": lambda cols: nt.correlation_contribution(P[cols], e.benchmark, t),
        "fnc": lambda cols: nt.feature_neutral_corr(P.loc[F, cols], X, t),
        "neutral_corr": lambda cols: nt.neutral_correlation(P[cols], N, t),
        "neutral_mmc": lambda cols: nt.neutral_contribution(P[cols], e.meta_model, N, t),
        "alpha": lambda cols: nt.alpha(P[cols], N, v, t),
    }
    for metric, fn in calls.items():
        score_columns(out, metric, e.name, submissions, fn)


def mpc(out, e, stakes):
    """meta_portfolio_contribution of the staked submissions as one portfolio."""
    staked = list(stakes.index)
    if not staked:
        return
    try:
        scores = nt.meta_portfolio_contribution(
            e.predictions[staked], stakes, e.neutralizers, e.sample_weights, e.target)
    except Exception as exc:  # the portfolio is all-or-nothing: no per-submission fallback
        for s in staked:
            out.undefined("per_era", "mpc", e.name, s, explain(exc))
        return
    for s in staked:
        out.put("per_era", "mpc", e.name, s, scores.loc[s])


def feature_exposure(out, e, submissions):
    """max_feature_correlation over the feature-complete rows, zero-std features skipped."""
    F = e.complete_ids
    X = e.features.loc[F]
    X = X.loc[:, X.nunique(dropna=False) > 1]
    for s in submissions:
        if X.shape[1] == 0:
            out.undefined("per_era", "feature_exposure", e.name, s,
                          "no feature has non-zero std on the feature-complete rows")
            continue
        out.attempt("per_era", "feature_exposure", e.name, s,
                    lambda s=s: nt.max_feature_correlation(e.predictions.loc[F, s], X)[1])


def gaussianized(frame):
    return nt.gaussian(nt.tie_kept_rank(frame))


def constant_columns(frame):
    return {c for c in frame.columns if frame[c].nunique(dropna=False) <= 1}


def correlation_with_others(out, e, submissions):
    """cwmm, and mcwnm/apcwnm (max/mean correlation with the other submissions)."""
    G = gaussianized(e.predictions[submissions])
    g_meta = gaussianized(e.meta_model.to_frame())["numerai_meta_model"]
    for s in submissions:
        out.attempt("per_era", "cwmm", e.name, s, lambda s=s: nt.pearson_correlation(g_meta, G[s]))
    constant = constant_columns(e.predictions[submissions])
    corr = G.corr(method="pearson")
    for s in submissions:
        others = [o for o in submissions if o != s and o not in constant]
        if s in constant:
            reason = "constant submission"
        elif not others:
            reason = "no other non-constant submission"
        else:
            out.put("per_era", "mcwnm", e.name, s, corr.loc[others, s].max())
            out.put("per_era", "apcwnm", e.name, s, corr.loc[others, s].mean())
            continue
        out.undefined("per_era", "mcwnm", e.name, s, reason)
        out.undefined("per_era", "apcwnm", e.name, s, reason)


def pair_churn(out, e, pairs):
    P = e.predictions
    for a, b in pairs:
        out.attempt("pairs", "churn", e.name, f"{a}|{b}", lambda a=a, b=b: nts.churn(P[a], P[b]))


def stake_weight_series(out, e, stakes):
    """The stake-weighted meta model per id, from raw and from tie-kept-ranked predictions."""
    inputs = {"stake_weight": e.predictions, "stake_weight_ranked": nt.tie_kept_rank(e.predictions)}
    for metric, P in inputs.items():
        try:
            series = nt.stake_weight(P, stakes)
        except Exception as exc:
            for i in P.index:
                out.undefined("series", metric, e.name, i, explain(exc))
            continue
        for i, x in series.items():
            out.put("series", metric, e.name, i, x)


def score_era(out, e, submissions, stakes, pairs):
    per_era_numerai_tools(out, e, submissions)
    mpc(out, e, stakes)
    feature_exposure(out, e, submissions)
    correlation_with_others(out, e, submissions)
    pair_churn(out, e, pairs)
    stake_weight_series(out, e, stakes)


# --------------------------------------------------------------------------- cross-era metrics


def neutralized_weights(e, submissions):
    """{submission: W column or the exception}, W over all of the era's rows."""
    def one(cols):
        return nt.generate_neutralized_weights(
            e.predictions[cols], e.neutralizers, e.sample_weights, center_and_normalize=True)
    try:
        W = one(submissions)
        return {s: W[s] for s in submissions}
    except Exception:
        result = {}
        for s in submissions:
            try:
                result[s] = one([s])[s]
            except Exception as exc:
                result[s] = exc
        return result


def turnover_of(w_cur, w_prev):
    """signals.turnover of two W columns, re-raising whatever made either W fail."""
    for w in (w_cur, w_prev):
        if isinstance(w, Exception):
            raise w
    return nts.turnover(w_cur, w_prev)


def score_cross_era(out, eras, submissions):
    """churn, turnover and neutral_churn of consecutive eras, keyed by the later era."""
    weights = {e.name: neutralized_weights(e, submissions) for e in eras}
    for prev, cur in zip(eras, eras[1:]):
        Pc, Pp = cur.predictions, prev.predictions
        for s in submissions:
            out.attempt("cross_era", "churn", cur.name, s, lambda s=s: nts.churn(Pc[s], Pp[s]))
            out.attempt("cross_era", "turnover", cur.name, s,
                        lambda s=s: turnover_of(weights[cur.name][s], weights[prev.name][s]))
            out.attempt("cross_era", "neutral_churn", cur.name, s,
                        lambda s=s: nts.neutral_churn(Pc[s], Pp[s], cur.neutralizers, prev.neutralizers))


# --------------------------------------------------------------------------- main


def reference_scores(directory, pairs_path=None, benchmark_column=None):
    eras, submissions = load_eras(directory, benchmark_column)
    stakes = load_stakes(directory, submissions)
    pairs = load_pairs(pairs_path, submissions)
    out = Output()
    for e in eras:
        score_era(out, e, submissions, stakes, pairs)
    score_cross_era(out, eras, submissions)
    out.add_summaries()
    return out.doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", help="a directory written by `numerus sample --out DIR`")
    ap.add_argument("--pairs", help="JSON list of [a, b] submission pairs for pairs.churn")
    ap.add_argument("--benchmark-column", help="benchmark.parquet column for BMC (default: first alphabetically)")
    ap.add_argument("--out", required=True, help="where to write ref.json")
    args = ap.parse_args(argv)
    quiet_warnings()
    started = time.perf_counter()
    doc = reference_scores(args.directory, args.pairs, args.benchmark_column)
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    values = sum(len(v) for sec in ("per_era", "pairs", "cross_era", "series")
                 for by_era in doc[sec].values() for v in by_era.values())
    print(f"wrote {args.out}: {values} values, {len(doc['undefined'])} undefined, "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
