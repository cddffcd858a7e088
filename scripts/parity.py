#!/usr/bin/env python3
"""Compare a Numerus scores.json with a numerai-tools reference, entry by entry.

Usage:
    python scripts/parity.py --numerus scores.json --reference ref.json [--tolerance 1e-9]
    python scripts/parity.py --self-test [--reference ref.json]

Both files have the "numerus-scores/1" shape (ref.json is written by
scripts/reference_scores.py). Every entry of per_era, pairs, cross_era, series
and summary is compared:

* both numbers: |numerus - reference| <= tol + tol * |reference|, else a failure;
* reference undefined: Numerus must report it undefined too (any code);
* reference number, Numerus undefined: excused only for the codes in
  EXCUSED_CODES (numerai-tools returns a rounding-noise number or fails an
  assertion there), otherwise a failure;
* a value on one side that is neither a value nor an undefined entry on the
  other side: a failure.

Summaries are compared the same way. When Numerus has excused eras for a
(metric, submission), the reference summary is recomputed from the reference
per-era values over the eras Numerus actually scored, so that an excusal does
not turn into a summary failure.

Undefined entries are matched on (metric, era, submission). Metric names are
the per-era metric names, "pairs.churn", "cross_era.<name>" and
"series.<name>"; bare "churn" / "turnover" / "neutral_churn" are also accepted
(a "churn" entry whose submission is "A|B" is a pair).

Prints one table row per metric (compared, max abs error, max rel error,
failures, excused, both undefined) and exits 1 on any failure, showing the
first 20. --self-test checks that the comparer itself catches perturbed,
missing and mislabelled values, so the parity suite cannot pass silently.

Only the standard library is needed.
"""

import argparse
import copy
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field

SCHEMA = "numerus-scores/1"
DEFAULT_TOLERANCE = 1e-9
EXCUSED_CODES = {"residual_is_noise", "too_few_rows", "too_little_overlap"}
EXCUSE_TEXT = "excused: numerai-tools returns a rounding-noise number or fails an assertion"
SUMMARY_STATS = ("mean", "std", "sharpe", "max_drawdown")
SHARPE_MIN_STD = 1e-12
VALUE_SECTIONS = ("per_era", "pairs", "cross_era", "series")
CROSS_ERA_METRICS = {"churn", "turnover", "neutral_churn"}
SERIES_METRICS = {"stake_weight", "stake_weight_ranked"}
MAX_FAILURES_SHOWN = 20
MAX_EXCUSED_SHOWN = 200


# --------------------------------------------------------------------------- summary


def summary_stats(values):
    """mean, std (ddof 0), sharpe (None when std < 1e-12) and max drawdown of a
    per-era series given in era order. The drawdown is min_t(C_t - max_{s<=t} C_s)
    of the cumulative sum C, so it is <= 0 and the running max starts at C_0."""
    values = [float(x) for x in values]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / n)
    sharpe = mean / std if std >= SHARPE_MIN_STD else None
    cumulative, peak, drawdown = 0.0, -math.inf, 0.0
    for x in values:
        cumulative += x
        peak = max(peak, cumulative)
        drawdown = min(drawdown, cumulative - peak)
    return {"mean": mean, "std": std, "sharpe": sharpe, "max_drawdown": drawdown}


# --------------------------------------------------------------------------- indexing


def section_label(section, metric):
    """The metric label used in reports and undefined entries."""
    return metric if section == "per_era" else f"{section}.{metric}"


def normalise_label(metric, submission):
    """Map an undefined entry's metric name to the label used by section_label."""
    if metric.startswith("per_era."):
        return metric[len("per_era."):]
    if metric.split(".")[0] in ("pairs", "cross_era", "series", "summary"):
        return metric
    if metric == "churn" and "|" in str(submission):
        return "pairs.churn"
    if metric in CROSS_ERA_METRICS:
        return f"cross_era.{metric}"
    if metric in SERIES_METRICS:
        return f"series.{metric}"
    return metric


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def flatten_values(doc):
    """{(label, era, key): value} for every value of the value sections."""
    out = {}
    for section in VALUE_SECTIONS:
        for metric, by_era in (doc.get(section) or {}).items():
            for era, by_key in by_era.items():
                for key, value in by_key.items():
                    out[(section_label(section, metric), str(era), str(key))] = value
    return out


