#!/usr/bin/env python3
"""End-to-end test of Numerus's Numerai-compatible API, driven by numerapi 3.1.1.

Starts `numerus demo` (an accelerated tournament: one business day every 4 s) on a fresh
data directory, creates accounts and models with the CLI, then does what participants do
through numerapi: datasets, rounds, uploads, the beginner notebook's LightGBM model, stakes,
the wallet, scores and leaderboards; then authorization and bad inputs through the raw
protocol. Prints `PASS name` or `FAIL name: reason` per check and a table of the numerapi
methods exercised; exits 1 if any check failed.

    scripts/api-e2e [--keep] [--table FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import lightgbm
import numerapi
import pandas as pd
import requests
from numerapi import base_api

from demo_server import DemoServer

TOURNAMENT = 8
FIRST_ROUND = 1175
SCORE_TIMEOUT = 240
LEADERBOARD_TIMEOUT = 240
OPEN_ROUND_WAIT = 60  # a simulated weekend lasts 8 s
SIGNED_URL_SECONDS = 20
OVERSIZED_UPLOAD = 2**30  # 1 GiB; the server's default limit is 100 MiB
ACCOUNTS = {"e2e_alice": ["alice_one", "alice_two"], "e2e_bob": ["bob_one"]}
ALICE, BOB = "e2e_alice", "e2e_bob"

# numerapi's own query texts (base_api.py of 3.1.1), for the raw-protocol checks.
DATASET_QUERY = """
        query ($filename: String!
               $round: Int
               $tournament: Int) {
            dataset(filename: $filename
                    round: $round
                    tournament: $tournament)
        }
        """
UPLOAD_AUTH_QUERY = """
            query($filename: String!
                  $tournament: Int!
                  $modelId: String) {
                submission_upload_auth(filename: $filename
                                       tournament: $tournament
                                       modelId: $modelId) {
                    filename
                    url
                }
            }
        """
CREATE_SUBMISSION_MUTATION = """
            mutation($filename: String!
                     $tournament: Int!
                     $modelId: String
                     $triggerId: String,
                     $dataDatestamp: Int) {
                create_submission(filename: $filename
                                  tournament: $tournament
                                  modelId: $modelId
                                  triggerId: $triggerId
                                  source: "numerapi"
                                  dataDatestamp: $dataDatestamp) {
                    id
                }
            }
            """
ROUND_TIMES_QUERY = """
            query($tournament: Int!) {
              rounds(tournament: $tournament
              number: 0) {
                number
                openTime
                closeStakingTime
              }
            }
        """


# ----- checks ---------------------------------------------------------------------------


class Failed(Exception):
    """A check's expectation did not hold; the message says which."""


def expect(condition: Any, reason: str) -> None:
    if not condition:
        raise Failed(reason)


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def printable(text: str, limit: int) -> str:
    """One line of at most `limit` characters, control characters escaped."""
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def describe(error: BaseException) -> str:
    if isinstance(error, Failed):
        return str(error)
    if isinstance(error, KeyError) and error.args == ("data",):
        # numerapi's post_with_err_handling turns HTTP errors and non-JSON bodies into {}.
        return "numerapi got no JSON answer (HTTP error or non-JSON body; numerapi logged which)"
    return f"{type(error).__name__}: {error}"


class Checks:
    """Runs named checks, prints PASS/FAIL, and tracks which numerapi methods worked."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.methods: dict[str, str] = {}

    def run(
        self,
        name: str,
        methods: list[str],
        check: Callable[[], str | None],
        *,
        works: str = "yes",
    ) -> bool:
        try:
            note = check()
        except Exception as error:  # every failure is reported and the run goes on
            print(f"FAIL {name}: {printable(describe(error), 600)}", flush=True)
            self.failed.append(name)
            ok = False
        else:
            print(f"PASS {name}", flush=True)
            if note:
                print(f"     {printable(note, 300)}", flush=True)
            self.passed.append(name)
            ok = True
        for method in methods:
            if self.methods.get(method) != "no":
                self.methods[method] = works if ok else "no"
        return ok

    def table(self) -> str:
        rows = ["| numerapi method | works |", "|---|---|"]
        rows += [f"| {method} | {works} |" for method, works in self.methods.items()]
        return "\n".join(rows) + "\n"


def expect_value_error(call: Callable[[], Any], *words: str) -> str:
    """The message of the ValueError `call` must raise, which must mention every word."""
    try:
        result = call()
    except ValueError as error:
        message = str(error)
    else:
        raise Failed(f"expected a ValueError, got {short(result)}")
    expect(message.strip(), "a ValueError with an empty message")
    missing = [word for word in words if word.lower() not in message.lower()]
    expect(not missing, f"the message does not mention {missing}: {message!r}")
    return message


def poll(what: str, fetch: Callable[[], Any], done: Callable[[Any], bool], deadline: float) -> Any:
    while True:
        answer = fetch()
        if done(answer):
            return answer
        if time.monotonic() >= deadline:
            raise Failed(f"{what} not seen in time; last answer: {short(answer)}")
        time.sleep(2)


# ----- the server and the CLI -------------------------------------------------------------


def cli(numerus: Path, *args: str) -> str:
    done = subprocess.run(
        [str(numerus), *args], capture_output=True, text=True, timeout=120, check=False
    )
    expect(
        done.returncode == 0,
        f"`numerus {' '.join(args)}` exited {done.returncode}: "
        f"{(done.stderr or done.stdout).strip()}",
    )
    return done.stdout


# ----- the session ------------------------------------------------------------------------


def round_refusal(message: str) -> bool:
    """An upload refused for the round's timing rather than for its content."""
    text = message.lower()
    # "not open" also covers a round whose start time has passed but whose data the
    # scheduler is still publishing.
    return "closed" in text or "no round" in text or "not open" in text


def current_round(napi: numerapi.NumerAPI) -> int | None:
    try:
        return napi.get_current_round()
    except ValueError:
        return None


