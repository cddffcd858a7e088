#!/usr/bin/env python3
"""Recompute a Numerus replay bundle (`numerus round export N --out DIR`) with numerai-tools.

Usage:
    .venv/bin/python scripts/bundle_check.py BUNDLE_DIR

Independently of Numerus, from the bundle's files alone (format `numerus-round/1`, see
crates/app/src/export.rs), it checks:

1. manifest.json: every listed file exists with its size and SHA-256 (and nothing else is
   in the bundle); submissions.json's sha256 match the submission files.
2. The meta model: each submission with at_risk > 0 (read with pandas, aligned to
   live.parquet's ids), tie-kept ranked and gaussianized (numerai-tools), averaged with
   its at-risk amount as weight (numerai-tools' stake_weight), equals meta_model.parquet's
   `numerai_meta_model` within 1e-12. Without meta_model.parquet nothing may be at risk.
3. scores.json: on every scoring day d >= 1, for every submission, numerai-tools'
   numerai_corr (corr), correlation_contribution with the meta model (mmc) and with
   live_example_preds.parquet (bmc), and feature_neutral_corr with every `feature_*`
   column of live.parquet (fnc), against targets/day_dd.parquet; on day 0 cwmm (Pearson
   correlation of the gaussianized tie-kept ranks of the submission and of the meta model)
   and mcwnm/apcwnm (max/mean of that correlation with every other, non-constant,
   submission). Each within 1e-9; a null must be a numerai-tools NaN or exception and
   vice versa.
4. payouts: round.json's payout factor, and per at-risk model the rate and the amounts
   of payouts.json, in exact decimal arithmetic (the rule of crates/ledger/src/staking.rs).

Every numerai-tools call is made the way a participant would make it: one submission at
a time, as a one-column DataFrame indexed by id (sorted, as numerai-tools asserts), with
Series indexed by id for the meta model, the benchmark and the target (NaN = unknown,
left for numerai-tools to filter), and the live features as a DataFrame indexed by id.

Exits 0 with a one-line summary when everything matches, 1 with the list of mismatches.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import traceback
import warnings
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

# One BLAS thread: a fixed summation order, and faster for numerai-tools' small solves.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402  (after the BLAS thread settings)
import pandas as pd  # noqa: E402
from numerai_tools import scoring as nt  # noqa: E402

FORMAT = "numerus-round/1"
META_TOLERANCE = 1e-12
SCORE_TOLERANCE = 1e-9
UNIT = 10**18  # base units per NMR, and the scale of a rate
PLACES = Decimal(1).scaleb(-18)
SHOWN_PER_SECTION = 60  # mismatches printed per section before "... and N more"


# --------------------------------------------------------------------------- reporting


class Report:
    """Mismatches by section, notes, and the largest |stored - recomputed| per quantity."""

    def __init__(self):
        self.sections = {}
        self.notes = []
        self.max_diff = {}

    def mismatch(self, section, text):
        self.sections.setdefault(section, []).append(text)

    def note(self, text):
        self.notes.append(text)

    def diff(self, name, value):
        if value is not None and not math.isnan(value):
            self.max_diff[name] = max(self.max_diff.get(name, 0.0), value)

    def count(self):
        return sum(len(items) for items in self.sections.values())


def fmt(value):
    if value is None:
        return "null"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    return str(value)


def explain(exc):
    """Exception text; for a bare assertion, the numerai-tools line that raised it."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if not str(exc):
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            text += f" ({os.path.basename(last.filename)}:{last.lineno}: {last.line})"
    return text


# --------------------------------------------------------------------------- reading


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(bundle, name, report):
    path = os.path.join(bundle, name)
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        report.mismatch("files", f"{name}: cannot read: {exc}")
        return None


def indexed_by_id(df, name, report):
    """A frame indexed by a unique, string `id` (from the index or an `id` column)."""
    if df.index.name != "id":
        if "id" not in df.columns:
            report.mismatch("files", f"{name}: no `id` index or column")
            return None
        df = df.set_index("id")
    df.index = df.index.astype(str)
    duplicated = df.index[df.index.duplicated()]
    if len(duplicated):
        report.mismatch("files", f"{name}: {len(duplicated)} duplicated ids, e.g. {duplicated[0]}")
        df = df[~df.index.duplicated()]
    return df