def index_undefined(doc):
    """{(label, era, submission): entry} of the undefined list."""
    out = {}
    for entry in doc.get("undefined") or []:
        sub = str(entry.get("submission"))
        label = normalise_label(str(entry.get("metric")), sub)
        out[(label, str(entry.get("era")), sub)] = entry
    return out


# --------------------------------------------------------------------------- comparison


@dataclass
class MetricStats:
    compared: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    failures: int = 0
    excused: int = 0
    both_undefined: int = 0


@dataclass
class Report:
    tolerance: float
    stats: dict = field(default_factory=lambda: defaultdict(MetricStats))
    failures: list = field(default_factory=list)
    excused: list = field(default_factory=list)

    def fail(self, label, era, key, numerus, reference, why):
        self.stats[label].failures += 1
        self.failures.append(
            {"metric": label, "era": era, "submission": key,
             "numerus": numerus, "reference": reference, "why": why})

    def excuse(self, label, era, key, reference, entry):
        self.stats[label].excused += 1
        self.excused.append(
            {"metric": label, "era": era, "submission": key,
             "reference": reference, "code": entry.get("code"),
             "reason": entry.get("reason")})

    def numbers(self, label, era, key, numerus, reference):
        """Compare two numbers; record the error and any failure."""
        stats = self.stats[label]
        stats.compared += 1
        err = abs(float(numerus) - float(reference))
        if not math.isfinite(float(numerus)) or not math.isfinite(float(reference)):
            self.fail(label, era, key, numerus, reference, "non-finite number")
            return
        stats.max_abs = max(stats.max_abs, err)
        if reference != 0:
            stats.max_rel = max(stats.max_rel, err / abs(reference))
        if not err <= self.tolerance + self.tolerance * abs(reference):
            self.fail(label, era, key, numerus, reference, f"|diff| = {err:.3e}")


def describe(entry):
    return f"undefined [{entry.get('code')}] {entry.get('reason', '')}".strip()


def compare_entry(report, key, n_val, n_und, r_val, r_und):
    """Apply the parity rules to one (label, era, key) entry."""
    label, era, sub = key
    if n_val is not None and n_und is not None:
        report.fail(label, era, sub, n_val, r_val, "numerus gives both a value and an undefined entry")
        return
    if r_val is not None:
        if n_val is not None:
            report.numbers(label, era, sub, n_val, r_val)
        elif n_und is not None and n_und.get("code") in EXCUSED_CODES:
            report.excuse(label, era, sub, r_val, n_und)
        elif n_und is not None:
            report.fail(label, era, sub, describe(n_und), r_val,
                        "numerus undefined with a code that is not excused")
        else:
            report.fail(label, era, sub, None, r_val, "missing from numerus")
    elif r_und is not None:
        if n_val is not None:
            report.fail(label, era, sub, n_val, describe(r_und),
                        "numerus gives a number where numerai-tools has none")
        elif n_und is not None or label.startswith("series."):
            report.stats[label].both_undefined += 1
        else:
            report.fail(label, era, sub, None, describe(r_und),
                        "reference undefined, numerus has neither a value nor an undefined entry")
    elif n_val is not None:
        report.fail(label, era, sub, n_val, None, "numerus value missing from the reference")
    else:
        report.stats[label].both_undefined += 1  # undefined in numerus only