@dataclass
class Session:
    numerus: Path
    data_dir: Path
    work: Path
    url: str
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    apis: dict[str, numerapi.NumerAPI] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # model name -> submission id
    version: str | None = None
    open_wait: float = OPEN_ROUND_WAIT

    def napi(self, username: str) -> numerapi.NumerAPI:
        expect(username in self.apis, f"no API key for {username} (account creation failed)")
        return self.apis[username]

    @property
    def alice(self) -> numerapi.NumerAPI:
        return self.napi(ALICE)

    def model(self, name: str) -> str:
        expect(name in self.models, f"the id of model {name} is unknown (get_models failed)")
        return self.models[name]

    def owner_api(self, model: str) -> numerapi.NumerAPI:
        return self.napi(self.owners.get(model, ALICE))

    def data_version(self) -> str:
        expect(self.version, "the dataset version is unknown (list_datasets failed)")
        return self.version

    def dataset(self, name: str) -> str:
        return f"{self.data_version()}/{name}"

    def wait_until_open(self, probe: numerapi.NumerAPI) -> None:
        deadline = time.monotonic() + self.open_wait
        while not probe.check_round_open():
            if time.monotonic() >= deadline:
                waited = self.open_wait
                self.open_wait = 10  # failed once: do not spend a minute on every later check
                try:
                    served = short(probe.raw_query(ROUND_TIMES_QUERY, {"tournament": TOURNAMENT}))
                except ValueError as error:
                    served = f"error {error}"
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                raise Failed(
                    f"check_round_open() stayed False for {waited:.0f} s "
                    f"(it compares the round's times with this machine's clock, now {now}; "
                    f"rounds(number: 0) answers {served})"
                )
            time.sleep(0.2)

    def in_open_round(self, call: Callable[[], Any], probe: numerapi.NumerAPI | None = None) -> Any:
        """`call()` in an open round, retried (5 tries) when refused for the round's timing."""
        probe = probe or self.alice
        tries = 5
        for attempt in range(1, tries + 1):
            self.wait_until_open(probe)
            before = current_round(probe)
            try:
                return call()
            except ValueError as error:
                # Live ids change every round: a file built just before a new round opened
                # is refused for its ids, which is the round's fault, not the file's.
                rolled_over = before is not None and current_round(probe) != before
                if attempt == tries or not (round_refusal(str(error)) or rolled_over):
                    raise
            time.sleep(0.2)
        raise AssertionError("unreachable")


def new_api(public_id: str, secret_key: str, kind: type = numerapi.NumerAPI) -> Any:
    return kind(
        public_id=public_id, secret_key=secret_key, verbosity="warning", show_progress_bars=False
    )


