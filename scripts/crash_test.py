#!/usr/bin/env python3
"""Crash test of Numerus's uploads: SIGKILL in the middle of an upload burst, then restart.

Starts `numerus demo` on a fresh data directory (one simulated day per 600 real seconds, so
the first round stays open for the whole test), creates an account with 12 models, and has
6 threads upload valid predictions as fast as they can through the raw protocol numerapi
speaks (submission_upload_auth, PUT to the signed URL, create_submission); each thread takes
4 models and each model 2 threads, so uploads of one model overlap. Every upload is a
distinct file. After a few seconds it kills the server's process group with SIGKILL,
restarts the demo on the same directory and port, and checks that every upload the server
acknowledged (create_submission answered with an id) is present and valid, and that none is
partial:

  a. every acknowledged submission is listed for its model, in a taken state;
  b. its stored bytes, downloaded back, have the SHA-256 recorded at upload (a sample, and
     the last ones acknowledged before the kill);
  c. every blob file hashes to its name and every acknowledged row names the blob of its
     bytes, and no temporary file of an interrupted write is left; uploads the kill
     interrupted (`received`, never validated) are rejected when the server starts again,
     and none of them was acknowledged, stored or listed;
  d. each model has one selected submission in the round: its last acknowledged upload, or
     a later one that was validated but whose answer the kill cut off.

Prints `PASS name` or `FAIL name: reason` per check and the counts; exits 1 on any failure.
Under 2 minutes.

    scripts/crash-test [--keep] [--burst-seconds 4] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numerapi
import numpy as np
import pandas as pd
import requests
from numerapi import base_api

from demo_server import DemoServer

TOURNAMENT = 8
SIGNED_URL_SECONDS = 600
ACCOUNT = "crash"
MODELS = [f"crash_{index:02}" for index in range(12)]
THREADS = 6
PAYLOADS = 3000  # distinct files, so every upload (up to this many) writes a new blob
MIN_ACKS = 20
MAX_BURST_SECONDS = 30  # when fewer than MIN_ACKS by --burst-seconds, wait up to this long
SAMPLE = 60
LAST = 10
TAKEN = {"selected", "superseded", "scored", "resolved"}

UPLOAD_AUTH_QUERY = (
    "query($filename: String! $tournament: Int! $modelId: String) { "
    "submission_upload_auth(filename: $filename tournament: $tournament modelId: $modelId) "
    "{ filename url } }"
)
CREATE_SUBMISSION_MUTATION = (
    "mutation($filename: String! $tournament: Int! $modelId: String) { "
    "create_submission(filename: $filename tournament: $tournament modelId: $modelId) { id } }"
)
MODEL_SUBMISSIONS_QUERY = (
    "query($modelId: String) { model(modelId: $modelId) "
    "{ submissions { id filename state selected } } }"
)
DOWNLOAD_AUTH_QUERY = (
    "query($id: String) { submissionDownloadAuth(id: $id) { filename url } }"
)


# ----- checks ---------------------------------------------------------------------------


class Failed(Exception):
    """A check's expectation did not hold; the message says which."""


def expect(condition: Any, reason: str) -> None:
    if not condition:
        raise Failed(reason)


def one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def run(self, name: str, check: Callable[[], str | None]) -> bool:
        try:
            note = check()
        except Exception as error:  # every failure is reported and the run goes on
            detail = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
            print(f"FAIL {name}: {one_line(detail, 2000)}", flush=True)
            self.failed.append(name)
            return False
        print(f"PASS {name}", flush=True)
        if note:
            print(f"     {one_line(note, 600)}", flush=True)
        return True


# ----- the server -----------------------------------------------------------------------