def read_parquet(bundle, name, report):
    path = os.path.join(bundle, name)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001  (any reader failure is a finding)
        report.mismatch("files", f"{name}: cannot read with pandas: {explain(exc)}")
        return None
    return indexed_by_id(df, name, report)


def same_ids(name, ids, live_ids, report, section):
    missing = live_ids.difference(ids)
    extra = ids.difference(live_ids)
    parts = [f"{len(ids_)} {what} (e.g. {', '.join(map(str, ids_[:3]))})"
             for ids_, what in ((missing, "live ids missing"), (extra, "ids not in live.parquet"))
             if len(ids_)]
    if parts:
        report.mismatch(section, f"{name}: ids differ from live.parquet's: {'; '.join(parts)}")


def units(text, what, report, section, signed=False):
    """An NMR or rate decimal string as an integer of 10^-18 units, or None."""
    try:
        value = Decimal(str(text))
    except (InvalidOperation, TypeError):
        report.mismatch(section, f"{what}: {text!r} is not a decimal")
        return None
    if not value.is_finite():
        report.mismatch(section, f"{what}: {text!r} is not finite")
        return None
    scaled = value.scaleb(18)
    if scaled != scaled.to_integral_value():
        report.mismatch(section, f"{what}: {text!r} has more than 18 decimal places")
        return None
    if scaled < 0 and not signed:
        report.mismatch(section, f"{what}: {text!r} is negative")
        return None
    return int(scaled)


def show_units(value):
    """10^-18 units as a plain decimal string."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), UNIT)
    fraction = f"{fraction:018d}".rstrip("0")
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


# --------------------------------------------------------------------------- 1. files


def check_manifest(bundle, report):
    manifest = read_json(bundle, "manifest.json", report)
    if manifest is None:
        return None
    if manifest.get("format") != FORMAT:
        report.mismatch("files", f"manifest.json: format {manifest.get('format')!r}, expected {FORMAT!r}")
    listed = set()
    for entry in manifest.get("files", []):
        name = entry.get("name")
        listed.add(name)
        path = os.path.join(bundle, name)
        if not os.path.isfile(path):
            report.mismatch("files", f"{name}: listed in manifest.json but absent")
            continue
        size = os.path.getsize(path)
        if size != entry.get("bytes"):
            report.mismatch("files", f"{name}: {size} bytes, manifest.json says {entry.get('bytes')}")
        digest = sha256_of(path)
        if digest != entry.get("sha256"):
            report.mismatch("files", f"{name}: SHA-256 {digest}, manifest.json says {entry.get('sha256')}")
    for root, _, names in os.walk(bundle):
        for file in names:
            name = os.path.relpath(os.path.join(root, file), bundle).replace(os.sep, "/")
            if name != "manifest.json" and name not in listed:
                report.mismatch("files", f"{name}: in the bundle but not listed in manifest.json")
    return manifest


def check_submission_hashes(bundle, submissions, listed, report):
    for sub in submissions:
        name = sub["file"]
        path = os.path.join(bundle, name)
        if not os.path.isfile(path):
            report.mismatch("files", f"submissions.json: submission {sub['submission']}'s file {name} is absent")
            continue
        if name not in listed:
            report.mismatch("files", f"submissions.json: {name} is not listed in manifest.json")
        digest = sha256_of(path)
        if digest != sub["sha256"]:
            report.mismatch("files", f"submissions.json: {name} has SHA-256 {digest}, "
                                     f"submissions.json says {sub['sha256']}")


# --------------------------------------------------------------------------- 2. meta model


def read_submission(bundle, sub, live_ids, report):
    """The submission's predictions as a float Series indexed by live id (sorted)."""
    name = sub["file"]
    path = os.path.join(bundle, name)
    try:
        if name.endswith(".csv"):
            df = pd.read_csv(path, dtype={"id": str})
        elif name.endswith(".parquet"):
            df = pd.read_parquet(path)
        else:
            report.mismatch("predictions", f"{name}: neither CSV nor Parquet")
            return None
    except Exception as exc:  # noqa: BLE001
        report.mismatch("predictions", f"{name}: cannot read with pandas: {explain(exc)}")
        return None
    df = indexed_by_id(df, name, report)
    if df is None:
        return None
    if "prediction" not in df.columns:
        report.mismatch("predictions", f"{name}: no `prediction` column (has {list(df.columns)})")
        return None
    same_ids(name, df.index, live_ids, report, "predictions")
    preds = df["prediction"].astype("float64").reindex(live_ids)
    if preds.isna().any():
        report.mismatch("predictions", f"{name}: {int(preds.isna().sum())} live ids have no "
                                       f"(or a NaN) prediction; Numerus scores complete files only")
    return preds