def read_with_ids(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """A dataset file with `id` as a column, whether the file has it as a column or, like
    Numerai's own files, as the pandas index."""
    frame = pd.read_parquet(path, columns=columns)
    if "id" not in frame.columns and frame.index.name == "id":
        frame = frame.reset_index()
    return frame


def fresh_download(napi: numerapi.NumerAPI, name: str, dest: Path) -> Path:
    # numerapi skips the download when dest already has the served size, and live files
    # of two rounds can have the same size.
    dest.unlink(missing_ok=True)
    Path(f"{dest}.temp").unlink(missing_ok=True)
    return Path(napi.download_dataset(name, str(dest)))


def live_predictions(s: Session, napi: numerapi.NumerAPI, dest: Path) -> pd.DataFrame:
    """id,prediction for the current round: the rank of one feature, strictly inside (0, 1)."""
    live = read_with_ids(fresh_download(napi, s.dataset("live.parquet"), dest))
    features = [column for column in live.columns if column.startswith("feature_")]
    expect(features, f"the live file has no feature_* columns: {list(live.columns)[:10]}")
    feature = max(features, key=lambda column: live[column].nunique())
    rank = live[feature].rank().fillna(len(live) / 2)
    return pd.DataFrame({"id": live["id"], "prediction": (rank - 0.5) / len(live)})


def submission_ids(napi: numerapi.NumerAPI, model_id: str) -> set[str]:
    return {submission["id"] for submission in napi.submission_ids(model_id)}


def upload_auth(napi: numerapi.NumerAPI, filename: str, model_id: str) -> dict:
    arguments = {"filename": filename, "tournament": TOURNAMENT, "modelId": model_id}
    answer = napi.raw_query(UPLOAD_AUTH_QUERY, arguments, authorization=True)
    return answer["data"]["submission_upload_auth"]


def create_submission(napi: numerapi.NumerAPI, filename: str, model_id: str) -> str:
    arguments = {
        "filename": filename,
        "tournament": TOURNAMENT,
        "modelId": model_id,
        "triggerId": None,
        "dataDatestamp": None,
    }
    answer = napi.raw_query(CREATE_SUBMISSION_MUTATION, arguments, authorization=True)
    return answer["data"]["create_submission"]["id"]


@contextlib.contextmanager
def recorded_gets() -> Iterator[list[tuple[str | None, int]]]:
    """Records (Range header, status) of every requests.get, which numerapi's download uses."""
    calls: list[tuple[str | None, int]] = []
    real_get = requests.get

    def spy(url, *args, **kwargs):
        response = real_get(url, *args, **kwargs)
        calls.append(((kwargs.get("headers") or {}).get("Range"), response.status_code))
        return response

    requests.get = spy
    try:
        yield calls
    finally:
        requests.get = real_get


# ----- setup ------------------------------------------------------------------------------


def setup_accounts(s: Session) -> str:
    for username, models in ACCOUNTS.items():
        out = cli(s.numerus, "account", "create", "--data-dir", str(s.data_dir),
                  "--username", username)
        created = re.search(r"created \(id (\d+)\)", out)
        public = re.search(r"^NUMERAI_PUBLIC_ID=(\S+)$", out, re.MULTILINE)
        secret = re.search(r"^NUMERAI_SECRET_KEY=(\S+)$", out, re.MULTILINE)
        expect(created and public and secret, f"unexpected output of account create: {out!r}")
        s.user_ids[username] = created[1]
        s.keys[username] = (public[1], secret[1])
        s.apis[username] = new_api(public[1], secret[1])
        for model in models:
            cli(s.numerus, "model", "create", "--data-dir", str(s.data_dir),
                "--account", username, "--name", model)
            s.owners[model] = username
    return ", ".join(f"{user} (id {s.user_ids[user]})" for user in ACCOUNTS)


def fund_alice(s: Session) -> None:
    expect(ALICE in s.user_ids, "alice's account was not created")
    cli(s.numerus, "ledger", "--data-dir", str(s.data_dir), "emit",
        "--id", "api-e2e-alice-grant", "--to", f"wallet:{s.user_ids[ALICE]}",
        "--amount", "100", "--reason", "API end-to-end test grant")


def check_get_models(s: Session) -> str:
    for username, models in ACCOUNTS.items():
        got = s.napi(username).get_models()
        expect(isinstance(got, dict) and set(got) == set(models),
               f"{username}: expected models {models}, got {short(got)}")
        expect(all(isinstance(i, str) and i for i in got.values()), f"bad model ids: {short(got)}")
        s.models.update(got)
    return ", ".join(f"{name}={model_id}" for name, model_id in s.models.items())


# ----- 1-3: datasets, rounds, account -----------------------------------------------------


def check_list_datasets(s: Session) -> str:
    names = s.alice.list_datasets()
    expect(isinstance(names, list) and names, f"expected a non-empty list, got {short(names)}")
    versions = [name[: -len("/train.parquet")] for name in names if name.endswith("/train.parquet")]
    expect(versions, f"no <version>/train.parquet in {short(names)}")
    s.version = next((v for v in versions if f"{v}/live.parquet" in names), None)
    expect(s.version, f"no {versions[0]}/live.parquet in {short(names)}")
    return f"version {s.version}: {', '.join(names)}"


def check_download_live(s: Session) -> str:
    dest = s.work / "live.parquet"
    path = s.alice.download_dataset(s.dataset("live.parquet"), str(dest))
    expect(path == str(dest), f"download_dataset returned {path!r}, not {str(dest)!r}")
    data = dest.read_bytes()
    expect(data[:4] == b"PAR1" and data[-4:] == b"PAR1", f"not a Parquet file: {data[:16]!r}")
    live = pd.read_parquet(dest)
    id_place = "column" if "id" in live.columns else "index" if live.index.name == "id" else None
    missing = {"era", "data_type"} - set(live.columns) | ({"id"} if id_place is None else set())
    expect(not missing, f"live.parquet lacks the columns {sorted(missing)}")
    features = [column for column in live.columns if column.startswith("feature_")]
    expect(features and len(live), f"{len(live)} rows, {len(features)} feature columns")
    return f"{len(data)} bytes, {len(live)} rows, {len(features)} features, id as {id_place}"


def check_download_resume(s: Session) -> str:
    name = s.dataset("live.parquet")
    dest = s.work / "resume" / "live.parquet"
    temp = Path(f"{dest}.temp")
    for _ in range(3):
        before = current_round(s.alice)
        whole = fresh_download(s.alice, name, dest).read_bytes()
        # numerapi resumes only from a .temp file, and only when dest is not already there.
        dest.unlink()
        half = len(whole) // 2
        temp.write_bytes(whole[:half])
        with recorded_gets() as gets:
            s.alice.download_dataset(name, str(dest))
        again = dest.read_bytes()
        if again == whole or current_round(s.alice) == before:
            break  # otherwise the live file rolled over to a new round in between: again
    expect(again == whole,
           f"the resumed file differs from the first download ({len(again)} vs {len(whole)} bytes)")
    expect(
        (f"bytes={half}-", 206) in gets,
        f"numerapi did not resume with a Range request answered 206; its GETs (Range, status): "
        f"{gets} (it resumes only when the plain GET sends Content-Length)",
    )
    return f"resumed from byte {half} of {len(whole)}"


def check_range_request(s: Session) -> str:
    arguments = {"filename": s.dataset("live.parquet"), "round": None, "tournament": TOURNAMENT}
    url = s.alice.raw_query(DATASET_QUERY, arguments)["data"]["dataset"]
    whole = requests.get(url, timeout=60)
    expect(whole.status_code == 200, f"GET {url}: status {whole.status_code}")
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=60)
    expect(part.status_code == 206, f"Range GET: status {part.status_code}, not 206")
    expect(part.content == whole.content[10:20],
           f"Range GET gave {part.content!r}, bytes 10-19 are {whole.content[10:20]!r}")
    content_range = part.headers.get("Content-Range")
    expect(content_range == f"bytes 10-19/{len(whole.content)}",
           f"Content-Range is {content_range!r}, not 'bytes 10-19/{len(whole.content)}'")
    return f"Content-Range: {content_range}"


def check_current_round(s: Session) -> str:
    number = s.in_open_round(s.alice.get_current_round)
    expect(isinstance(number, int) and not isinstance(number, bool) and number >= FIRST_ROUND,
           f"expected an int >= {FIRST_ROUND}, got {short(number)}")
    return f"round {number}"


def check_round_open(s: Session) -> str:
    answer = s.alice.check_round_open()
    expect(isinstance(answer, bool), f"expected a bool, got {short(answer)}")
    return f"open: {answer}"


def check_competitions(s: Session) -> str:
    rounds = s.alice.get_competitions()
    expect(isinstance(rounds, list) and rounds, f"expected a non-empty list, got {short(rounds)}")
    numbers = [r.get("number") for r in rounds]
    expect(all(isinstance(n, int) for n in numbers) and max(numbers) >= FIRST_ROUND,
           f"round numbers {short(numbers)}")
    expect(all(r.get("openTime") is not None for r in rounds),
           f"a round without openTime: {short(rounds)}")
    return f"{len(rounds)} rounds, {min(numbers)}..{max(numbers)}"


def check_list_rounds(s: Session) -> str:
    rounds = s.alice.list_rounds(limit=3)
    expect(isinstance(rounds, list) and 1 <= len(rounds) <= 3,
           f"expected 1 to 3 rounds, got {short(rounds)}")
    for entry in rounds:
        expect(isinstance(entry.get("number"), int), f"a round without a number: {short(entry)}")
        configs = entry.get("roundScoreConfigs")
        expect(isinstance(configs, list),
               f"round {entry.get('number')}: roundScoreConfigs is {short(configs)}")
    return "rounds " + ", ".join(str(entry["number"]) for entry in rounds)