def compare_values(report, numerus, reference):
    n_vals, r_vals = flatten_values(numerus), flatten_values(reference)
    n_und, r_und = index_undefined(numerus), index_undefined(reference)
    keys = set(n_vals) | set(r_vals) | set(n_und) | set(r_und)
    for key in sorted(keys):
        compare_entry(report, key, n_vals.get(key), n_und.get(key), r_vals.get(key), r_und.get(key))


def expected_summaries(numerus, reference):
    """The reference summaries, recomputed where Numerus has excused eras."""
    n_und = index_undefined(numerus)
    n_per_era = numerus.get("per_era") or {}

    def excused(metric, era, sub):
        has_value = sub in (n_per_era.get(metric, {}).get(era) or {})
        return not has_value and n_und.get((metric, era, sub), {}).get("code") in EXCUSED_CODES

    expected = copy.deepcopy(reference.get("summary") or {})
    for metric, by_era in (reference.get("per_era") or {}).items():
        series = defaultdict(list)  # submission -> [(era, value)] the reference has
        for era in sorted(by_era):
            for sub, value in by_era[era].items():
                series[sub].append((era, value))
        for sub, points in series.items():
            kept = [v for era, v in points if not excused(metric, era, sub)]
            if len(kept) == len(points):
                continue
            if kept:
                expected.setdefault(metric, {})[sub] = summary_stats(kept)
            else:
                expected.get(metric, {}).pop(sub, None)
    return expected


def compare_summaries(report, numerus, reference):
    expected = expected_summaries(numerus, reference)
    actual = numerus.get("summary") or {}
    for metric in sorted(set(expected) | set(actual)):
        label = f"summary.{metric}"
        e_subs, a_subs = expected.get(metric, {}), actual.get(metric, {})
        for sub in sorted(set(e_subs) | set(a_subs)):
            if sub not in a_subs:
                report.fail(label, "-", sub, None, e_subs[sub], "summary missing from numerus")
                continue
            if sub not in e_subs:
                report.fail(label, "-", sub, a_subs[sub], None, "summary missing from the reference")
                continue
            for stat in SUMMARY_STATS:
                compare_stat(report, label, stat, sub, a_subs[sub].get(stat), e_subs[sub].get(stat))


def compare_stat(report, label, stat, sub, numerus, reference):
    if is_number(numerus) and is_number(reference):
        report.numbers(label, stat, sub, numerus, reference)
    elif numerus is None and reference is None:
        report.stats[label].both_undefined += 1
    else:
        report.fail(label, stat, sub, numerus, reference, "null on one side only")


def compare(numerus, reference, tolerance=DEFAULT_TOLERANCE):
    report = Report(tolerance)
    if numerus.get("schema") != SCHEMA:
        report.fail("schema", "-", "-", numerus.get("schema"), SCHEMA, "unexpected schema")
    compare_values(report, numerus, reference)
    compare_summaries(report, numerus, reference)
    return report


# --------------------------------------------------------------------------- printing


def fmt(x):
    if is_number(x):
        return f"{x:.17g}"
    return "-" if x is None else str(x)


def print_report(report, out=sys.stdout):
    header = f"{'metric':<32} {'compared':>8} {'max abs err':>12} {'max rel err':>12} {'failures':>8} {'excused':>7} {'both undef':>10}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for label in sorted(report.stats):
        s = report.stats[label]
        print(f"{label:<32} {s.compared:>8} {s.max_abs:>12.3e} {s.max_rel:>12.3e} "
              f"{s.failures:>8} {s.excused:>7} {s.both_undefined:>10}", file=out)
    total = sum(s.compared for s in report.stats.values())
    print(f"\n{total} values compared at tolerance {report.tolerance:g} (abs + rel)", file=out)
    if report.excused:
        print(f"\n{len(report.excused)} {EXCUSE_TEXT}:", file=out)
        for e in report.excused[:MAX_EXCUSED_SHOWN]:
            print(f"  {e['metric']} era={e['era']} submission={e['submission']} "
                  f"reference={fmt(e['reference'])} numerus code={e['code']}", file=out)
        if len(report.excused) > MAX_EXCUSED_SHOWN:
            print(f"  ... and {len(report.excused) - MAX_EXCUSED_SHOWN} more", file=out)
    if report.failures:
        print(f"\n{len(report.failures)} FAILURES (first {MAX_FAILURES_SHOWN}):", file=out)
        for f in report.failures[:MAX_FAILURES_SHOWN]:
            print(f"  {f['metric']} era={f['era']} submission={f['submission']}: "
                  f"numerus={fmt(f['numerus'])} reference={fmt(f['reference'])} ({f['why']})", file=out)
    else:
        print("\nPARITY OK", file=out)