def gaussianized(frame):
    """numerai-tools' tie-kept rank, (r - 0.5)/n, then the normal quantile."""
    return nt.gaussian(nt.tie_kept_rank(frame))


def check_meta_model(bundle, submissions, predictions, live_ids, report):
    """Returns the stored meta model (Series by id, sorted) or None."""
    weights = {}
    for sub in submissions:
        at_risk = units(sub["at_risk"], f"submissions.json submission {sub['submission']} at_risk",
                        report, "meta model")
        if at_risk:
            weights[str(sub["submission"])] = at_risk
    path = os.path.join(bundle, "meta_model.parquet")
    if not os.path.exists(path):
        if weights:
            report.mismatch("meta model", f"no meta_model.parquet, but {len(weights)} submissions are at "
                                          f"risk: {sorted(weights, key=int)}")
        return None
    stored = read_parquet(bundle, "meta_model.parquet", report)
    if stored is None:
        return None
    if "numerai_meta_model" not in stored.columns:
        report.mismatch("meta model", "meta_model.parquet has no numerai_meta_model column")
        return None
    same_ids("meta_model.parquet", stored.index, live_ids, report, "meta model")
    stored = stored["numerai_meta_model"].astype("float64").reindex(live_ids)
    if not weights:
        report.mismatch("meta model", "meta_model.parquet exists but no submission is at risk")
        return stored
    usable = [s for s in weights if predictions.get(s) is not None]
    if len(usable) < len(weights):
        report.mismatch("meta model", "cannot recompute: an at-risk submission could not be read")
        return stored
    # Weights as Numerus takes them: base units / 10^18 as f64 (no money is computed from them).
    stakes = pd.Series({s: float(weights[s]) / 1e18 for s in usable}, dtype="float64")
    frame = pd.DataFrame({s: predictions[s] for s in usable})
    recomputed = nt.stake_weight(gaussianized(frame), stakes)
    diff = (recomputed - stored).abs()
    if diff.isna().any():
        report.mismatch("meta model", f"meta_model.parquet: {int(diff.isna().sum())} ids NaN in the stored "
                                      f"or the recomputed meta model")
    worst = float(diff.max())
    report.diff("meta_model", worst)
    bad = diff[diff > META_TOLERANCE].sort_values(ascending=False)
    for id_, d in bad.head(5).items():
        report.mismatch("meta model", f"meta_model.parquet id {id_}: stored {stored[id_]!r} vs recomputed "
                                      f"{recomputed[id_]!r} (|diff| {d:.3g} > {META_TOLERANCE:g})")
    if len(bad) > 5:
        report.mismatch("meta model", f"... {len(bad) - 5} more ids beyond {META_TOLERANCE:g}")
    return stored


# --------------------------------------------------------------------------- 3. scores