def check_get_account(s: Session) -> str:
    account = s.alice.get_account()
    expect(account.get("username") == ALICE, f"username {account.get('username')!r}, not {ALICE!r}")
    nmr = account.get("availableNmr")
    expect(isinstance(nmr, Decimal) and nmr == 100, f"availableNmr {short(nmr)}, not Decimal 100")
    names = {model.get("name") for model in account.get("models") or []}
    expect(names == set(ACCOUNTS[ALICE]), f"models {sorted(map(str, names))}")
    return f"availableNmr {nmr}"


# ----- 4-5: uploads -----------------------------------------------------------------------


def check_upload_file(s: Session) -> str:
    model_id = s.model("alice_one")
    path = s.work / "alice_one.csv"

    def upload() -> str:
        live_predictions(s, s.alice, s.work / "live-upload.parquet").to_csv(path, index=False)
        return s.alice.upload_predictions(str(path), model_id=model_id)

    submission = s.in_open_round(upload)
    expect(isinstance(submission, str) and submission, f"expected an id, got {short(submission)}")
    s.uploads["alice_one"] = submission
    return f"submission {submission}"


def check_upload_df(s: Session) -> str:
    model_id = s.model("alice_two")

    def upload() -> str:
        df = live_predictions(s, s.alice, s.work / "live-upload.parquet")
        return s.alice.upload_predictions(df=df, model_id=model_id)

    submission = s.in_open_round(upload)
    expect(isinstance(submission, str) and submission, f"expected an id, got {short(submission)}")
    s.uploads["alice_two"] = submission
    return f"submission {submission}"


def check_listed(s: Session, models: list[str]) -> str | None:
    for model in models:
        expect(model in s.uploads, f"{model} has no upload to look for")
        found = submission_ids(s.owner_api(model), s.model(model))
        expect(s.uploads[model] in found,
               f"{model}: {s.uploads[model]} not among its submissions {short(found)}")
    return None


def check_selected(s: Session, models: list[str]) -> str | None:
    for model in models:
        expect(model in s.uploads, f"{model} has no upload to look for")
        napi, model_id = s.owner_api(model), s.model(model)
        listed = napi.submission_ids(model_id)
        filename = next((x["filename"] for x in listed if x["id"] == s.uploads[model]), None)
        expect(filename, f"{model}: submission {s.uploads[model]} not listed")
        selected = napi.get_submission_filenames(model_id=model_id)
        expect(any(x["filename"] == filename and x["tournament"] == TOURNAMENT for x in selected),
               f"{model}: {filename} is not among the selected {short(selected)}")
    return None


def check_beginner_flow(s: Session) -> str:
    """Numerai's example notebook, with only the API URL changed."""
    napi, model_id, version = s.napi(BOB), s.model("bob_one"), s.data_version()
    folder = s.work / "beginner"
    folder.mkdir(exist_ok=True)
    with contextlib.chdir(folder):
        napi.download_dataset(f"{version}/features.json")
        with open(f"{version}/features.json") as file:
            feature_metadata = json.load(file)
        sets = feature_metadata.get("feature_sets", {})
        expect({"small", "medium", "all"} <= set(sets), f"feature_sets are {sorted(sets)}")
        expect("target" in feature_metadata.get("targets", []), "features.json: no target")
        feature_set = feature_metadata["feature_sets"]["medium"]

        napi.download_dataset(f"{version}/train.parquet")
        train = pd.read_parquet(f"{version}/train.parquet", columns=["era", "target"] + feature_set)
        train = train[train["era"].isin(train["era"].unique()[::4])]
        model = lightgbm.LGBMRegressor(
            n_estimators=60,
            learning_rate=0.05,
            max_depth=5,
            num_leaves=2**5 - 1,
            colsample_bytree=0.1,
            verbose=-1,
        )
        model.fit(train[feature_set], train["target"])

        def predict_and_upload() -> str:
            # The live ids change every round; numerapi would keep a same-sized old file.
            Path(f"{version}/live.parquet").unlink(missing_ok=True)
            napi.download_dataset(f"{version}/live.parquet")
            live_features = pd.read_parquet(f"{version}/live.parquet", columns=feature_set)
            if live_features.index.name != "id":  # the file has id as a column, not the index
                ids = pd.read_parquet(f"{version}/live.parquet", columns=["id"])["id"]
                live_features.index = pd.Index(ids, name="id")
            live_predictions = model.predict(live_features[feature_set])
            submission = pd.Series(live_predictions, index=live_features.index).rank(pct=True)
            # upload_predictions(df=) writes df.to_csv(index=False): the ids must be a column.
            return napi.upload_predictions(df=submission.to_frame("prediction").reset_index(),
                                           model_id=model_id)

        submission = s.in_open_round(predict_and_upload, probe=napi)
    expect(isinstance(submission, str) and submission, f"expected an id, got {short(submission)}")
    s.uploads["bob_one"] = submission
    return (f"{len(feature_set)} medium features, {len(train)} training rows in "
            f"{train['era'].nunique()} eras; submission {submission}")


# ----- 6-8: stakes, wallet, webhook -------------------------------------------------------


def check_stake_get_initial(s: Session) -> str | None:
    stake = s.alice.stake_get("alice_one")
    expect(isinstance(stake, Decimal) and stake == 0,
           f"expected Decimal 0, got {short(stake)} (numerapi turns a null stakeValue into None)")
    return None


def check_stake_increase(s: Session) -> str | None:
    change = s.alice.stake_increase(5, s.model("alice_one"))
    expect(isinstance(change, dict), f"expected a dict, got {short(change)}")
    expect(change.get("requestedAmount") == Decimal(5),
           f"requestedAmount {short(change.get('requestedAmount'))}")
    expect("increase" in str(change.get("type")).lower(), f"type {change.get('type')!r}")
    return None


def check_stake_after_increase(s: Session) -> str | None:
    stake = s.alice.stake_get("alice_one")
    expect(isinstance(stake, Decimal) and stake == 5, f"expected Decimal 5, got {short(stake)}")
    return None