# --------------------------------------------------------------------------- self-test


def synthetic_reference():
    """A small reference document with every section, undefined entries and summaries."""
    per_era = {
        "numerai_corr": {"0001": {"a": 0.0123456789, "b": -0.02}, "0002": {"a": 0.031, "b": 0.004},
                         "0003": {"a": -0.011}},
        "fnc": {"0001": {"a": 0.5, "b": 0.25}, "0002": {"a": 0.125, "b": 0.0625}, "0003": {"a": 0.75, "b": 0.1}},
    }
    doc = {
        "schema": SCHEMA,
        "per_era": per_era,
        "pairs": {"churn": {"0001": {"a|b": 0.75}, "0002": {"a|b": 0.5}}},
        "cross_era": {"churn": {"0002": {"a": 0.2, "b": 0.3}}, "turnover": {"0002": {"a": 0.1}},
                      "neutral_churn": {"0002": {"a": 0.4, "b": 0.45}}},
        "series": {"stake_weight": {"0001": {"id1": 0.5, "id2": 0.25}},
                   "stake_weight_ranked": {"0001": {"id1": 0.75, "id2": 0.25}}},
        "undefined": [
            {"metric": "numerai_corr", "era": "0003", "submission": "b", "code": "reference_failed",
             "reason": "numerai-tools returned nan"},
            {"metric": "cross_era.turnover", "era": "0002", "submission": "b", "code": "reference_failed",
             "reason": "AssertionError"},
        ],
    }
    doc["summary"] = summaries_of(doc)
    return doc


def summaries_of(doc):
    out = {}
    for metric, by_era in doc["per_era"].items():
        subs = sorted({s for v in by_era.values() for s in v})
        for sub in subs:
            vals = [by_era[e][sub] for e in sorted(by_era) if sub in by_era[e]]
            out.setdefault(metric, {})[sub] = summary_stats(vals)
    return out


def as_numerus(reference):
    """A Numerus document that agrees with the reference (undefined codes renamed)."""
    doc = copy.deepcopy(reference)
    for entry in doc["undefined"]:
        entry["code"] = "constant_column"
        entry["metric"] = entry["metric"].replace("cross_era.", "")  # bare names must work too
    return doc


def first_value(doc, section):
    for metric, by_era in doc.get(section, {}).items():
        for era, by_key in by_era.items():
            for key in by_key:
                return metric, era, key
    return None