def cli(numerus: Path, *args: str) -> str:
    done = subprocess.run([str(numerus), *args], capture_output=True, text=True, timeout=120)
    expect(done.returncode == 0,
           f"`numerus {' '.join(args)}` exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


# ----- the protocol -----------------------------------------------------------------------


class ProtocolError(Exception):
    """The server answered, but not with what the protocol expects (GraphQL errors, bad HTTP)."""


def graphql(session: requests.Session, url: str, token: str, query: str,
            variables: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    response = session.post(url, json={"query": query, "variables": variables},
                            headers={"Authorization": f"Token {token}"}, timeout=(3, timeout))
    if response.status_code != 200:
        raise ProtocolError(f"HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    if body.get("errors"):
        raise ProtocolError("; ".join(str(e.get("message")) for e in body["errors"]))
    return body["data"]


@dataclass
class Ack:
    model: str
    model_id: str
    submission: int
    sha256: str
    payload: int
    thread: int
    at: float  # time.monotonic() when the acknowledgement arrived


@dataclass
class Attempt:
    model: str
    step: str  # auth, put, create
    error: str
    after_kill: bool
    connection: bool  # a connection-level failure (refused, reset, timeout)


@dataclass
class Burst:
    url: str
    token: str
    model_ids: dict[str, str]
    payloads: list[tuple[bytes, str]]
    killed: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: list[Ack] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: dict[int, str] = field(default_factory=dict)  # thread -> step
    counter: int = 0

    def next_payload(self) -> int:
        with self.lock:
            index = self.counter
            self.counter += 1
        return index % len(self.payloads)

    def uploader(self, thread: int, models: list[str]) -> None:
        session = requests.Session()
        turn = 0
        while not self.stop.is_set():
            model = models[turn % len(models)]
            turn += 1
            model_id = self.model_ids[model]
            payload = self.next_payload()
            data, digest = self.payloads[payload]
            step = "auth"
            try:
                self.in_flight[thread] = step
                auth = graphql(session, self.url, self.token, UPLOAD_AUTH_QUERY,
                               {"filename": "p.csv", "tournament": TOURNAMENT,
                                "modelId": model_id})["submission_upload_auth"]
                step = "put"
                self.in_flight[thread] = step
                put = session.put(auth["url"], data=data, timeout=(3, 30))
                if put.status_code != 200:
                    raise ProtocolError(f"PUT answered HTTP {put.status_code}: {put.text[:300]}")
                step = "create"
                self.in_flight[thread] = step
                created = graphql(session, self.url, self.token, CREATE_SUBMISSION_MUTATION,
                                  {"filename": auth["filename"], "tournament": TOURNAMENT,
                                   "modelId": model_id})["create_submission"]
                ack = Ack(model, model_id, int(created["id"]), digest, payload, thread,
                          time.monotonic())
                with self.lock:
                    self.acks.append(ack)
            except (requests.RequestException, ProtocolError, ValueError, KeyError,
                    TypeError) as error:
                connection = isinstance(error, requests.RequestException)
                with self.lock:
                    self.attempts.append(Attempt(model, step, f"{type(error).__name__}: {error}",
                                                 self.killed.is_set(), connection))
                if self.killed.is_set():
                    break  # the server is gone: this thread noticed and stops
                if not connection:
                    time.sleep(0.05)
            finally:
                self.in_flight.pop(thread, None)


# ----- setup ------------------------------------------------------------------------------


def live_ids(url: str, public: str, secret: str, work: Path) -> tuple[list[str], str]:
    base_api.API_TOURNAMENT_URL = url
    napi = numerapi.NumerAPI(public, secret, show_progress_bars=False)
    names = napi.list_datasets()
    live = sorted(n for n in names if n.endswith("/live.parquet"))
    expect(live, f"list_datasets() has no .../live.parquet: {names}")
    name = live[-1]
    path = work / "live.parquet"
    # The first round opens a moment after the demo starts (5 simulated minutes, then the
    # scheduler's next tick); until then there is no live file.
    deadline = time.monotonic() + 60
    quiet = logging.getLogger("numerapi.base_api")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # numerapi logs every "no round has opened yet" as ERROR
    try:
        while True:
            try:
                napi.download_dataset(name, str(path))
                break
            except ValueError as error:
                expect(time.monotonic() < deadline,
                       f"the first round did not open in 60 s: {error}")
                time.sleep(0.5)
    finally:
        quiet.setLevel(level)
    frame = pd.read_parquet(path).reset_index()
    expect("id" in frame.columns, f"{name} has no id column: {list(frame.columns)}")
    ids = [str(i) for i in frame["id"]]
    expect(ids and len(set(ids)) == len(ids), f"{name} has {len(ids)} ids, some repeated")
    return ids, name


def build_payloads(ids: list[str], count: int, seed: int) -> list[tuple[bytes, str]]:
    """`count` distinct valid CSV files (id,prediction), each with its SHA-256."""
    payloads = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        # Ranks of uniform draws, shifted half a step: every prediction strictly inside (0, 1).
        ranks = np.argsort(np.argsort(rng.uniform(size=len(ids)))) + 0.5
        predictions = ranks / len(ids)
        text = "id,prediction\n" + "".join(
            f"{i},{p:.6f}\n" for i, p in zip(ids, predictions.tolist())
        )
        data = text.encode()
        payloads.append((data, hashlib.sha256(data).hexdigest()))
    digests = {digest for _, digest in payloads}
    expect(len(digests) == count, "the payloads are not all distinct")
    return payloads


# ----- the test ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_db(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numerus", type=Path, default=Path("target/debug/numerus"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--burst-seconds", type=float, default=4.0,
                        help="how long the uploads run before the kill (default 4)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the payloads and of the sample (default: random)")
    args = parser.parse_args()
    logging.getLogger("numerapi").setLevel(logging.WARNING)
    numerus = args.numerus.resolve()
    expect(numerus.exists(), f"{numerus} does not exist; cargo build -p numerus-cli")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"seed {seed} (rerun with --seed {seed})", flush=True)

    work = Path(tempfile.mkdtemp(prefix="numerus-crash-"))
    data_dir = work / "data"
    # No per-client request limit: the burst is ~1000 requests/s from one address, and a
    # throttled request is not what this test is about.
    server = DemoServer(numerus, data_dir, work, seed=3, day_seconds=600, participants=0,
                        env={"NUMERUS_SIGNED_URL_SECONDS": str(SIGNED_URL_SECONDS),
                             "NUMERUS_REQUESTS_PER_SECOND": "0"})
    checks = Checks()
    started = time.monotonic()
    try:
        run(args, seed, numerus, work, data_dir, server, checks)
    except Exception as error:  # a setup step failed: report it, stop the server, keep the dir
        detail = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
        print(f"FAIL setup: {one_line(detail, 2000)}", flush=True)
        checks.failed.append("setup")
    finally:
        code = server.stop()
        if code not in (None, 0):
            print(f"note: the restarted server exited with status {code} on SIGTERM", flush=True)
        if checks.failed and server.log_path is not None:
            print(f"--- last lines of {server.log_path.name} ---\n{server.tail()}", flush=True)
        if args.keep or checks.failed:
            print(f"kept {work} (server logs server-1.log, server-2.log; data in data/)",
                  flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    if checks.failed:
        print(f"\n{len(checks.failed)} check(s) failed in {elapsed:.0f} s: "
              f"{', '.join(checks.failed)}", flush=True)
        return 1
    print(f"\nall checks passed in {elapsed:.0f} s", flush=True)
    return 0


def run(args: argparse.Namespace, seed: int, numerus: Path, work: Path, data_dir: Path,
        server: DemoServer, checks: Checks) -> None:
    database = data_dir / "numerus.sqlite"

    # 1. The server, the account and models, the live ids and the payloads.
    server.start()
    ready = server.wait_ready()
    print(f"demo ready after {ready:.0f} s on {server.url}", flush=True)
    out = cli(numerus, "account", "create", "--data-dir", str(data_dir), "--username", ACCOUNT)
    public = re.search(r"^NUMERAI_PUBLIC_ID=(\S+)$", out, re.MULTILINE)
    secret = re.search(r"^NUMERAI_SECRET_KEY=(\S+)$", out, re.MULTILINE)
    expect(public and secret, f"unexpected output of account create: {out!r}")
    public, secret = public[1], secret[1]
    token = f"{public}${secret}"
    for model in MODELS:
        cli(numerus, "model", "create", "--data-dir", str(data_dir), "--account", ACCOUNT,
            "--name", model)
    base_api.API_TOURNAMENT_URL = server.url
    model_ids = numerapi.NumerAPI(public, secret).get_models()
    expect(set(MODELS) <= set(model_ids), f"get_models() is missing models: {model_ids}")
    model_ids = {name: str(model_ids[name]) for name in MODELS}
    ids, live_name = live_ids(server.url, public, secret, work)
    payloads = build_payloads(ids, PAYLOADS, seed)
    print(f"{len(MODELS)} models; {live_name} has {len(ids)} ids; "
          f"{len(payloads)} payloads of ~{len(payloads[0][0]) // 1024} KiB", flush=True)

    # 2-3. The burst, and the kill in its middle.
    burst = Burst(server.url, token, model_ids, payloads)

    def share(thread: int) -> list[str]:
        # Each thread takes 4 models and each model 2 threads: uploads of one model overlap.
        return [MODELS[(2 * thread + k) % len(MODELS)] for k in range(4)]

    threads = [
        threading.Thread(target=burst.uploader, args=(t, share(t)), daemon=True)
        for t in range(THREADS)
    ]
    burst_start = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(args.burst_seconds)
    while len(burst.acks) < MIN_ACKS and time.monotonic() - burst_start < MAX_BURST_SECONDS:
        time.sleep(0.25)
    acks_before = len(burst.acks)
    in_flight = dict(burst.in_flight)
    burst.killed.set()
    kill_time = time.monotonic()
    server.kill()
    killed_after = kill_time - burst_start
    for thread in threads:
        thread.join(timeout=20)
    burst.stop.set()
    for thread in threads:
        thread.join(timeout=20)
    stuck = [t.name for t in threads if t.is_alive()]
    acks = sorted(burst.acks, key=lambda a: a.submission)
    # An answer that raced the kill can still arrive after killed.set(); it was acknowledged.
    late_acks = [a for a in acks if a.at >= kill_time]
    failures = burst.attempts
    print(f"killed the server (SIGKILL) {killed_after:.1f} s into the burst: "
          f"{len(acks)} acknowledged ({len(late_acks)} answered while the kill landed), "
          f"{len(failures)} failed attempts; in flight at the kill: "
          f"{sorted(in_flight.values()) or 'none'}", flush=True)

    def burst_check() -> str:
        expect(not stuck, f"uploader threads did not stop after the kill: {stuck}")
        expect(acks_before >= MIN_ACKS,
               f"only {acks_before} uploads were acknowledged in {killed_after:.1f} s "
               f"(at least {MIN_ACKS} are needed before the kill); "
               f"failures: {[f.error for f in failures[:5]]}")
        before = [f for f in failures if not f.after_kill]
        expect(not before, f"{len(before)} uploads failed before the kill, e.g. "
                           f"{[(f.model, f.step, f.error) for f in before[:5]]}")
        expect(len({a.submission for a in acks}) == len(acks),
               "the server acknowledged the same submission id twice")
        per_model = {m: sum(a.model == m for a in acks) for m in MODELS}
        return (f"{len(acks)} acknowledged before the kill at {killed_after:.1f} s "
                f"({len(acks) / killed_after:.0f}/s; per model {min(per_model.values())}"
                f"..{max(per_model.values())})")

    checks.run("the burst ran cleanly until the kill", burst_check)
    expect(acks, "nothing was acknowledged; nothing to check")

    # 4. The restart.
    server.start()
    ready = server.wait_ready()
    print(f"restarted; ready after {ready:.1f} s", flush=True)
    session = requests.Session()

    def call(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return graphql(session, server.url, token, query, variables)

    listed: dict[str, dict[int, dict[str, Any]]] = {}
    for model in MODELS:
        rows = call(MODEL_SUBMISSIONS_QUERY, {"modelId": model_ids[model]})["model"]["submissions"]
        listed[model] = {int(row["id"]): row for row in rows}

    # a. Every acknowledged submission is listed for its model, in a taken state.
    def check_listed() -> str:
        missing, wrong = [], []
        for ack in acks:
            row = listed[ack.model].get(ack.submission)
            if row is None:
                missing.append(ack)
            elif row["state"] not in TAKEN:
                wrong.append((ack, row))
        details = []
        for ack in missing[:10]:
            found = read_db(database, "SELECT id, model_id, state, blob, reason FROM submissions "
                                      "WHERE id = ?", (ack.submission,))
            details.append(f"{ack.model} #{ack.submission}: not listed; DB row {found or 'absent'}")
        for ack, row in wrong[:10]:
            details.append(f"{ack.model} #{ack.submission}: state {row['state']}")
        expect(not missing and not wrong,
               f"{len(missing)} acknowledged uploads are not listed and {len(wrong)} are in a "
               f"state other than {sorted(TAKEN)}: {details}")
        states: dict[str, int] = {}
        for ack in acks:
            state = listed[ack.model][ack.submission]["state"]
            states[state] = states.get(state, 0) + 1
        return f"all {len(acks)} listed; states {states}"

    checks.run("a. every acknowledged upload is listed for its model in a taken state",
               check_listed)

    # b. The stored bytes of a sample come back with the SHA-256 recorded at upload.
    rng = random.Random(seed)
    last = acks[-LAST:]
    sample = {a.submission: a for a in rng.sample(acks, min(SAMPLE, len(acks)))}
    sample.update({a.submission: a for a in last})

    def check_bytes() -> str:
        bad = []
        for ack in sorted(sample.values(), key=lambda a: a.submission):
            try:
                auth = call(DOWNLOAD_AUTH_QUERY, {"id": str(ack.submission)})
                url = auth["submissionDownloadAuth"]["url"]
                response = session.get(url, timeout=30)
                if response.status_code != 200:
                    bad.append(f"#{ack.submission}: GET answered {response.status_code}")
                    continue
                got = hashlib.sha256(response.content).hexdigest()
                if got != ack.sha256:
                    bad.append(f"#{ack.submission} ({ack.model}): {len(response.content)} bytes "
                               f"hash {got[:16]}, uploaded {len(payloads[ack.payload][0])} bytes "
                               f"hash {ack.sha256[:16]}")
            except (requests.RequestException, ProtocolError, KeyError, TypeError) as error:
                bad.append(f"#{ack.submission}: {type(error).__name__}: {error}")
        expect(not bad, f"{len(bad)} of {len(sample)} downloads differ from what was "
                        f"uploaded: {bad[:10]}")
        return (f"{len(sample)} downloaded byte-for-byte, including the last {len(last)} "
                f"acknowledged (#{last[0].submission}..#{last[-1].submission})")

    checks.run("b. the stored bytes of acknowledged uploads are the uploaded bytes", check_bytes)

    # c. Nothing partial: blobs hash to their names, acknowledged rows name their bytes' blob,
    #    and no upload stays `received`.
    blob_root = data_dir / "blobs"
    blob_count = 0
    leftovers: list[str] = []

    def check_blobs() -> str:
        nonlocal blob_count
        bad = []
        for path in sorted(p for p in blob_root.rglob("*") if p.is_file()):
            if path.name.startswith(".") and path.name.endswith(".partial"):
                leftovers.append(path.name)  # a write the kill interrupted, never renamed in
                continue
            blob_count += 1
            name = path.name.split(".", 1)[0]
            if path.parent.name != name[:2] or sha256_file(path) != name:
                bad.append(str(path.relative_to(blob_root)))
        expect(blob_count > 0, f"no blobs under {blob_root}")
        expect(not bad, f"{len(bad)} of {blob_count} blob files do not hash to their names: "
                        f"{bad[:10]}")
        referenced = read_db(database, "SELECT id, state, blob FROM submissions "
                                       "WHERE state NOT IN ('received', 'rejected')")
        unstored = [r for r in referenced
                    if not r[2] or not (blob_root / r[2][:2] / r[2]).is_file()]
        expect(not unstored, f"{len(unstored)} taken submissions have no blob file: "
                             f"{unstored[:10]}")
        rows = {r[0]: r for r in referenced}
        wrong = [(a.submission, a.sha256[:16], rows.get(a.submission)) for a in acks
                 if a.submission not in rows
                 or rows[a.submission][2] != f"{a.sha256}.csv"]
        expect(not wrong, f"{len(wrong)} acknowledged rows do not name the blob of their "
                          f"bytes: {wrong[:10]}")
        note = f"{blob_count} blob files hash to their names; all {len(acks)} acknowledged " \
               f"rows name the blob of their uploaded bytes"
        expect(not leftovers, f"temporary files of interrupted writes left after the restart: "
                              f"{leftovers[:5]}")
        return note

    checks.run("c1. no partial blob: every blob file hashes to its name", check_blobs)

    acked_ids = {a.submission for a in acks}
    still_received: list[int] = []

    def check_reaped() -> str:
        """Uploads the kill interrupted (`received`, never validated) are rejected when the
        server starts again; none of them was acknowledged, stored or listed."""
        rows = read_db(database, "SELECT id, state, blob, ranks, reason FROM submissions "
                                 "WHERE state = 'received' OR reason LIKE '%server stopped%' "
                                 "ORDER BY id")
        left = [r[0] for r in rows if r[1] == "received"]
        expect(not left, f"uploads still `received` after the restart: {left}")
        acknowledged = [r[0] for r in rows if r[0] in acked_ids]
        expect(not acknowledged, f"acknowledged uploads were rejected as interrupted: {acknowledged}")
        stored = [r[0] for r in rows if r[2] is not None or r[3] is not None]
        expect(not stored, f"interrupted uploads that name blobs: {stored}")
        shown = [r[0] for r in rows if any(r[0] in sub for sub in listed.values())]
        expect(not shown, f"interrupted uploads listed by the API: {shown}")
        still_received[:] = []
        return (f"{len(rows)} interrupted upload(s) {[r[0] for r in rows]} rejected at the "
                f"restart (unacknowledged, no blob, not listed)")

    checks.run("c2. no upload is left half-taken: interrupted ones are rejected at the restart",
               check_reaped)

    # d. One selected submission per model in the round: the last acknowledged, or a later
    #    one validated just before the kill whose answer never arrived.
    def check_selected() -> str:
        acked = {a.submission for a in acks}
        rows = read_db(database, "SELECT s.id, m.name, s.round, s.state FROM submissions s "
                                 "JOIN models m ON m.id = s.model_id "
                                 "WHERE m.name LIKE 'crash\\_%' ESCAPE '\\' ORDER BY s.id")
        rounds = {r[2] for r in rows if r[0] in acked}
        expect(len(rounds) == 1, f"the acknowledged uploads span rounds {sorted(rounds)}")
        (round_number,) = rounds
        bad, later = [], []
        for model in MODELS:
            mine = [a.submission for a in acks if a.model == model]
            if not mine:
                continue
            last_ack = max(mine)
            selected = [r[0] for r in rows
                        if r[1] == model and r[2] == round_number and r[3] == "selected"]
            api_selected = sorted(i for i, row in listed[model].items()
                                  if row["state"] == "selected")
            if selected != api_selected:
                bad.append(f"{model}: the DB selects {selected}, the API lists {api_selected}")
            if len(selected) != 1:
                bad.append(f"{model}: {len(selected)} selected submissions {selected} "
                           f"(last acknowledged #{last_ack})")
                continue
            (chosen,) = selected
            if chosen == last_ack:
                continue
            if chosen > last_ack and chosen not in acked:
                later.append(f"{model}: #{chosen} (last acknowledged #{last_ack})")
                continue
            bad.append(f"{model}: #{chosen} is selected, not the last acknowledged #{last_ack}")
        expect(not bad, "; ".join(bad))
        note = f"round {round_number}: one selected submission per model"
        if later:
            note += (f"; {len(later)} selected an upload validated just before the kill whose "
                     f"answer never arrived: {later}")
        else:
            note += ", each its last acknowledged upload"
        return note

    checks.run("d. each model has one selected submission: its last acknowledged upload",
               check_selected)

    # e. The counts.
    def counts() -> str:
        rows = read_db(database, "SELECT state, reason FROM submissions s "
                                 "JOIN models m ON m.id = s.model_id WHERE m.name LIKE 'crash%'")
        reaped = sum(1 for state, reason in rows
                     if state == "rejected" and reason and "stopped" in reason)
        other_rejected = sum(1 for state, reason in rows
                             if state == "rejected" and not (reason and "stopped" in reason))
        taken = sum(1 for state, _ in rows if state in TAKEN)
        unanswered = taken - len(acks)
        staged = [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]
        scratch = [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]
        kinds: dict[str, int] = {}
        for failure in failures:
            key = f"{failure.step}:{failure.error.split(':')[0]}"
            kinds[key] = kinds.get(key, 0) + 1
        expect(other_rejected == 0, f"{other_rejected} uploads were rejected for another reason")
        repeats = max(0, burst.counter - len(payloads))
        return (f"acknowledged {len(acks)}; payloads reused {repeats} times; failed attempts {len(failures)} {kinds}; "
                f"submission rows {len(rows)} (taken {taken}, of which validated but "
                f"unanswered {unanswered}; reaped {reaped}); "
                f"blobs checked {blob_count}; interrupted blob temporaries {len(leftovers)}; "
                f"still `received` awaiting their deadline {len(still_received)}; "
                f"staged upload files left {len(staged)}; scratch files left {len(scratch)}")

    checks.run("e. counts", counts)


if __name__ == "__main__":
    sys.exit(main())