def check_stake_decrease(s: Session) -> str:
    change = s.alice.stake_decrease(1, s.model("alice_one"))
    expect(isinstance(change, dict), f"expected a dict, got {short(change)}")
    # A decrease leaves the stake at once and reaches the wallet when the model's last
    # active round settles: pending with that round's resolve time as due date, or completed
    # at once when no round holds the stake at risk.
    status, due = change.get("status"), change.get("dueDate")
    expect((status == "pending" and due is not None) or (status == "completed" and due is None),
           f"status {status!r} with dueDate {short(due)}: {short(change)}")
    expect(change.get("requestedAmount") == Decimal(1),
           f"requestedAmount {short(change.get('requestedAmount'))}")
    return f"{status}, due {due}"


def check_stake_drain(s: Session) -> str | None:
    drain = s.alice.stake_drain(s.model("alice_one"))
    expect(isinstance(drain, dict) and drain.get("drain") is True,
           f"expected drain True: {short(drain)}")
    return None


def check_stake_set(s: Session) -> str | None:
    model_id = s.model("alice_two")
    name = s.alice.modelid_to_modelname(model_id)
    expect(name == "alice_two", f"modelid_to_modelname gave {name!r}")
    change = s.alice.stake_set(3, model_id)
    expect(isinstance(change, dict), f"expected a dict, got {short(change)}")
    expect(change.get("requestedAmount") == Decimal(3),
           f"requestedAmount {short(change.get('requestedAmount'))}")
    expect("increase" in str(change.get("type")).lower(), f"type {change.get('type')!r}")
    stake = s.alice.stake_get("alice_two")
    expect(isinstance(stake, Decimal) and stake == 3, f"stake_get then gave {short(stake)}, not 3")
    return None


def check_wallet(s: Session) -> str:
    transactions = s.alice.wallet_transactions()
    expect(isinstance(transactions, list) and transactions,
           f"expected a non-empty list: {short(transactions)}")
    expect(any(t.get("amount") == Decimal(100) for t in transactions),
           f"no 100 NMR transaction among {short(transactions)}")
    return f"{len(transactions)} transactions"


def check_webhook(s: Session) -> str | None:
    answer = s.alice.set_submission_webhook(s.model("alice_one"), "http://127.0.0.1:9/hook")
    # numerapi returns `data.setSubmissionWebhook == "true"`: the server must send the string.
    expect(answer is True, f"set_submission_webhook returned {short(answer)}")
    return None


# ----- 9-10: scores, payouts, leaderboards ------------------------------------------------


def is_daily_score(score: Any) -> bool:
    if not isinstance(score, dict):
        return False
    value, day = score.get("value"), score.get("day")
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and isinstance(day, int)
        and not isinstance(day, bool)
        and day >= 1
    )


def check_submission_scores(s: Session, deadline: float) -> str:
    model_id = s.model("alice_one")
    expect("alice_one" in s.uploads, "alice_one has no upload to be scored")
    scores = poll("a daily score of alice_one in submission_scores",
                  lambda: s.alice.submission_scores(model_id),
                  lambda answer: any(is_daily_score(x) for x in answer), deadline)
    score = next(x for x in scores if is_daily_score(x))
    return (f"round {score.get('roundNumber')} day {score['day']} "
            f"{score.get('displayName')} {score['value']}")


def performance_scores(performances: list, key: str) -> list:
    scores = [score for perf in performances for score in (perf.get(key) or [])]
    return [score for score in scores if is_daily_score(score)]


def check_performances(s: Session, deadline: float) -> str:
    model_id = s.model("alice_one")
    expect("alice_one" in s.uploads, "alice_one has no upload to be scored")

    def fetch() -> list:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return s.alice.round_model_performances_v2(model_id)

    answer = poll("a daily score of alice_one in round_model_performances_v2", fetch,
                  lambda a: performance_scores(a, "submissionScores"), deadline)
    score = performance_scores(answer, "submissionScores")[0]
    return f"day {score['day']} {score.get('displayName')} {score['value']}"


def check_intra_round(s: Session, deadline: float) -> str:
    model_id = s.model("alice_one")
    expect("alice_one" in s.uploads, "alice_one has no upload to be scored")
    answer = poll("a daily score of alice_one in intra_round_scores",
                  lambda: s.alice.intra_round_scores(model_id),
                  lambda a: performance_scores(a, "intraRoundSubmissionScores"), deadline)
    scores = performance_scores(answer, "intraRoundSubmissionScores")
    return f"{len(scores)} daily scores"


def check_payouts(s: Session) -> str:
    payouts = s.alice.pending_model_payouts()
    expect(isinstance(payouts, dict), f"expected a dict, got {short(payouts)}")
    for key in ("actual", "pending"):
        expect(isinstance(payouts.get(key), list),
               f"{key} is {short(payouts.get(key))}, not a list")
    return f"{len(payouts['actual'])} actual, {len(payouts['pending'])} pending"


def check_board(fetch: Callable[[], list], what: str) -> str:
    deadline = time.monotonic() + LEADERBOARD_TIMEOUT
    rows = poll(f"a non-empty {what}", fetch, lambda answer: bool(answer), deadline)
    expect(isinstance(rows, list), f"expected a list, got {short(rows)}")
    for row in rows:
        expect(isinstance(row, dict) and isinstance(row.get("username"), str)
               and isinstance(row.get("rank"), int),
               f"a row without username and rank: {short(row)}")
    return f"{len(rows)} rows, first {rows[0]['username']} (rank {rows[0]['rank']})"


# ----- 11-12: other tournaments, authorization --------------------------------------------


def check_other_tournament(s: Session, kind: type) -> str:
    expect(ALICE in s.keys, "no API key for alice")
    api = new_api(*s.keys[ALICE], kind=kind)
    return "server said: " + expect_value_error(api.get_current_round, "not run")


