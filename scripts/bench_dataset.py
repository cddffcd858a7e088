#!/usr/bin/env python3
"""Time `numerus data build` against the same build in pandas (scripts/dataset_pandas.py).

Usage:
    python scripts/bench_dataset.py [--quick] [--stocks 5000] [--days 2850] [--features 500]
        [--repeats 3] [--seed 1] [--numerus target/release/numerus] [--markdown FILE]
        [--work DIR]

One run does everything (scripts/bench-dataset builds numerus first and picks the Python):

1. `numerus data synth` writes the panel once: by default 5,000 stocks x 2,850 business
   days, which after the year of feature history and the embargo publishes about 500
   weekly eras (--quick: 1,000 x 800, 100 features).
2. `numerus data build --features K` and the pandas peer (on the recipe of the first
   numerus build: the same features, eras and split) run alternately, --repeats times each,
   each under /usr/bin/time -v for its peak memory (max RSS) and CPU time; wall time from
   the clock.
   Each run writes to a fresh directory, removed after it (the first of each side is kept
   to the end for the output check).
3. The output check: both sides wrote the same files with the same rows; in a few eras the
   ids are equal (the peer keys them with the first build's id key), and the share of equal
   feature bins and targets is shown (qcut and Numerus's mid-rank rule part at ties).
4. Prints the machine, the thread settings and a table: median wall seconds, CPU seconds
   and peak RSS of each side and the ratios pandas / numerus, with a PASS/FAIL for the
   targets (at least 5x faster, at most a quarter of the peak memory). --markdown writes
   the same as Markdown.

The pandas peer's BLAS runs with OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = every core (its
least-squares solves are the only threaded part); numerus uses every core through rayon.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import machine, measured_run  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEEDUP_TARGET = 5.0
MEMORY_SHARE_TARGET = 0.25
QUICK_SHAPE = {"stocks": 1000, "days": 800, "features": 100}
PUBLISHED = ("train", "validation", "live", "validation_example_preds", "live_example_preds")
SAMPLED_ERAS = 5


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stocks", type=int, default=5000, help="stocks per date (default 5000)")
    ap.add_argument("--days", type=int, default=2850, help="business days (default 2850: ~500 eras)")
    ap.add_argument("--features", type=int, default=500, help="engineered features (default 500)")
    ap.add_argument("--quick", action="store_true", help="small shape: 1000 stocks x 800 days x 100 features")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side; the median is kept (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic market (default 1)")
    ap.add_argument("--numerus", default=os.path.join(REPO, "target", "release", "numerus"),
                    help="the numerus binary (default target/release/numerus)")
    ap.add_argument("--work", help="directory for the panel and outputs (default: a temporary one, removed)")
    ap.add_argument("--markdown", help="also write the report as Markdown to this file")
    args = ap.parse_args(argv)
    if args.quick:
        for name, value in QUICK_SHAPE.items():
            setattr(args, name, value)
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- runs


def run_measured(command, env=None):
    """(wall seconds, max RSS bytes, CPU seconds, stdout) of one process under /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v"] + command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")

    def field(name):
        match = re.search(rf"{re.escape(name)}: ([\d.]+)", done.stderr)
        if not match:
            raise RuntimeError(f"no `{name}` in /usr/bin/time's output:\n{done.stderr[-2000:]}")
        return float(match.group(1))

    rss = int(field("Maximum resident set size (kbytes)")) * 1024
    cpu = field("User time (seconds)") + field("System time (seconds)")
    return wall, rss, cpu, done.stdout


def rows_of(directory):
    with open(os.path.join(directory, "manifest.json")) as fh:
        return {entry["name"]: entry["rows"] for entry in json.load(fh)["files"]
                if entry["name"].endswith(".parquet")}