def reference(call):
    """numerai-tools' value, or (NaN, why) when it is NaN/infinite or raises."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = call()
        value = float(result.iloc[0]) if isinstance(result, pd.Series) else float(result)
    except Exception as exc:  # noqa: BLE001  (an exception is an undefined score)
        return math.nan, explain(exc)
    if not math.isfinite(value):
        return math.nan, f"numerai-tools returned {value}"
    return value, None


def compare(report, where, name, stored, ref, why, tolerance=SCORE_TOLERANCE):
    if stored is None:
        if not math.isnan(ref):
            report.mismatch("scores", f"{where} {name}: stored null, numerai-tools {ref!r}")
        return
    if not isinstance(stored, (int, float)) or isinstance(stored, bool):
        report.mismatch("scores", f"{where} {name}: stored {stored!r} is not a number")
        return
    if math.isnan(ref):
        report.mismatch("scores", f"{where} {name}: stored {stored!r}, numerai-tools undefined ({why})")
        return
    d = abs(float(stored) - ref)
    report.diff(name, d)
    if not d <= tolerance:
        report.mismatch("scores", f"{where} {name}: stored {float(stored)!r} vs numerai-tools {ref!r} "
                                  f"(|diff| {d:.3g} > {tolerance:g})")


def day_zero_references(predictions, order, meta_model):
    """{submission: {cwmm, mcwnm, apcwnm: (value, why)}} from gaussianized tie-kept ranks."""
    ready = [s for s in order if predictions.get(s) is not None and not predictions[s].isna().any()]
    out = {s: {} for s in order}
    for s in order:
        if s not in ready:
            for name in ("cwmm", "mcwnm", "apcwnm"):
                out[s][name] = (math.nan, "submission unreadable or incomplete")
    if not ready:
        return out
    G = gaussianized(pd.DataFrame({s: predictions[s] for s in ready}))
    constant = {s for s in ready if G[s].nunique() <= 1}
    if meta_model is not None:
        g_meta = gaussianized(meta_model.to_frame())["numerai_meta_model"]
    for s in ready:
        if meta_model is None:
            out[s]["cwmm"] = (math.nan, "no meta model")
        else:
            out[s]["cwmm"] = reference(lambda s=s: nt.pearson_correlation(g_meta, G[s]))
        others = [o for o in ready if o != s and o not in constant]
        if s in constant:
            out[s]["mcwnm"] = out[s]["apcwnm"] = (math.nan, "constant submission")
        elif not others:
            out[s]["mcwnm"] = out[s]["apcwnm"] = (math.nan, "no other non-constant submission")
        else:
            peers = np.array([np.corrcoef(G[s].to_numpy(), G[o].to_numpy())[0, 1] for o in others])
            out[s]["mcwnm"] = (float(peers.max()), None)
            out[s]["apcwnm"] = (float(peers.mean()), None)
    return out


def day_references(predictions, order, target, meta_model, benchmark, features):
    """{submission: {corr, mmc, bmc, fnc: (value, why)}} from numerai-tools."""
    out = {}
    for s in order:
        preds = predictions.get(s)
        if preds is None:
            out[s] = {n: (math.nan, "submission unreadable") for n in ("corr", "mmc", "bmc", "fnc")}
            continue
        frame = preds.to_frame(s)  # one column, indexed by id, sorted
        out[s] = {
            "corr": reference(lambda: nt.numerai_corr(frame, target)),
            "mmc": (math.nan, "no meta model") if meta_model is None else
            reference(lambda: nt.correlation_contribution(frame, meta_model, target)),
            "bmc": reference(lambda: nt.correlation_contribution(frame, benchmark, target)),
            "fnc": reference(lambda: nt.feature_neutral_corr(frame, features, target)),
        }
    return out


def check_scores(bundle, summary, submissions, predictions, meta_model, live, live_ids, report):
    scores = read_json(bundle, "scores.json", report)
    if scores is None:
        return None
    number = summary.get("round")
    days = int(summary.get("scoring_days", 0))
    daily_names = list(summary.get("daily_scores", ["corr", "mmc", "bmc", "fnc"]))
    round_names = list(summary.get("round_scores", ["cwmm", "mcwnm", "apcwnm"]))
    by_sub = {str(s["submission"]): s for s in submissions}
    order = list(by_sub)

    stored = {}
    for entry in scores:
        key = (entry.get("day"), str(entry.get("submission")))
        where = f"scores.json day {entry.get('day')} submission {entry.get('submission')}"
        if entry.get("round") != number:
            report.mismatch("scores", f"{where}: round {entry.get('round')}, the bundle is round {number}")
        if key[1] not in by_sub:
            report.mismatch("scores", f"{where}: not a submission of submissions.json")
            continue
        if entry.get("model") != by_sub[key[1]]["model"]:
            report.mismatch("scores", f"{where}: model {entry.get('model')}, submissions.json says "
                                      f"{by_sub[key[1]]['model']}")
        if not isinstance(key[0], int) or not 0 <= key[0] <= days:
            report.mismatch("scores", f"{where}: day outside 0..{days}")
            continue
        if key in stored:
            report.mismatch("scores", f"{where}: listed twice")
        stored[key] = entry.get("values", {})

    def label(s, day):
        sub = by_sub[s]
        return f"day {day} model {sub['model']} ({sub['model_name']}, submission {s})"

    # Day 0: the return-independent scores.
    refs = day_zero_references(predictions, order, meta_model)
    for s in order:
        values = stored.get((0, s))
        if values is None:
            report.mismatch("scores", f"scores.json: no day 0 entry for {label(s, 0)}")
            continue
        if set(values) != set(round_names):
            report.mismatch("scores", f"scores.json {label(s, 0)}: names {sorted(values)}, expected {sorted(round_names)}")
        for name in round_names:
            if name in refs[s]:
                compare(report, f"scores.json {label(s, 0)}", name, values.get(name), *refs[s][name])

    # Days 1..N: the daily scores, with each day's target.
    benchmark_df = read_parquet(bundle, "live_example_preds.parquet", report)
    benchmark = None
    if benchmark_df is not None:
        if "prediction" in benchmark_df.columns:
            same_ids("live_example_preds.parquet", benchmark_df.index, live_ids, report, "scores")
            benchmark = benchmark_df["prediction"].astype("float64").sort_index()
        else:
            report.mismatch("files", "live_example_preds.parquet has no `prediction` column")
    features = live[[c for c in live.columns if c.startswith("feature_")]].sort_index()
    for day in range(1, days + 1):
        name = f"targets/day_{day:02d}.parquet"
        target_df = read_parquet(bundle, name, report)
        target = None
        if target_df is not None and "target" in target_df.columns:
            same_ids(name, target_df.index, live_ids, report, "scores")
            target = target_df["target"].astype("float64").sort_index()
        elif target_df is not None:
            report.mismatch("files", f"{name} has no `target` column")
        if target is not None:
            bench = benchmark if benchmark is not None else pd.Series(dtype="float64", name="prediction")
            refs = day_references(predictions, order, target, meta_model, bench, features)
            unknown = int(target.isna().sum())
            if unknown:
                report.note(f"day {day}: {unknown} of {len(target)} targets unknown (NaN)")
        for s in order:
            values = stored.get((day, s))
            if values is None:
                report.mismatch("scores", f"scores.json: no entry for {label(s, day)}")
                continue
            if set(values) != set(daily_names):
                report.mismatch("scores", f"scores.json {label(s, day)}: names {sorted(values)}, "
                                          f"expected {sorted(daily_names)}")
            if target is None:
                continue
            for metric in daily_names:
                if metric in refs[s]:
                    compare(report, f"scores.json {label(s, day)}", metric, values.get(metric), *refs[s][metric])
                else:
                    report.note(f"score {metric!r} has no numerai-tools recomputation here; not checked")
    return stored


# --------------------------------------------------------------------------- 4. payouts


def score_rate(value):
    """A stored f64 score as the ledger takes it: shortest repr, half-even to 18 places."""
    if value is None:
        return Decimal(0)
    return Decimal(repr(float(value))).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def check_payouts(bundle, summary, submissions, stored, report):
    section = "payouts"
    payouts = read_json(bundle, "payouts.json", report)
    if payouts is None or stored is None:
        return
    config = summary.get("payout") or {}
    multipliers = config.get("multipliers") or {}
    with localcontext() as ctx:
        ctx.prec = 200
        clip = units(config.get("clip"), "round.json payout.clip", report, section)
        threshold = units(config.get("stake_threshold"), "round.json payout.stake_threshold", report, section)
        total = units(summary.get("total_at_risk"), "round.json total_at_risk", report, section)
        factor = units(summary.get("payout_factor"), "round.json payout_factor", report, section)
        mults = {n: units(m, f"round.json payout.multipliers.{n}", report, section, signed=True)
                 for n, m in multipliers.items()}
        if None in (clip, threshold, total, factor) or None in mults.values():
            return

        # The payout factor: min(1, threshold / total), toward zero; 1 when nothing is at risk.
        expected_factor = UNIT if total == 0 or threshold >= total else threshold * UNIT // total
        if factor != expected_factor:
            report.mismatch(section, f"round.json payout_factor {summary['payout_factor']}, expected "
                                     f"min(1, {config['stake_threshold']}/{summary['total_at_risk']}) "
                                     f"toward zero = {show_units(expected_factor)}")

        at_risk = {}
        for sub in submissions:
            amount = units(sub["at_risk"], f"submissions.json submission {sub['submission']} at_risk",
                           report, section)
            if amount:
                if sub["model"] in at_risk:
                    report.mismatch(section, f"model {sub['model']} has two at-risk submissions")
                at_risk[sub["model"]] = (amount, sub)
        if sum(a for a, _ in at_risk.values()) != total:
            report.mismatch(section, f"round.json total_at_risk {summary['total_at_risk']}, but the at-risk "
                                     f"amounts of submissions.json sum to "
                                     f"{show_units(sum(a for a, _ in at_risk.values()))}")

        last = int(summary.get("scoring_days", 0))
        subs_of_model = {}
        for sub in submissions:
            subs_of_model.setdefault(sub["model"], []).append(str(sub["submission"]))
        seen = set()
        for row in payouts:
            model = row.get("model")
            where = f"payouts.json model {model}"
            if model in seen:
                report.mismatch(section, f"{where}: listed twice")
            seen.add(model)
            amount = units(row.get("at_risk"), f"{where} at_risk", report, section)
            earning = units(row.get("earning_at_risk"), f"{where} earning_at_risk", report, section)
            paid = units(row.get("paid"), f"{where} paid", report, section)
            from_stake = units(row.get("burned_from_stake"), f"{where} burned_from_stake", report, section)
            from_pending = units(row.get("burned_from_pending"), f"{where} burned_from_pending", report, section)
            rate = units(row.get("rate"), f"{where} rate", report, section, signed=True)
            if None in (amount, earning, paid, from_stake, from_pending, rate):
                continue
            listed = at_risk.get(model, (0, None))[0]
            if amount != listed:
                report.mismatch(section, f"{where}: at_risk {row['at_risk']}, submissions.json says {show_units(listed)}")
            if earning > amount:
                report.mismatch(section, f"{where}: earning_at_risk {row['earning_at_risk']} exceeds at_risk {row['at_risk']}")
            if amount == 0:
                if paid or from_stake or from_pending:
                    report.mismatch(section, f"{where}: nothing at risk, yet paid {row['paid']}, burned "
                                             f"{row['burned_from_stake']} + {row['burned_from_pending']}")
                continue

            # The rate from the final day's stored scores.
            finals = [stored.get((last, s)) for s in subs_of_model.get(model, [])]
            finals = [f for f in finals if f is not None]
            if len(finals) != 1:
                report.mismatch(section, f"{where}: {len(finals)} day-{last} score entries (expected 1)")
                continue
            weighted = sum((Decimal(m) * score_rate(finals[0].get(n)) for n, m in mults.items()),
                           Decimal(0)) / UNIT  # multipliers are in units; scores in NMR-scale
            exact = Decimal(factor) / UNIT * weighted
            limit = Decimal(clip) / UNIT
            exact = max(-limit, min(limit, exact))
            expected_rate = int(exact.scaleb(18).to_integral_value(rounding=ROUND_DOWN))
            if rate != expected_rate:
                parts = ", ".join(f"{n}={fmt(finals[0].get(n))}" for n in mults)
                report.mismatch(section, f"{where}: rate {row['rate']}, expected {show_units(expected_rate)} "
                                         f"= clip({show_units(factor)} x sum(multiplier x score), +-{config['clip']}) "
                                         f"with day-{last} scores {parts}")
            # The amounts follow the stored rate (a wrong rate is reported above).

            if rate >= 0:
                expected_paid = earning * rate // UNIT
                if paid != expected_paid:
                    report.mismatch(section, f"{where}: paid {row['paid']}, expected floor({row['earning_at_risk']} x "
                                             f"{row['rate']}) = {show_units(expected_paid)}")
                if from_stake or from_pending:
                    report.mismatch(section, f"{where}: rate {row['rate']} >= 0 but burned "
                                             f"{row['burned_from_stake']} + {row['burned_from_pending']}")
            else:
                burn = amount * (-rate) // UNIT
                burned = from_stake + from_pending
                if paid:
                    report.mismatch(section, f"{where}: rate {row['rate']} < 0 but paid {row['paid']}")
                if burned > burn:
                    report.mismatch(section, f"{where}: burned {show_units(burned)} (stake {row['burned_from_stake']} "
                                             f"+ pending {row['burned_from_pending']}) exceeds "
                                             f"{row['at_risk']} x |{row['rate']}| = {show_units(burn)}")
                elif burned < burn:
                    report.note(f"model {model}: burned {show_units(burned)} of {show_units(burn)} "
                                f"(the stake and pending releases ran out)")
        for model in sorted(set(at_risk) - seen):
            report.mismatch(section, f"payouts.json: no entry for at-risk model {model} "
                                     f"(submission {at_risk[model][1]['submission']})")


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="a replay bundle directory (numerus round export N --out DIR)")
    args = parser.parse_args()
    bundle = args.bundle
    report = Report()

    if not os.path.isdir(bundle):
        print(f"{bundle}: not a directory", file=sys.stderr)
        return 1
    manifest = check_manifest(bundle, report)
    listed = {f.get("name") for f in (manifest or {}).get("files", [])}
    summary = read_json(bundle, "round.json", report) or {}
    submissions = read_json(bundle, "submissions.json", report) or []
    if summary.get("format") != FORMAT:
        report.mismatch("files", f"round.json: format {summary.get('format')!r}, expected {FORMAT!r}")
    if manifest is not None and manifest.get("round") != summary.get("round"):
        report.mismatch("files", f"manifest.json round {manifest.get('round')}, round.json round {summary.get('round')}")
    check_submission_hashes(bundle, submissions, listed, report)

    live = read_parquet(bundle, "live.parquet", report)
    stored = None
    if live is not None:
        live = live.sort_index()
        live_ids = live.index
        predictions = {str(s["submission"]): read_submission(bundle, s, live_ids, report) for s in submissions}
        meta_model = check_meta_model(bundle, submissions, predictions, live_ids, report)
        if meta_model is not None:
            meta_model = meta_model.sort_index()
        stored = check_scores(bundle, summary, submissions, predictions, meta_model, live, live_ids, report)
    check_payouts(bundle, summary, submissions, stored, report)

    for note in dict.fromkeys(report.notes):
        print(f"note: {note}")
    diffs = ", ".join(f"{name} {report.max_diff[name]:.2g}"
                      for name in ("meta_model", "corr", "mmc", "bmc", "fnc", "cwmm", "mcwnm", "apcwnm")
                      if name in report.max_diff)
    head = (f"round {summary.get('round')}: {len(submissions)} submissions, "
            f"{summary.get('scoring_days')} scoring days; max |diff| {diffs or 'n/a'}")
    if report.count() == 0:
        print(f"OK {head}; payouts exact")
        return 0
    print(f"MISMATCH {head}")
    for section, items in report.sections.items():
        print(f"\n{section}: {len(items)} mismatch{'es' if len(items) != 1 else ''}")
        for item in items[:SHOWN_PER_SECTION]:
            print(f"  - {item}")
        if len(items) > SHOWN_PER_SECTION:
            print(f"  ... and {len(items) - SHOWN_PER_SECTION} more")
    print(f"\n{report.count()} mismatches in {bundle}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
