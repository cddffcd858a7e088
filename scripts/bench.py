#!/usr/bin/env python3
"""Time `numerus score` against numerai-tools 0.7.2, metric by metric, on one era.

Usage:
    python scripts/bench.py [--rows 5000] [--submissions 1000] [--features 2376]
        [--neutralizers 50] [--fnc-submissions 100] [--fnc-full] [--quick]
        [--numerus target/release/numerus] [--markdown FILE] [--work DIR]

One run does everything (scripts/bench builds numerus first and picks the Python):

1. Writes one era of Numerai-layout files once: with `numerus sample --no-edge-cases`
   when the binary has it, else with numpy (same layout: `id`, `era` text; features
   0..4; target in {0, .25, .5, .75, 1}; predictions in [0, 1]).
2. Times numerai-tools on each metric with the data already in memory (the metric call
   only, one pass: a call on 1,000 columns takes seconds). FNC runs on the first
   --fnc-submissions submissions, as its target says; --fnc-full also times it on all.
3. Times `numerus score --metrics NAME --timings` for each metric in its own process, so
   that shared work (ranking, factorizing) is charged in full to that metric. The
   metric's own compute seconds come from the `timings_seconds` line; the process wall
   time (start-up, reading the files) is recorded too. Median of --repeats runs.
4. Runs `numerus score` once with every metric and every input, under /usr/bin/time -v
   when present, for its peak memory (max RSS), compared with twice the inputs as f64:
   rows x (submissions + features + neutralizers + 3) x 8 bytes. That run's scores are
   compared with numerai-tools' as a sanity check (max |difference| per metric).
5. Prints the machine, the thread settings and a table with a PASS/FAIL per target:
   per-era metrics at least 100x faster per submission; FNC on all submissions faster
   than numerai-tools' FNC on --fnc-submissions. --markdown writes the same as Markdown.

numerai-tools' BLAS runs with OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = --blas-threads
(default: every core); numerus uses every core through rayon. Every numerus process runs
before the first numerai-tools call: OpenBLAS' threads busy-wait for a while after each
call and would take the cores from a numerus process started then. The report records
the load average before the run and the CPU time stolen by the hypervisor during it, as
a busy machine slows both sides.
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERA = "0001"
BENCHMARK_COLUMN = "benchmark_model"
SPEEDUP_TARGET = 100.0
# Metrics in table order, and the inputs each needs beyond --data and --predictions.
METRICS = {
    "numerai_corr": (),
    "mmc": ("meta_model",),
    "bmc": ("benchmark",),
    "alpha": ("neutralizers", "sample_weights"),
    "mpc": ("neutralizers", "sample_weights", "stakes"),
    "neutral_corr": ("neutralizers",),
    "neutral_mmc": ("meta_model", "neutralizers"),
    "fnc": (),
}
FILES = {
    "data": "data.parquet",
    "predictions": "predictions.parquet",
    "meta_model": "meta_model.parquet",
    "benchmark": "benchmark.parquet",
    "neutralizers": "neutralizers.parquet",
    "sample_weights": "sample_weights.parquet",
    "stakes": "stakes.csv",
}
QUICK_SHAPE = {"rows": 2000, "submissions": 100, "features": 200, "neutralizers": 50}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000, help="rows of the era (default 5000)")
    ap.add_argument("--submissions", type=int, default=1000, help="prediction columns (default 1000)")
    ap.add_argument("--features", type=int, default=2376, help="feature columns (default 2376)")
    ap.add_argument("--neutralizers", type=int, default=50, help="neutralizer columns (default 50)")
    ap.add_argument("--fnc-submissions", type=int, default=100,
                    help="submissions numerai-tools' FNC is timed on (default 100)")
    ap.add_argument("--fnc-full", action="store_true",
                    help="also time numerai-tools' FNC on every submission")
    ap.add_argument("--quick", action="store_true",
                    help="small shape: 2000 rows x 100 submissions x 200 features x 50 neutralizers")
    ap.add_argument("--repeats", type=int, default=3, help="numerus runs per metric; the median is kept")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--blas-threads", type=int, default=os.cpu_count(),
                    help="OPENBLAS/OMP threads for numerai-tools (default: every core)")
    ap.add_argument("--numerus", default=os.path.join(REPO, "target", "release", "numerus"),
                    help="the numerus binary (default target/release/numerus)")
    ap.add_argument("--generator", choices=("auto", "numerus", "numpy"), default="auto",
                    help="who writes the files: `numerus sample` if it has --no-edge-cases (auto)")
    ap.add_argument("--work", help="directory for the generated files (default: a temporary one, removed)")
    ap.add_argument("--markdown", help="also write the report as Markdown to this file")
    args = ap.parse_args(argv)
    if args.quick:
        for name, value in QUICK_SHAPE.items():
            setattr(args, name, value)
    args.fnc_submissions = min(args.fnc_submissions, args.submissions)
    return args


def set_blas_threads(threads):
    """Must run before numpy is imported: OpenBLAS reads these once, at load."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