def check_foreign_upload(s: Session) -> str:
    bob, target = s.napi(BOB), s.model("alice_one")
    before = submission_ids(s.alice, target)
    path = s.work / "bob-to-alice.csv"

    def upload() -> str:
        live_predictions(s, bob, s.work / "live-bob.parquet").to_csv(path, index=False)
        return bob.upload_predictions(str(path), model_id=target)

    message = expect_value_error(lambda: s.in_open_round(upload, probe=bob))
    expect(not round_refusal(message), f"refused for the round, not for the key: {message!r}")
    expect(submission_ids(s.alice, target) == before,
           "a submission was stored for alice_one anyway")
    return f"server said: {message}"


def check_foreign_listing(s: Session) -> str:
    target = s.model("alice_one")
    return "server said: " + expect_value_error(lambda: s.napi(BOB).submission_ids(target))


def check_made_up_key(s: Session) -> str:
    stranger = new_api("X" * 32, "Y" * 64)
    return "server said: " + expect_value_error(stranger.get_account)


# ----- 13: bad inputs through the raw protocol ---------------------------------------------


def check_rejected_upload(s: Session, filename: str, body: Callable[[], bytes], *words: str) -> str:
    napi, model_id = s.alice, s.model("alice_two")
    before = submission_ids(napi, model_id)

    def upload() -> str:
        auth = upload_auth(napi, filename, model_id)
        requests.put(auth["url"], data=body(), timeout=60)  # the create call must refuse it
        return create_submission(napi, auth["filename"], model_id)

    message = expect_value_error(lambda: s.in_open_round(upload), *words)
    expect(not round_refusal(message), f"refused for the round, not for the file: {message!r}")
    expect(submission_ids(napi, model_id) == before, "a submission was stored anyway")
    return f"server said: {message}"


def wrong_columns_csv(s: Session) -> bytes:
    df = live_predictions(s, s.alice, s.work / "live-bad.parquet")
    return df.rename(columns={"prediction": "pred"}).to_csv(index=False).encode()


def nan_csv(s: Session) -> bytes:
    df = live_predictions(s, s.alice, s.work / "live-bad.parquet")
    df.loc[df.index[0], "prediction"] = math.nan
    return df.to_csv(index=False, na_rep="NaN").encode()


def zeros(total: int, chunk: int = 2**20) -> Iterator[bytes]:
    block = bytes(chunk)
    for start in range(0, total, chunk):
        yield block[: min(chunk, total - start)]


def check_oversized_put(s: Session) -> str:
    napi, model_id = s.alice, s.model("alice_two")
    before = submission_ids(napi, model_id)
    auth = s.in_open_round(lambda: upload_auth(napi, "huge.csv", model_id))
    try:
        # A generator body goes out chunked: the server has to count, not trust a length.
        response = requests.put(auth["url"], data=zeros(OVERSIZED_UPLOAD), timeout=(10, 120))
    except requests.ConnectionError as error:
        note = f"the server closed the connection mid-body ({type(error).__name__})"
    else:
        expect(response.status_code == 413,
               f"status {response.status_code}, not 413: {response.text[:200]!r}")
        note = f"413: {response.text[:120]}"
    expect(submission_ids(napi, model_id) == before, "a submission was stored anyway")
    return note


def tampered(url: str) -> str:
    match = re.search(r"[?&]signature=([^&]*)", url)
    expect(match and match[1], f"no signature= parameter in the upload URL {url}")
    start, value = match.start(1), match[1]
    i = 0
    while i < len(value) and not value[i].isalnum():  # skip %XX escapes and punctuation
        i += 3 if value[i] == "%" else 1
    expect(i < len(value), f"no character to change in the signature {value!r}")
    # The first character: changing the last one of base64 may only touch padding bits.
    replacement = "3" if value[i] == "2" else "2"
    return url[: start + i] + replacement + url[start + i + 1 :]


def valid_csv(s: Session) -> bytes:
    return live_predictions(s, s.alice, s.work / "live-put.parquet").to_csv(index=False).encode()


def expect_nothing_stored(s: Session, auth: dict, before: set[str]) -> None:
    """After a refused PUT: creating the submission fails and none is listed."""
    napi, model_id = s.alice, s.model("alice_two")
    try:
        created = create_submission(napi, auth["filename"], model_id)
    except ValueError:
        pass
    else:
        raise Failed(f"create_submission accepted the refused upload as {created!r}")
    expect(submission_ids(napi, model_id) == before, "a submission was stored anyway")


def check_tampered_url(s: Session) -> str:
    napi, model_id = s.alice, s.model("alice_two")
    before = submission_ids(napi, model_id)
    auth = s.in_open_round(lambda: upload_auth(napi, "tampered.csv", model_id))
    # A valid file: if the server stored it despite the signature, create would take it.
    response = requests.put(tampered(auth["url"]), data=valid_csv(s), timeout=30)
    expect(response.status_code == 403,
           f"status {response.status_code}, not 403: {response.text[:200]!r}")
    expect_nothing_stored(s, auth, before)
    return f"403: {response.text[:120]}"


@dataclass
class IssuedUrl:
    auth: dict | None
    before: set[str]
    issued: float
    error: BaseException | None


def issue_url_to_expire(s: Session) -> IssuedUrl:
    # Issued before the other bad-input checks and used after them, to spend the wait on them.
    try:
        model_id = s.model("alice_two")
        before = submission_ids(s.alice, model_id)
        auth = s.in_open_round(lambda: upload_auth(s.alice, "expired.csv", model_id))
        return IssuedUrl(auth, before, time.monotonic(), None)
    except Exception as error:  # reported by the check that uses it
        return IssuedUrl(None, set(), time.monotonic(), error)


def check_expired_url(s: Session, issued: IssuedUrl) -> str:
    if issued.error is not None:
        raise Failed(f"could not get an upload URL: {describe(issued.error)}")
    time.sleep(max(0.0, issued.issued + SIGNED_URL_SECONDS + 1 - time.monotonic()))
    response = requests.put(issued.auth["url"], data=valid_csv(s), timeout=30)
    expect(response.status_code == 403,
           f"status {response.status_code}, not 403: {response.text[:200]!r}")
    expect("expired" in response.text.lower(),
           f"the body does not say expired: {response.text[:200]!r}")
    expect_nothing_stored(s, issued.auth, issued.before)
    return f"403: {response.text[:120]}"