def bench(args, work):
    panel = os.path.join(work, "panel.parquet")
    log(f"numerus data synth: {args.stocks} stocks x {args.days} days")
    synth_wall, _, _, _ = run_measured([args.numerus, "data", "synth", "--out", panel, "--force",
                                        "--stocks", str(args.stocks), "--days", str(args.days),
                                        "--seed", str(args.seed)])
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(os.cpu_count())
    peer = os.path.join(REPO, "scripts", "dataset_pandas.py")
    sides = {"numerus": [], "pandas": []}
    rows = {}
    for repeat in range(args.repeats):
        out = os.path.join(work, f"numerus-{repeat}")
        shutil.rmtree(out, ignore_errors=True)
        wall, rss, cpu, _ = run_measured([args.numerus, "data", "build", "--panel", panel,
                                          "--out", out, "--features", str(args.features)])
        sides["numerus"].append((wall, rss, cpu))
        rows.setdefault("numerus", rows_of(os.path.join(out, "v1")))
        log(f"numerus data build {repeat + 1}/{args.repeats}: {wall:.1f} s, {rss / 2**20:.0f} MiB")

        recipe = os.path.join(work, "numerus-0", "private", "v1", "recipe.json")
        theirs = os.path.join(work, f"pandas-{repeat}")
        shutil.rmtree(theirs, ignore_errors=True)
        wall, rss, cpu, _ = run_measured([sys.executable, peer, panel, recipe, theirs], env=env)
        sides["pandas"].append((wall, rss, cpu))
        rows.setdefault("pandas", rows_of(theirs))
        log(f"pandas peer {repeat + 1}/{args.repeats}: {wall:.1f} s, {rss / 2**20:.0f} MiB")
        if repeat > 0:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(theirs, ignore_errors=True)
    with open(os.path.join(work, "numerus-0", "private", "v1", "recipe.json")) as fh:
        plan = json.load(fh)["plan"]["eras"]
    agreement = compare(os.path.join(work, "numerus-0", "v1"), os.path.join(work, "pandas-0"), plan)
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    return {
        "machine": machine(), "sides": sides, "rows": rows, "agreement": agreement,
        "shape": {"stocks": args.stocks, "days": args.days, "features": args.features, "seed": args.seed,
                  "panel_rows": rows_of_panel(panel),
                  "panel_bytes": os.path.getsize(panel), "synth_wall": synth_wall,
                  "train": sum(e["split"] == "train" for e in plan),
                  "validation": sum(e["split"] == "validation" for e in plan)},
        "repeats": args.repeats, "threads": os.cpu_count(),
        "versions": f"pandas {pd.__version__}, numpy {np.__version__}, pyarrow {pa.__version__}",
    }


def rows_of_panel(path):
    import pyarrow.parquet as pq
    return pq.read_metadata(path).num_rows


def compare(numerus_dir, pandas_dir, plan):
    """Row counts of every file, and in a few train eras: equal ids, the share of equal
    feature bins and of equal targets."""
    import numpy as np
    import pyarrow.parquet as pq
    same_rows = all(pq.read_metadata(os.path.join(numerus_dir, f"{n}.parquet")).num_rows
                    == pq.read_metadata(os.path.join(pandas_dir, f"{n}.parquet")).num_rows
                    for n in PUBLISHED)
    train = [e["label"] for e in plan if e["split"] == "train"]
    picks = sorted({train[round(i * (len(train) - 1) / (SAMPLED_ERAS - 1))] for i in range(SAMPLED_ERAS)})
    same_ids, bins, targets = True, [], []
    for label in picks:
        a, b = (pq.read_table(os.path.join(d, "train.parquet"), filters=[("era", "=", label)]).to_pandas()
                for d in (numerus_dir, pandas_dir))
        if not a.index.equals(b.index):
            same_ids = False
            continue
        features = [c for c in a.columns if c.startswith("feature_")]
        target_columns = [c for c in a.columns if c.startswith("target")]
        bins.append((a[features].to_numpy() == b[features].to_numpy()).mean())
        known = ~np.isnan(a[target_columns].to_numpy())
        targets.append((a[target_columns].to_numpy() == b[target_columns].to_numpy())[known].mean())
    return {"same_rows": same_rows, "same_ids": same_ids, "eras": len(picks),
            "bins": float(np.mean(bins)) if bins else None,
            "targets": float(np.mean(targets)) if targets else None}


# --------------------------------------------------------------------------- report


def summarize(runs):
    return {"wall": statistics.median(r[0] for r in runs), "rss": statistics.median(r[1] for r in runs),
            "cpu": statistics.median(r[2] for r in runs), "walls": [r[0] for r in runs]}