# --------------------------------------------------------------------------- machine


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or cpu
    ram_gib = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    ram_gib = int(line.split()[1]) / 2**20
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram_gib, "commit": git_commit(),
            "os": f"{platform.system()} {platform.release()}"}


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def cpu_counters():
    """(busy, steal, total) jiffies of all CPUs so far, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle, steal = fields[3] + fields[4], fields[7] if len(fields) > 7 else 0
    return sum(fields) - idle, steal, sum(fields)


def contention(before, after, load_before):
    """What else the machine was doing: the load average before the run and the CPU time
    the hypervisor stole during it. Benchmarks on a busy machine are slow on both sides."""
    text = f"load average before the run {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}"
    if before and after and after[2] > before[2]:
        steal = 100.0 * (after[1] - before[1]) / (after[2] - before[2])
        text += f"; CPU steal during the run {steal:.1f}%"
    return text


# --------------------------------------------------------------------------- inputs


def measured_run(args, prefix, bench_fn):
    """Runs `bench_fn(args, directory)` in `args.work`, or in a temporary directory removed
    afterwards, and adds to its report how contended the machine was meanwhile."""
    directory = args.work or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(directory, exist_ok=True)
    load_before, counters_before = os.getloadavg(), cpu_counters()
    try:
        report = bench_fn(args, directory)
    finally:
        if not args.work:
            shutil.rmtree(directory, ignore_errors=True)
    report["contention"] = contention(counters_before, cpu_counters(), load_before)
    return report


def has_sample_generator(numerus):
    try:
        out = subprocess.run([numerus, "sample", "--help"], capture_output=True, text=True)
    except OSError:
        return False
    return out.returncode == 0 and "--no-edge-cases" in out.stdout


def generate(args, directory):
    """Writes the era's files; returns who wrote them."""
    use_numerus = args.generator == "numerus" or (
        args.generator == "auto" and has_sample_generator(args.numerus))
    if use_numerus:
        subprocess.run([args.numerus, "sample", "--out", directory, "--seed", str(args.seed),
                        "--eras", "1", "--rows", str(args.rows), "--submissions", str(args.submissions),
                        "--features", str(args.features), "--neutralizers", str(args.neutralizers),
                        "--benchmarks", "1", "--no-edge-cases"], check=True, stdout=subprocess.DEVNULL)
        return "numerus sample --no-edge-cases"
    generate_with_numpy(args, directory)
    return "scripts/bench.py (numpy)"