def check_malformed_graphql(s: Session) -> str:
    response = requests.post(s.url, json={"query": "query { rounds(tournament: 8 "}, timeout=30)
    expect(response.status_code == 200, f"HTTP {response.status_code}, not 200")
    errors = response.json().get("errors")
    expect(isinstance(errors, list) and errors, f"no errors list: {response.text[:200]!r}")
    message = errors[0].get("message")
    expect(isinstance(message, str) and message.strip(), f"empty message: {short(errors[0])}")
    return f"server said: {message}"


def check_unknown_field(s: Session) -> str:
    query = "query { rounds(tournament: 8, number: 0) { numberr } }"
    return "server said: " + expect_value_error(lambda: s.alice.raw_query(query), "numberr")


# ----- the run ----------------------------------------------------------------------------


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1200,900",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise Failed("no chromium on PATH; scripts/test installs Debian's `chromium` package")


def browse(s: Session, path: str, *args: str) -> subprocess.CompletedProcess:
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=s.work))
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, f"{s.url}{path}"],
        capture_output=True, timeout=90, check=False)


def png_size(data: bytes) -> tuple[int, int]:
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_page(s: Session, path: str, *texts: str) -> str:
    """Renders a page in headless Chromium: its DOM holds `texts`, and a screenshot of it is
    a full-size, non-blank PNG (a blank page compresses to a few KB)."""
    dom = browse(s, path, "--dump-dom").stdout.decode("utf-8", "replace")
    for text in texts:
        expect(text in dom, f"{path}: {text!r} is not on the rendered page")
    shot = s.work / f"page{path.replace('/', '_') or '_home'}.png"
    browse(s, path, f"--screenshot={shot}")
    expect(shot.exists(), f"{path}: chromium wrote no screenshot")
    data = shot.read_bytes()
    expect(png_size(data) == (1200, 900), f"{path}: screenshot is {png_size(data)}, not 1200x900")
    expect(len(data) > 20_000, f"{path}: the screenshot is nearly blank ({len(data)} bytes)")
    return f"{len(data) // 1024} KB screenshot"


def check_fund(s: Session) -> str:
    data = s.alice.raw_query("query { fund { rounds { roundNumber status positions gross returns } "
                             "resolvedRounds sharpe cumulativeReturn } }")["data"]["fund"]
    rounds = data["rounds"]
    expect(rounds, "the fund holds no portfolio yet")
    solved = [r for r in rounds if r["status"] == "solved"]
    expect(solved, f"no round's portfolio was solved: {short(rounds[:3])}")
    expect(all(abs(r["gross"]) <= 1.0 + 1e-6 for r in solved), "a portfolio exceeds its gross limit")
    return (f"{len(rounds)} portfolios, {len(solved)} solved; {data['resolvedRounds']} resolved, "
            f"Sharpe {data['sharpe']}")


def check_pages(s: Session) -> list[tuple[str, Callable[[], str]]]:
    rounds = s.alice.get_competitions() if hasattr(s.alice, "get_competitions") else []
    resolved = [r["number"] for r in rounds if r.get("resolvedGeneral")]
    number = resolved[0] if resolved else current_round(s.alice)
    leader = s.alice.get_leaderboard(limit=1)[0]["username"]
    return [
        ("/", lambda: check_page(s, "/", "Rounds", "RESOLVED")),
        (f"/rounds/{number}", lambda: check_page(s, f"/rounds/{number}", f"Round {number}", "CORR")),
        ("/leaderboard", lambda: check_page(s, "/leaderboard", "Model leaderboard", leader)),
        ("/accounts", lambda: check_page(s, "/accounts", "Account leaderboard", "e2e_alice")),
        (f"/models/{leader}", lambda: check_page(s, f"/models/{leader}", f"Model {leader}", "<svg", "polyline")),
        ("/datasets", lambda: check_page(s, "/datasets", "train.parquet", "download")),
        ("/supply", lambda: check_page(s, "/supply", "Treasury", "Burned by round")),
        ("/fund", lambda: check_page(s, "/fund", "Cumulative return", "Sharpe", "solved")),
    ]