def self_test_cases(reference):
    """Yield (name, numerus document, expected failures, expected excused)."""
    base = as_numerus(reference)
    yield "identical", base, 0, 0
    for section in VALUE_SECTIONS:
        loc = first_value(base, section)
        if loc is None:
            continue
        m, e, k = loc
        ref = reference[section][m][e][k]
        doc = copy.deepcopy(base)
        doc[section][m][e][k] = ref + 1e-6 + 1e-6 * abs(ref)
        yield f"{section} perturbed by 1e-6", doc, 1, 0
        doc = copy.deepcopy(base)
        doc[section][m][e][k] = ref + 0.4 * (DEFAULT_TOLERANCE + DEFAULT_TOLERANCE * abs(ref))
        yield f"{section} within tolerance", doc, 0, 0
        doc = copy.deepcopy(base)
        doc[section][m][e][k] = float("nan")
        yield f"{section} NaN", doc, 1, 0
        doc = copy.deepcopy(base)
        del doc[section][m][e][k]
        yield f"{section} value dropped", doc, 1, 0
        doc = copy.deepcopy(base)
        doc[section][m][e]["intruder"] = 0.5
        yield f"{section} extra value", doc, 1, 0
    m, e, k = first_value(base, "per_era")
    doc = copy.deepcopy(base)
    del doc["per_era"][m][e][k]
    doc["undefined"].append({"metric": m, "era": e, "submission": k, "code": "residual_is_noise", "reason": "t"})
    doc["summary"] = summaries_of(doc)
    yield "excused code (summary recomputed)", doc, 0, 1
    doc = copy.deepcopy(base)
    del doc["per_era"][m][e][k]
    doc["undefined"].append({"metric": m, "era": e, "submission": k, "code": "constant_column", "reason": "t"})
    yield "non-excused undefined code", doc, 1, 0
    doc = copy.deepcopy(base)
    doc["undefined"] = []
    expected = sum(1 for u in reference.get("undefined") or []
                   if not normalise_label(u["metric"], u["submission"]).startswith("series."))
    yield "reference-undefined entries missing", doc, expected, 0
    if reference.get("undefined"):
        u = reference["undefined"][0]
        label = normalise_label(u["metric"], u["submission"])
        section, metric = (("per_era", label) if "." not in label else label.split(".", 1))
        doc = copy.deepcopy(base)
        doc["undefined"] = doc["undefined"][1:]
        doc.setdefault(section, {}).setdefault(metric, {}).setdefault(u["era"], {})[u["submission"]] = 0.0
        yield "number where the reference is undefined", doc, 1, 0
    sm = next(iter(base["summary"]), None)
    if sm is not None:
        sub = next(iter(base["summary"][sm]))
        doc = copy.deepcopy(base)
        doc["summary"][sm][sub]["mean"] += 1e-6
        yield "summary mean perturbed", doc, 1, 0
        doc = copy.deepcopy(base)
        sharpe = doc["summary"][sm][sub]["sharpe"]
        doc["summary"][sm][sub]["sharpe"] = 1.0 if sharpe is None else None
        yield "summary sharpe null on one side", doc, 1, 0
    doc = copy.deepcopy(base)
    doc["schema"] = "something-else"
    yield "wrong schema", doc, 1, 0


def run_self_test(reference, name):
    ok = True
    for case, doc, want_fail, want_excused in self_test_cases(reference):
        report = compare(doc, reference)
        got_fail, got_excused = len(report.failures), len(report.excused)
        good = got_fail == want_fail and got_excused == want_excused
        ok &= good
        print(f"  [{'ok' if good else 'BROKEN'}] {name}: {case}: failures {got_fail} (want {want_fail}), "
              f"excused {got_excused} (want {want_excused})")
    return ok


def self_test(reference_path=None):
    print("self-test of the comparer:")
    ok = run_self_test(synthetic_reference(), "synthetic")
    if reference_path:
        ok &= run_self_test(load(reference_path), reference_path)
    print("SELF-TEST PASSED" if ok else "SELF-TEST FAILED: the comparer does not catch what it must")
    return ok


# --------------------------------------------------------------------------- main


def load(path):
    with open(path) as fh:
        return json.load(fh)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--numerus", help="scores.json written by `numerus score`")
    ap.add_argument("--reference", help="ref.json written by scripts/reference_scores.py")
    ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    ap.add_argument("--self-test", action="store_true",
                    help="check that the comparer catches perturbed values (uses --reference too if given)")
    args = ap.parse_args(argv)
    if args.self_test:
        return 0 if self_test(args.reference) else 1
    if not args.numerus or not args.reference:
        ap.error("--numerus and --reference are required (or use --self-test)")
    report = compare(load(args.numerus), load(args.reference), args.tolerance)
    print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