def generate_with_numpy(args, directory):
    """One era in `numerus sample`'s layout. Values are float32, as in Numerai's files."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(args.seed)
    n = args.rows
    ids = pa.array([f"n{i:07x}" for i in rng.permutation(n)])
    keys = {"id": ids, "era": pa.array([ERA] * n)}
    signal = rng.standard_normal(n)

    def write(name, columns):
        table = pa.table({**keys, **{k: pa.array(v.astype(np.float32)) for k, v in columns.items()}})
        pq.write_table(table, os.path.join(directory, name))

    def prediction(strength):
        """A model with some skill: sigmoid of signal plus noise, in (0, 1)."""
        return 1.0 / (1.0 + np.exp(-(strength * signal + rng.standard_normal(n))))

    noisy = signal + 1.5 * rng.standard_normal(n)
    buckets = np.searchsorted(np.quantile(noisy, [0.05, 0.25, 0.75, 0.95]), noisy) / 4.0
    features = rng.integers(0, 5, size=(n, args.features)).astype(np.float32)
    data = {f"feature_{j:04d}": features[:, j] for j in range(args.features)}
    data["target"] = buckets
    write(FILES["data"], data)
    strengths = rng.uniform(0.05, 0.5, args.submissions)
    write(FILES["predictions"], {f"model_{j:03d}": prediction(s) for j, s in enumerate(strengths)})
    write(FILES["meta_model"], {"numerai_meta_model": prediction(0.6)})
    write(FILES["benchmark"], {BENCHMARK_COLUMN: prediction(0.4)})
    neutralizers = rng.standard_normal((n, args.neutralizers))
    write(FILES["neutralizers"], {f"neutralizer_{j:02d}": neutralizers[:, j] for j in range(args.neutralizers)})
    write(FILES["sample_weights"], {"sample_weight": rng.uniform(0.5, 1.5, n)})
    stakes = pa.table({"submission": [f"model_{j:03d}" for j in range(args.submissions)],
                       "stake": rng.uniform(1.0, 1000.0, args.submissions).round(2)})
    pacsv.write_csv(stakes, os.path.join(directory, FILES["stakes"]))


def benchmark_column(directory):
    import pyarrow.parquet as pq
    names = pq.read_schema(os.path.join(directory, FILES["benchmark"])).names
    return sorted(c for c in names if c not in ("id", "era", "data_type"))[0]


class Frames:
    """The era as numerai-tools takes it: frames indexed by id, sorted, widened to f64."""

    def __init__(self, directory, benchmark):
        import pandas as pd

        def read(name):
            df = pd.read_parquet(os.path.join(directory, name))
            df["id"] = df["id"].astype(str)
            df = df.set_index("id").drop(columns=["era"]).sort_index()
            return df.astype("float64")

        data = read(FILES["data"])
        self.predictions = read(FILES["predictions"])
        ids = self.predictions.index
        self.target = data["target"]
        self.features = data[[c for c in data.columns if c.startswith("feature_")]]
        self.meta_model = read(FILES["meta_model"])["numerai_meta_model"].reindex(ids)
        self.benchmark = read(FILES["benchmark"])[benchmark].reindex(ids)
        self.neutralizers = read(FILES["neutralizers"]).reindex(ids)
        self.sample_weights = read(FILES["sample_weights"])["sample_weight"].reindex(ids)
        stakes = pd.read_csv(os.path.join(directory, FILES["stakes"]), dtype={"submission": str})
        stakes = stakes.dropna(subset=["stake"])
        self.stakes = pd.Series(stakes["stake"].astype("float64").values,
                                index=pd.Index(stakes["submission"]), name="stake")
        self.submissions = list(self.predictions.columns)
        complete = self.features.index[self.features.notna().all(axis=1)]
        self.complete_ids = ids.intersection(complete).sort_values()


# --------------------------------------------------------------------------- numerai-tools


def time_reference(frames, metric, columns):
    """(seconds, scores by submission) of one numerai-tools call, as reference_scores.py calls it."""
    from numerai_tools import scoring as nt
    f = frames
    P = f.predictions[columns]
    calls = {
        "numerai_corr": lambda: nt.numerai_corr(P, f.target),
        "mmc": lambda: nt.correlation_contribution(P, f.meta_model, f.target),
        "bmc": lambda: nt.correlation_contribution(P, f.benchmark, f.target),
        "alpha": lambda: nt.alpha(P, f.neutralizers, f.sample_weights, f.target),
        "mpc": lambda: nt.meta_portfolio_contribution(
            P, f.stakes.loc[columns], f.neutralizers, f.sample_weights, f.target),
        "neutral_corr": lambda: nt.neutral_correlation(P, f.neutralizers, f.target),
        "neutral_mmc": lambda: nt.neutral_contribution(P, f.meta_model, f.neutralizers, f.target),
        "fnc": lambda: nt.feature_neutral_corr(
            f.predictions.loc[f.complete_ids, columns], f.features.loc[f.complete_ids], f.target),
    }
    started = time.perf_counter()
    scores = calls[metric]()
    return time.perf_counter() - started, {s: float(scores.loc[s]) for s in columns}


def reference_columns(frames, metric, args, full=False):
    if metric == "mpc":
        return [s for s in frames.submissions if s in frames.stakes.index]
    if metric == "fnc" and not full:
        return frames.submissions[:args.fnc_submissions]
    return frames.submissions


# --------------------------------------------------------------------------- numerus


def numerus_command(args, directory, needs, benchmark, metric=None, out=None):
    command = [args.numerus, "score", "--data", os.path.join(directory, FILES["data"]),
               "--predictions", os.path.join(directory, FILES["predictions"]), "--timings"]
    for need in needs:
        command += [f"--{need.replace('_', '-')}", os.path.join(directory, FILES[need])]
        if need == "benchmark":
            command += ["--benchmark-column", benchmark]
    if metric:
        command += ["--metrics", metric]
    if out:
        command += ["--out", out]
    return command


def parse_timings(stderr):
    for line in stderr.splitlines():
        if line.startswith("timings_seconds "):
            return json.loads(line[len("timings_seconds "):])
    raise RuntimeError(f"no timings_seconds line in numerus' stderr:\n{stderr[-2000:]}")


def run_numerus(command):
    """(wall seconds, timings, stderr) of one `numerus score` process."""
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall, parse_timings(done.stderr), done.stderr


def time_numerus(args, directory, metric, benchmark):
    """Median compute and wall seconds of `numerus score --metrics METRIC` over the repeats."""
    command = numerus_command(args, directory, METRICS[metric], benchmark, metric=metric)
    runs = [run_numerus(command) for _ in range(args.repeats)]
    return {"compute": statistics.median(r[1][metric] for r in runs),
            "wall": statistics.median(r[0] for r in runs),
            "load": statistics.median(r[1]["load"] for r in runs)}


def peak_memory_run(args, directory, benchmark, out):
    """Every metric, every input, once: (wall seconds, max RSS bytes, how it was measured, timings)."""
    needs = [k for k in FILES if k not in ("data", "predictions")]
    command = numerus_command(args, directory, needs, benchmark, out=out)
    if os.access("/usr/bin/time", os.X_OK):
        wall, timings, stderr = run_numerus(["/usr/bin/time", "-v"] + command)
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        if match:
            return wall, int(match.group(1)) * 1024, "/usr/bin/time -v", timings
    import resource
    wall, timings, _ = run_numerus(command)
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN is the largest of any child so far; numerus' runs dominate it.
    return wall, rss_kib * 1024, "getrusage(RUSAGE_CHILDREN)", timings


def numerus_scores(path, metric):
    with open(path) as fh:
        doc = json.load(fh)
    return doc["per_era"].get(metric, {}).get(ERA, {})


# --------------------------------------------------------------------------- report


def row_for(metric, ref, ours, submissions, difference, fnc_reference_count):
    """One table row: the speed-up per submission and the target's verdict."""
    ref_seconds, ref_count = ref
    per_ref = ref_seconds / ref_count
    per_ours = ours["compute"] / submissions
    speedup = per_ref / per_ours if per_ours > 0 else math.inf
    if metric != "fnc":
        target, result = f">= {SPEEDUP_TARGET:.0f}x", speedup >= SPEEDUP_TARGET
    elif ref_count == fnc_reference_count:
        target = f"numerus on {submissions} < numerai-tools on {fnc_reference_count}"
        result = ours["compute"] < ref_seconds
    else:
        # --fnc-full: the same counts on both sides, shown for information.
        target, result = "none (same counts, for information)", None
    verdict = "-" if result is None else "PASS" if result else "FAIL"
    return {"metric": metric, "reference_seconds": ref_seconds, "reference_submissions": ref_count,
            "compute": ours["compute"], "wall": ours["wall"], "speedup": speedup,
            "target": target, "result": verdict, "difference": difference}


