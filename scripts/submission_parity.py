"""Submission validation: `numerus submission check` against numerai-tools 0.7.2's
`validate_submission_numerai`, on crafted Classic submissions (CSV and Parquet).

Each case must be accepted by both or rejected by both with the same error code
(`invalid_submission_headers`, `_ids` or `_values`).

    python scripts/submission_parity.py --numerus target/debug/numerus
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from numerai_tools.submissions import validate_submission_numerai


def cases(ids):
    rng = np.random.default_rng(7)
    n = len(ids)
    base = pd.DataFrame({"id": ids, "prediction": rng.uniform(0.05, 0.95, n)})

    def with_values(**changes):
        frame = base.copy()
        for row, value in changes.items():
            frame.loc[int(row[1:]), "prediction"] = value
        return frame

    yield "valid, shuffled", base.sample(frac=1, random_state=1)
    yield "probability column", base.rename(columns={"prediction": "probability"})
    yield "unknown ids too", pd.concat([base, pd.DataFrame({"id": ["n000000000000zzz"], "prediction": [0.5]})])
    yield "a live id missing", base.iloc[1:]
    yield "a live id twice", pd.concat([base, base.iloc[[3]]])
    yield "an empty id", base.assign(id=[None] + list(ids[1:]))
    yield "a NaN prediction", with_values(r5=np.nan)
    yield "just below zero, within isclose", with_values(r2=-1e-9)
    yield "below zero", with_values(r2=-1e-6)
    yield "just above one, within isclose", with_values(r2=1 + 5e-6)
    yield "above one", with_values(r2=1.001)
    yield "constant", base.assign(prediction=0.5)
    yield "near constant, std 1e-9", base.assign(prediction=0.5 + np.arange(n) * 1e-11)
    yield "std 1e-6", base.assign(prediction=0.5 + np.arange(n) * 1e-8)
    yield "wrong id header", base.rename(columns={"id": "ID"})
    yield "wrong prediction header", base.rename(columns={"prediction": "target"})
    yield "columns swapped", base[["prediction", "id"]]
    yield "a third column", base.assign(era="X")


def reference(live, frame):
    try:
        validate_submission_numerai(live, frame.copy())
        return "valid"
    except AssertionError as error:
        return str(error).split(":")[0]


def numerus(binary, live_path, path):
    done = subprocess.run([binary, "submission", "check", "--file", str(path), "--live", str(live_path)],
                          capture_output=True, text=True)
    if done.returncode == 0:
        return "valid", done.stdout.strip()
    if done.returncode == 1:
        return done.stdout.split(":")[0], done.stdout.strip()
    raise SystemExit(f"numerus failed on {path}: {done.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numerus", required=True)
    args = parser.parse_args()
    ids = [f"n{i:015x}" for i in range(200)]
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        live_path = work / "live.parquet"
        pd.DataFrame({"feature_a": np.arange(200, dtype="int8") % 5}, index=pd.Index(ids, name="id")).to_parquet(live_path)
        live = pd.read_parquet(live_path).index.to_series()
        for number, (name, frame) in enumerate(cases(ids)):
            for suffix in ("csv", "parquet"):
                path = work / f"case{number}.{suffix}"
                if suffix == "csv":
                    frame.to_csv(path, index=False)
                    read_back = pd.read_csv(path)
                else:
                    frame.to_parquet(path, index=False)
                    read_back = pd.read_parquet(path)
                want = reference(live, read_back)
                got, message = numerus(args.numerus, live_path, path)
                ok = got == want
                failures += not ok
                print(f"[{'ok' if ok else 'FAIL'}] {name} ({suffix}): numerai-tools {want}, numerus {message}")
    if failures:
        sys.exit(f"SUBMISSION PARITY FAILED: {failures} case(s) differ")
    print("SUBMISSION PARITY OK")


if __name__ == "__main__":
    main()