def run_checks(checks: Checks, s: Session) -> None:
    def run(name: str, methods: list[str], check: Callable[[], Any], **kwargs: str) -> None:
        checks.run(name, methods, check, **kwargs)

    run("get_models", ["get_models"], lambda: check_get_models(s))
    run("ledger emit: 100 NMR to alice", [], lambda: fund_alice(s))
    run("list_datasets", ["list_datasets"], lambda: check_list_datasets(s))

    # Uploads first: their round's daily scores are what the scoring checks wait for.
    run("upload_predictions(file_path) for alice_one", ["upload_predictions(file_path)"],
        lambda: check_upload_file(s))
    run("upload_predictions(df) for alice_two", ["upload_predictions(df)"],
        lambda: check_upload_df(s))
    run("submission_ids lists the uploads", ["submission_ids"],
        lambda: check_listed(s, ["alice_one", "alice_two"]))
    run("get_submission_filenames shows the uploads selected", ["get_submission_filenames"],
        lambda: check_selected(s, ["alice_one", "alice_two"]))

    run("download_dataset live.parquet", ["download_dataset"], lambda: check_download_live(s))
    run("download_dataset resumes a partial .temp file", ["download_dataset"],
        lambda: check_download_resume(s))
    run("dataset URL answers a Range request with 206", ["raw_query"],
        lambda: check_range_request(s))

    run("get_current_round", ["get_current_round"], lambda: check_current_round(s))
    run("check_round_open", ["check_round_open"], lambda: check_round_open(s))
    run("get_competitions", ["get_competitions"], lambda: check_competitions(s))
    run("list_rounds", ["list_rounds"], lambda: check_list_rounds(s))
    run("get_account: e2e_alice with 100 NMR", ["get_account"], lambda: check_get_account(s))

    run("beginner flow: LightGBM on the medium features, upload(df) for bob_one",
        ["download_dataset", "upload_predictions(df)"], lambda: check_beginner_flow(s))
    run("beginner upload listed and selected", ["submission_ids", "get_submission_filenames"],
        lambda: check_listed(s, ["bob_one"]) or check_selected(s, ["bob_one"]))

    run("stake_get is 0 before staking", ["stake_get"], lambda: check_stake_get_initial(s))
    run("stake_increase 5", ["stake_increase"], lambda: check_stake_increase(s))
    run("stake_get is 5 after the increase", ["stake_get"], lambda: check_stake_after_increase(s))
    run("stake_decrease 1 is pending until its due date, or completed", ["stake_decrease"],
        lambda: check_stake_decrease(s))
    run("stake_drain", ["stake_drain"], lambda: check_stake_drain(s))
    run("stake_set 3 on alice_two", ["modelid_to_modelname", "stake_set"],
        lambda: check_stake_set(s))
    run("wallet_transactions shows the 100 NMR grant", ["wallet_transactions"],
        lambda: check_wallet(s))
    run("set_submission_webhook", ["set_submission_webhook"], lambda: check_webhook(s))

    refused = "refused with a clear error"
    run("SignalsAPI: tournament 11 not run here", ["SignalsAPI.get_current_round"],
        lambda: check_other_tournament(s, numerapi.SignalsAPI), works=refused)
    run("CryptoAPI: tournament 12 not run here", ["CryptoAPI.get_current_round"],
        lambda: check_other_tournament(s, numerapi.CryptoAPI), works=refused)

    run("bob's key cannot upload to alice_one", [], lambda: check_foreign_upload(s))
    run("bob's key cannot list alice_one's submissions", [], lambda: check_foreign_listing(s))
    run("a made-up key is refused", [], lambda: check_made_up_key(s))

    expiring = issue_url_to_expire(s)
    raw = ["raw_query"]
    run("garbage upload rejected", raw,
        lambda: check_rejected_upload(s, "bad.csv", lambda: b"\x00\x01garbage" * 100))
    run("upload with columns id,pred rejected naming the column", raw,
        lambda: check_rejected_upload(s, "columns.csv", lambda: wrong_columns_csv(s), "pred"))
    run("upload with a NaN prediction rejected", raw,
        lambda: check_rejected_upload(s, "nan.csv", lambda: nan_csv(s), "nan"))
    run("1 GiB PUT refused with 413", raw, lambda: check_oversized_put(s))
    run("tampered upload URL refused with 403", raw, lambda: check_tampered_url(s))
    run("malformed GraphQL answered with errors", [], lambda: check_malformed_graphql(s))
    run("unknown field named in the error", raw, lambda: check_unknown_field(s))
    run("expired upload URL refused with 403", raw, lambda: check_expired_url(s, expiring))

    deadline = time.monotonic() + SCORE_TIMEOUT
    run("submission_scores: a daily score for alice_one", ["submission_scores"],
        lambda: check_submission_scores(s, deadline))
    run("round_model_performances_v2: a daily score", ["round_model_performances_v2"],
        lambda: check_performances(s, deadline))
    run("intra_round_scores: a daily score", ["intra_round_scores"],
        lambda: check_intra_round(s, deadline))
    run("pending_model_payouts", ["pending_model_payouts"], lambda: check_payouts(s))
    run("get_leaderboard", ["get_leaderboard"],
        lambda: check_board(s.alice.get_leaderboard, "leaderboard"))
    run("get_account_leaderboard", ["get_account_leaderboard"],
        lambda: check_board(s.alice.get_account_leaderboard, "account leaderboard"))

    run("fund figures through the API", ["raw_query"], lambda: check_fund(s))

    pages: list[tuple[str, Callable[[], str]]] = []
    run("web pages to render", [], lambda: pages.extend(check_pages(s)))
    for path, check in pages:
        run(f"web page {path} renders in headless Chromium", [], check)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="End-to-end test of Numerus's Numerai API through numerapi 3.1.1: "
        "starts `numerus demo` on a fresh data directory and checks every call.",
    )
    parser.add_argument("--numerus", required=True, type=Path, help="the numerus binary")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--table", type=Path, metavar="FILE",
                        help="also write the markdown table of numerapi methods here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    numerus = args.numerus.resolve()
    if not os.access(numerus, os.X_OK):
        print(f"error: {numerus} is not an executable", file=sys.stderr)
        return 2
    table_path = args.table.resolve() if args.table else None
    # Only 127.0.0.1 is talked to; a proxy from the environment must not get in between.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"]))
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    # numerapi logs every GraphQL error; the checks report the ones that matter.
    logging.getLogger("numerapi.base_api").setLevel(logging.CRITICAL)

    tmp = Path(tempfile.mkdtemp(prefix="numerus-api-e2e-"))
    work = tmp / "work"
    work.mkdir()
    server = DemoServer(numerus, tmp / "data", tmp, seed=5, day_seconds=4, participants=3,
                        env={"NUMERUS_SIGNED_URL_SECONDS": str(SIGNED_URL_SECONDS)})
    base_api.API_TOURNAMENT_URL = server.url
    session = Session(numerus=numerus, data_dir=server.data_dir, work=work, url=server.url)
    checks = Checks()
    started = time.monotonic()
    try:
        ready = checks.run("numerus demo answers /health", [],
                           lambda: server.start() or f"ready after {server.wait_ready():.0f} s on {server.url}")
        if ready and checks.run("CLI: accounts and models", [], lambda: setup_accounts(session)):
            run_checks(checks, session)
    except KeyboardInterrupt:
        print(f"\ninterrupted; files kept in {tmp}", file=sys.stderr)
        return 130
    finally:
        server.stop()

    if checks.failed:
        print(f"\n--- last 60 lines of {server.log_path} ---\n{server.tail()}\n---")
    table = checks.table()
    print("\n" + table)
    if table_path:
        table_path.write_text(table)
    total = len(checks.passed) + len(checks.failed)
    print(f"{len(checks.passed)}/{total} checks passed in {time.monotonic() - started:.0f} s")
    if checks.failed:
        print("failed: " + "; ".join(checks.failed))
    if args.keep:
        print(f"files kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