def max_difference(reference, ours):
    common = [s for s in reference if s in ours and math.isfinite(reference[s])]
    if not common:
        return None
    return max(abs(reference[s] - ours[s]) for s in common)


def render(report, markdown):
    m, shape = report["machine"], report["shape"]
    lines = []
    header = [
        f"CPU: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, {m['os']}",
        f"numerus commit: {m['commit']}",
        f"Machine state: {report['contention']}",
        f"numerai-tools {report['numerai_tools']}, numpy {report['numpy']}, pandas {report['pandas']}; "
        f"OPENBLAS_NUM_THREADS=OMP_NUM_THREADS={report['blas_threads']}; numerus: rayon on every core",
        f"Era: {shape['rows']} rows x {shape['submissions']} submissions, {shape['features']} features, "
        f"{shape['neutralizers']} neutralizers; files by {report['generator']}",
        f"numerai-tools: one timed call per metric, data in memory; numerus: median of "
        f"{report['repeats']} processes per metric, compute = the metric's `--timings` seconds",
    ]
    columns = ["metric", "numerai-tools s (submissions)", "numerus compute s", "numerus wall s",
               "speed-up per submission", "target", "result", "max abs diff"]
    body = []
    for r in report["rows"]:
        diff = "-" if r["difference"] is None else f"{r['difference']:.1e}"
        body.append([r["metric"], f"{r['reference_seconds']:.3f} ({r['reference_submissions']})",
                     f"{r['compute']:.4f}", f"{r['wall']:.3f}", f"{r['speedup']:.{0 if r['speedup'] >= 10 else 1}f}x",
                     r["target"], r["result"], diff])
    mem = report["memory"]
    memory = (f"Peak memory of `numerus score` with every metric ({mem['method']}): "
              f"{mem['rss_bytes'] / 2**20:.0f} MiB; 2x the inputs as f64 = {mem['budget_bytes'] / 2**20:.0f} MiB "
              f"-> {'PASS' if mem['rss_bytes'] <= mem['budget_bytes'] else 'FAIL'} "
              f"(all-metrics run: {mem['wall']:.2f} s wall)")
    note = ("speed-up per submission = (numerai-tools s / its submissions) / "
            "(numerus compute s / numerus submissions); numerus scores every submission "
            "(MPC: every staked one) in each process. max abs diff: largest difference between "
            "the two sides' scores over the submissions both scored.")
    if markdown:
        lines += [f"- {h}" for h in header] + [""]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in body]
        lines += ["", note, "", memory]
    else:
        lines += header + [""]
        widths = [max(len(str(x)) for x in col) for col in zip(columns, *body)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines.append(fmt.format(*columns))
        lines += [fmt.format(*row) for row in body]
        lines += ["", note, memory]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    set_blas_threads(args.blas_threads)
    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd
    import numerai_tools  # noqa: F401  (fail early if the venv lacks it)
    from importlib.metadata import version

    if not os.access(args.numerus, os.X_OK):
        raise SystemExit(f"{args.numerus}: not found; run `cargo build --release -p numerus-cli` "
                         "(scripts/bench does) or pass --numerus")
    report = measured_run(args, "numerus-bench-", bench)
    report.update(numerai_tools=version("numerai-tools"), numpy=np.__version__, pandas=pd.__version__)
    print(render(report, markdown=False))
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(render(report, markdown=True))
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


def log(message):
    print(message, file=sys.stderr, flush=True)


def bench(args, directory):
    log(f"generating {args.rows} x {args.submissions} (+{args.features} features, "
        f"{args.neutralizers} neutralizers) in {directory}")
    generator = generate(args, directory)
    benchmark = benchmark_column(directory)
    full = args.fnc_full and args.fnc_submissions < args.submissions
    plan = [(metric, False) for metric in METRICS] + ([("fnc", True)] if full else [])

    # numerus first, numerai-tools after: OpenBLAS' threads keep spinning for a while after
    # each call, and would steal the cores from a numerus process started right then.
    log("numerus: every metric, every input, for peak memory")
    scores_path = os.path.join(directory, "scores.json")
    wall, rss, method, _ = peak_memory_run(args, directory, benchmark, scores_path)
    ours = {}
    for metric in METRICS:
        log(f"numerus {metric} x {args.repeats}")
        ours[metric] = time_numerus(args, directory, metric, benchmark)

    frames = Frames(directory, benchmark)
    submissions = len(frames.submissions)
    shape = {"rows": len(frames.predictions), "submissions": submissions,
             "features": frames.features.shape[1], "neutralizers": frames.neutralizers.shape[1]}
    budget = 2 * shape["rows"] * (submissions + shape["features"] + shape["neutralizers"] + 3) * 8
    memory = {"wall": wall, "rss_bytes": rss, "method": method, "budget_bytes": budget}
    rows = []
    for metric, full in plan:
        columns = reference_columns(frames, metric, args, full)
        log(f"numerai-tools {metric} on {len(columns)} submissions")
        seconds, reference = time_reference(frames, metric, columns)
        difference = max_difference(reference, numerus_scores(scores_path, metric))
        # numerus ranks every submission but scores MPC only for the staked ones: count those.
        scored = len(columns) if metric == "mpc" else submissions
        row = row_for(metric, (seconds, len(columns)), ours[metric], scored, difference,
                      args.fnc_submissions)
        if full:
            row["metric"] = "fnc (numerai-tools on all)"
        rows.append(row)
    return {"machine": machine(), "shape": shape, "generator": generator, "rows": rows,
            "memory": memory, "repeats": args.repeats, "blas_threads": args.blas_threads}


if __name__ == "__main__":
    sys.exit(main())