def render(report, markdown):
    m, shape = report["machine"], report["shape"]
    ours, theirs = summarize(report["sides"]["numerus"]), summarize(report["sides"]["pandas"])
    speedup = theirs["wall"] / ours["wall"]
    memory = theirs["rss"] / ours["rss"]
    rows = report["rows"]["numerus"]
    header = [
        f"CPU: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}",
        f"numerus commit: {m['commit']}",
        f"Machine state: {report['contention']}",
        f"{report['versions']}; pandas peer: OPENBLAS_NUM_THREADS=OMP_NUM_THREADS={report['threads']}; "
        f"numerus: rayon on every core",
        f"Panel: {shape['stocks']} stocks x {shape['days']} business days = {shape['panel_rows']:,} rows, "
        f"{shape['panel_bytes'] / 2**20:.0f} MiB, written by `numerus data synth --seed {shape['seed']}` "
        f"in {shape['synth_wall']:.0f} s",
        f"Build: {shape['features']} features, {shape['train']} train + {shape['validation']} validation "
        f"eras = {rows['train.parquet'] + rows['validation.parquet']:,} rows, plus live and example predictions",
        f"Runs: numerus and pandas alternately, {report['repeats']} each; median wall (clock) and "
        f"peak RSS (/usr/bin/time -v)",
    ]
    columns = ["side", "wall s (median)", "runs s", "CPU s (user+sys)", "peak RSS MiB"]
    body = [
        ["numerus data build", f"{ours['wall']:.1f}", " / ".join(f"{w:.1f}" for w in ours["walls"]),
         f"{ours['cpu']:.0f}", f"{ours['rss'] / 2**20:.0f}"],
        ["pandas peer (scripts/dataset_pandas.py)", f"{theirs['wall']:.1f}",
         " / ".join(f"{w:.1f}" for w in theirs["walls"]), f"{theirs['cpu']:.0f}", f"{theirs['rss'] / 2**20:.0f}"],
        ["pandas / numerus", f"{speedup:.1f}x", "", f"{theirs['cpu'] / ours['cpu']:.1f}x", f"{memory:.1f}x"],
    ]
    verdicts = [
        f"Speed: numerus {speedup:.1f}x faster (target >= {SPEEDUP_TARGET:.0f}x): "
        f"{'PASS' if speedup >= SPEEDUP_TARGET else 'FAIL'}",
        f"Memory: numerus peak {ours['rss'] / theirs['rss']:.2f} of pandas' (target <= "
        f"{MEMORY_SHARE_TARGET:.2f}): {'PASS' if ours['rss'] <= MEMORY_SHARE_TARGET * theirs['rss'] else 'FAIL'}",
    ]
    a = report["agreement"]
    check = (f"Output check: same files and rows {'yes' if a['same_rows'] else 'NO'}; in {a['eras']} "
             f"train eras ids equal {'yes' if a['same_ids'] else 'NO'}, feature bins equal "
             f"{a['bins']:.2%}, targets equal {a['targets']:.2%} (qcut and Numerus's mid-rank rule "
             "part at ties)" if a["bins"] is not None else "Output check: ids differ, nothing compared")
    lines = []
    if markdown:
        lines += [f"- {h}" for h in header] + [""]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in body]
        lines += [""] + [f"- {v}" for v in verdicts] + [f"- {check}"]
    else:
        lines += header + [""]
        widths = [max(len(str(x)) for x in col) for col in zip(columns, *body)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines.append(fmt.format(*columns))
        lines += [fmt.format(*row) for row in body]
        lines += [""] + verdicts + [check]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if not os.access("/usr/bin/time", os.X_OK):
        raise SystemExit("/usr/bin/time not found: the peak memory comes from GNU time's -v "
                         "(Debian/Ubuntu: apt-get install time)")
    if not os.access(args.numerus, os.X_OK):
        raise SystemExit(f"{args.numerus}: not found; run `cargo build --release -p numerus-cli` "
                         "(scripts/bench-dataset does) or pass --numerus")
    report = measured_run(args, "numerus-bench-dataset-", bench)
    print(render(report, markdown=False))
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(render(report, markdown=True))
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
