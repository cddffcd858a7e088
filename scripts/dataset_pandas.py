#!/usr/bin/env python3
"""The Classic build of `numerus data build`, written the way a competent pandas user would.

Usage:
    python scripts/dataset_pandas.py PANEL RECIPE OUT_DIR [--key FILE]

PANEL is a stock panel (see `numerus data --help`), RECIPE the private recipe of a version
that `numerus data build` made from it (DIR/private/v1/recipe.json: the feature definitions,
the eras and their split). OUT_DIR receives what the build publishes: train.parquet,
validation.parquet and live.parquet (index `id`; `era`, `data_type`, the `feature_*` bins as
int8, the `target*` columns as float32), validation_example_preds.parquet and
live_example_preds.parquet, features.json and manifest.json.

This is the peer that scripts/bench-dataset times `numerus data build` against, and that
scripts/dataset_check.py checks Numerus's feature formulas with. It does the same work by
the documented rules, with pandas and numpy, and is not meant to be bit-identical:

- The panel is read whole with `pd.read_parquet` and each column pivoted to a wide
  (dates x tickers) numpy array.
- For every train and validation era of the recipe's plan (the recipe's eras, not
  recomputed), every feature of the recipe is computed from the days up to the era's date
  minus its lag (crates/dataset/src/features.rs: windowed sums over the last `w` days; a day
  without a return counts as a zero return; a windowed measure needs at least half of its
  window's returns), made relative to the sector or country mean where the recipe says so,
  and binned with `pd.qcut(values.rank(method="first"), 5, labels=False)`, NaN -> 2.
- Targets (crates/dataset/src/targets.rs): the 20- and 60-day forward returns after a
  2-day lag, neutralized with `np.linalg.lstsq` against an intercept and the variant's
  exposures, binned 5/20/50/20/5 % into {0, .25, .5, .75, 1}.
- Ids: "n" + 15 hex digits of HMAC-SHA-256(key, era ‖ 0 ‖ ticker), as crates/dataset/src/ids.rs,
  with the version's id key (RECIPE/../../id.key) when it is there, so rows can be matched
  with Numerus's by id; else a random key.
- The example model: ridge of `target` on the centred bins over every fourth train era.
- Files with `pyarrow.parquet.ParquetWriter`, one row group per era.

Nothing is printed per era; one summary line at the end.
"""

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__

WINDOWS = (5, 10, 20, 60, 120, 250)
TARGET_LAG = 2
HORIZONS = (20, 60)
# (name, neutralized against, divided by the 60-day volatility first), as targets.rs.
VARIANTS = (("atlas", "everything", False), ("bravo", "groups", False),
            ("cedar", "market", False), ("delta", "nothing", False),
            ("ember", "everything", True))
TARGET_CUTS = [0, 0.05, 0.25, 0.75, 0.95, 1]
TARGET_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0], dtype=np.float32)
NUMBER_COLUMNS = ("close", "return", "volume", "market_cap", "book_value", "earnings",
                  "sales", "dividends")
FUNDAMENTALS = ("book_value", "earnings", "sales", "dividends")
# The window sums, in the order of the stacked array of `Window`.
SUMS = ("returns", "log_return", "r", "r2", "m", "m2", "rm", "traded", "traded_days",
        "illiquidity", "illiquidity_days")


def target_names():
    return ["target"] + [f"target_{name}_{h}" for name, _, _ in VARIANTS for h in HORIZONS]


# --------------------------------------------------------------------------- the panel


class Panel:
    """The panel as wide numpy arrays, one row per date, one column per ticker (NaN where a
    ticker is not listed), plus each day's sector and country of each ticker and each day's
    market return."""

    def __init__(self, path):
        frame = pd.read_parquet(path)
        date_codes, dates = pd.factorize(frame["date"].astype(str), sort=True)
        ticker_codes, tickers = pd.factorize(frame["ticker"])
        self.dates = list(dates)
        self.day_of = {date: day for day, date in enumerate(self.dates)}
        self.tickers = np.asarray(tickers, dtype=object)
        shape = (len(dates), len(tickers))
        self.present = np.zeros(shape, dtype=bool)
        self.present[date_codes, ticker_codes] = True
        self.wide = {}
        for column in NUMBER_COLUMNS:
            values = np.full(shape, np.nan)
            values[date_codes, ticker_codes] = frame[column].to_numpy(dtype=np.float64)
            self.wide[column] = values
        # Each stock's sector and country on each date, as codes (-1 where not listed).
        self.groups = {}
        for name in ("sector", "country"):
            codes, _ = pd.factorize(frame[name])
            wide = np.full(shape, -1, dtype=np.int32)
            wide[date_codes, ticker_codes] = codes
            self.groups[name] = wide
        del frame

        ret, cap = self.wide["return"], self.wide["market_cap"]
        self.traded = self.wide["close"] * self.wide["volume"]
        # ln(1 + return), 0 on a listed day without a return.
        self.log_return = np.where(np.isfinite(ret), np.log1p(np.maximum(ret, -0.999999)), 0.0)
        weighted = np.isfinite(ret) & np.isfinite(cap) & (cap > 0)
        weight = np.where(weighted, cap, 0.0).sum(axis=1)
        market = np.where(weighted, cap * np.where(weighted, ret, 0.0), 0.0).sum(axis=1)
        self.market = np.divide(market, weight, out=np.zeros_like(market), where=weight > 0)

    def members(self, day):
        return np.flatnonzero(self.present[day])


# --------------------------------------------------------------------------- features


class Window:
    """The sums over the last `w` days ending at `day`, for every w in WINDOWS, of the
    stocks `columns`: the days are taken newest first, so a window is a leading slice."""

    def __init__(self, panel, day, columns):
        low = max(0, day - WINDOWS[-1] + 1)
        rows = slice(day, low - 1 if low > 0 else None, -1)
        ret = panel.wide["return"][rows, columns]
        valid = np.isfinite(ret)
        r = np.where(valid, ret, 0.0)
        m = np.where(valid, panel.market[rows, None], 0.0)
        traded = panel.traded[rows, columns]
        trading = traded > 0
        liquid = trading & valid
        safe_traded = np.where(trading, traded, 1.0)
        stacked = np.stack([
            valid.astype(np.float64),
            np.where(valid, panel.log_return[rows, columns], 0.0),
            r, r * r, m, m * m, r * m,
            np.where(trading, traded, 0.0),
            trading.astype(np.float64),
            np.where(liquid, np.abs(r) / safe_traded * 1e6, 0.0),
            liquid.astype(np.float64),
        ])
        close = panel.wide["close"][rows, columns]
        self.sums = {w: stacked[:, :w].sum(axis=1) for w in WINDOWS}
        self.max_close = {w: np.fmax.reduce(close[:w], axis=0) for w in WINDOWS}

    def get(self, name, window):
        return self.sums[window][SUMS.index(name)]

    def highest_close(self, window):
        return self.max_close[window]


def moments(window, w):
    """Population variance of the stock's and the market's returns and their covariance;
    NaN where fewer than max(w/2, 2) returns."""
    n = window.get("returns", w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r, mean_m = window.get("r", w) / n, window.get("m", w) / n
        var_r = np.maximum(window.get("r2", w) / n - mean_r ** 2, 0.0)
        var_m = np.maximum(window.get("m2", w) / n - mean_m ** 2, 0.0)
        cov = window.get("rm", w) / n - mean_r * mean_m
    few = n < max(w / 2, 2)
    return (np.where(few, np.nan, var_r), np.where(few, np.nan, var_m),
            np.where(few, np.nan, cov))


def measure(panel, window, day, columns, spec):
    """The raw values of one measure (a recipe `measure` object) at `day`."""
    kind = spec["measure"]
    w = spec.get("window")
    nan = np.nan
    cap = panel.wide["market_cap"][day, columns]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_cap = lambda values: np.where(cap > 0, values / cap, nan)  # noqa: E731
        enough = lambda w: window.get("returns", w) >= w / 2  # noqa: E731
        if kind == "return":
            return np.where(enough(w), np.expm1(window.get("log_return", w)), nan)
        if kind == "momentum":
            skipped = window.get("log_return", w) - window.get("log_return", 20)
            return np.where(enough(w), np.expm1(skipped), nan)
        if kind == "volatility":
            return np.sqrt(moments(window, w)[0])
        if kind == "beta":
            _, var_m, cov = moments(window, w)
            return np.where(var_m > 0, cov / var_m, nan)
        if kind == "idiosyncratic_volatility":
            var_r, var_m, cov = moments(window, w)
            return np.where(var_m > 0, np.sqrt(np.maximum(var_r - cov * cov / var_m, 0.0)), nan)
        mean_traded = lambda w: window.get("traded", w) / window.get("traded_days", w)  # noqa: E731
        liquid = lambda w: window.get("traded_days", w) >= w / 2  # noqa: E731
        if kind == "liquidity":
            return np.where(liquid(w), np.log(mean_traded(w)), nan)
        if kind == "volume_trend":
            ok = (window.get("traded_days", 5) >= 3) & liquid(w)
            return np.where(ok, mean_traded(5) / mean_traded(w), nan)
        if kind == "turnover":
            return np.where(liquid(w), per_cap(mean_traded(w)), nan)
        if kind == "drawdown":
            highest = window.highest_close(w)
            close = panel.wide["close"][day, columns]
            return np.where(enough(w) & (highest > 0), close / highest - 1.0, nan)
        if kind == "illiquidity":
            days = window.get("illiquidity_days", w)
            return np.where(days >= w / 2, window.get("illiquidity", w) / days, nan)
        if kind == "risk_adjusted_return":
            var = moments(window, w)[0]
            return np.where(var > 0, np.expm1(window.get("log_return", w)) / np.sqrt(var), nan)
        if kind == "size":
            return np.where(cap > 0, np.log(cap), nan)
        if kind == "yield":
            return per_cap(panel.wide[spec["of"]][day, columns])
        book, earnings, sales = (panel.wide[name][day, columns]
                                 for name in ("book_value", "earnings", "sales"))
        if kind == "return_on_equity":
            return np.where(book > 0, earnings / book, nan)
        if kind == "margin":
            return np.where(sales > 0, earnings / sales, nan)
        if kind == "growth":
            series = panel.wide[spec["of"]]
            then = series[day - w, columns] if day >= w else np.full(len(columns), nan)
            return per_cap(series[day, columns] - then)
    raise ValueError(f"unknown measure {spec!r}")


def raw_features(panel, day, columns, features):
    """The raw values of `features` (recipe feature objects) for the stocks `columns` at era
    day `day`, one column per feature, NaN where missing; sector and country relative ones
    minus the mean of the stock's sector or country on the era's date."""
    windows = {}
    values = {}
    for feature in features:
        at = day - feature["lag"]
        if at < 0:
            values[feature["name"]] = np.full(len(columns), np.nan)
            continue
        if at not in windows:
            windows[at] = Window(panel, at, columns)
        raw = measure(panel, windows[at], at, columns, feature["measure"])
        values[feature["name"]] = np.where(np.isfinite(raw), raw, np.nan)
    frame = pd.DataFrame(values, index=pd.Index(panel.tickers[columns], name="ticker"))
    for relative in ("sector", "country"):
        names = [f["name"] for f in features if f["relative"] == relative]
        if names:
            groups = panel.groups[relative][day, columns]
            frame[names] = frame[names] - frame[names].groupby(groups).transform("mean")
    return frame


def bin_features(raw):
    """Five equal-frequency bins per column, NaN -> 2, as int8."""
    ranks = raw.rank(method="first")
    binned = ranks.apply(lambda column: pd.qcut(column, 5, labels=False)
                         if column.count() >= 5 else column * np.nan)
    return binned.fillna(2).astype(np.int8)


# --------------------------------------------------------------------------- targets


def exposures(panel, day, columns):
    """Beta, the styles (size, value, momentum, volatility) standardized with missing -> 0,
    the sector and country dummies (first of each dropped), and the raw 60-day volatility."""
    window = Window(panel, day, columns)
    raw = [measure(panel, window, day, columns, spec) for spec in (
        {"measure": "beta", "window": 250}, {"measure": "size"},
        {"measure": "yield", "of": "book_value"}, {"measure": "momentum", "window": 250},
        {"measure": "volatility", "window": 60})]
    volatility = raw[4]
    standard = []
    for values in raw:
        finite = np.isfinite(values)
        mean = values[finite].mean() if finite.any() else 0.0
        std = values[finite].std() if finite.sum() > 1 else 0.0
        standard.append(np.where(finite, (values - mean) / std if std > 0 else 0.0, 0.0))
    groups = pd.DataFrame({name: pd.Categorical(panel.groups[name][day, columns])
                           for name in ("sector", "country")})
    dummies = pd.get_dummies(groups, drop_first=True, dtype=np.float64).to_numpy()
    return standard[0][:, None], np.column_stack(standard[1:]), dummies, volatility


def forward_return(panel, day, columns, days):
    last = day + TARGET_LAG + days
    if last >= len(panel.dates):
        return None
    # A day a stock has no return (it delisted) counts as zero: log_return is 0 there.
    return np.expm1(panel.log_return[day + TARGET_LAG + 1:last + 1, columns].sum(axis=0))


def bin_target(values):
    codes = pd.qcut(pd.Series(values).rank(method="first"), TARGET_CUTS, labels=False)
    return TARGET_VALUES[codes.to_numpy(dtype=np.int64)]


def targets(panel, day, columns):
    """The target columns of an era (target_names() order), binned."""
    beta, styles, groups, volatility = exposures(panel, day, columns)
    intercept = np.ones((len(columns), 1))
    designs = {"market": np.hstack([intercept, beta]),
               "groups": np.hstack([intercept, beta, groups]),
               "everything": np.hstack([intercept, beta, groups, styles])}
    forward = [forward_return(panel, day, columns, h) for h in HORIZONS]
    scale = np.where(np.isfinite(volatility) & (volatility > 0), volatility, np.inf)
    # One least-squares solve per design, for every column neutralized against it.
    wanted = {}
    for name, neutral, risk_adjusted in VARIANTS:
        for horizon, returns in zip(HORIZONS, forward):
            if returns is not None:
                y = returns / scale if risk_adjusted else returns
                wanted.setdefault(neutral, []).append((f"target_{name}_{horizon}", y))
    out = {name: np.full(len(columns), np.nan, dtype=np.float32) for name in target_names()}
    for neutral, columns_y in wanted.items():
        y = np.column_stack([values for _, values in columns_y])
        if neutral != "nothing":
            x = designs[neutral]
            y = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        for j, (name, _) in enumerate(columns_y):
            out[name] = bin_target(y[:, j])
    out["target"] = out["target_atlas_20"]
    return {name: out[name] for name in target_names()}


# --------------------------------------------------------------------------- ids and files


def era_ids(key, era_key, tickers):
    prefix = era_key.encode() + b"\0"
    return ["n" + hmac.new(key, prefix + t.encode(), hashlib.sha256).hexdigest()[:15]
            for t in tickers]


def era_frame(panel, recipe, key, day, era_key, label, data_type, with_targets=True):
    """One era's rows, indexed by id and sorted by it, as published."""
    columns = panel.members(day)
    raw = raw_features(panel, day, columns, recipe["recipe"]["features"])
    if with_targets:
        target_columns = targets(panel, day, columns)
    else:
        target_columns = {name: np.full(len(columns), np.nan, dtype=np.float32)
                          for name in target_names()}
    frame = pd.concat([pd.DataFrame({"era": label, "data_type": data_type}, index=raw.index),
                       bin_features(raw), pd.DataFrame(target_columns, index=raw.index)], axis=1)
    frame.index = pd.Index(era_ids(key, era_key, panel.tickers[columns]), name="id")
    return frame.sort_index()


class Writer:
    """A Parquet file written one row group per era."""

    def __init__(self, path):
        self.path, self.writer, self.rows = path, None, 0

    def write(self, frame):
        table = pa.Table.from_pandas(frame, preserve_index=True)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table, row_group_size=len(frame))
        self.rows += len(frame)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def predict(weights, frame, features):
    raw = (frame[features].to_numpy(dtype=np.float64) - 2.0) @ weights
    ranks = pd.Series(raw).rank(method="average").to_numpy()
    return pd.DataFrame({"prediction": (ranks - 0.5) / len(raw)}, index=frame.index)


def ridge(gram, moment):
    penalty = 0.01 * np.trace(gram) / len(gram) + 1e-9
    try:
        return np.linalg.solve(gram + penalty * np.eye(len(gram)), moment)
    except np.linalg.LinAlgError:
        return np.zeros(len(gram))


def feature_sets(recipe):
    """small / medium / all, as recipe.rs (the thematic sets are left out: not needed here)."""
    names = [f["name"] for f in recipe["recipe"]["features"]]
    small = max(len(names) // 16, 1)
    medium = max(len(names) // 3, small)
    return {"small": names[:small], "medium": names[:medium], "all": names}


def file_entry(directory, name, rows):
    path = os.path.join(directory, name)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"name": name, "rows": rows, "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def read_key(recipe_path, key_path):
    path = key_path or os.path.join(os.path.dirname(os.path.abspath(recipe_path)), "..", "id.key")
    if os.path.exists(path):
        with open(path) as fh:
            return bytes.fromhex(fh.read().strip()), path
    return secrets.token_bytes(32), "a random key"


def build(panel_path, recipe_path, out, key_path=None):
    started = time.perf_counter()
    with open(recipe_path) as fh:
        recipe = json.load(fh)
    key, key_source = read_key(recipe_path, key_path)
    features = [f["name"] for f in recipe["recipe"]["features"]]
    os.makedirs(out, exist_ok=True)
    panel = Panel(panel_path)
    files = {name: Writer(os.path.join(out, f"{name}.parquet"))
             for name in ("train", "validation", "validation_example_preds")}
    gram = np.zeros((len(features), len(features)))
    moment = np.zeros(len(features))
    weights, train_eras = None, 0
    for era in recipe["plan"]["eras"]:
        if era["split"] not in ("train", "validation"):
            continue
        day = panel.day_of[era["date"]]
        frame = era_frame(panel, recipe, key, day, era["label"], era["label"], era["split"])
        files[era["split"]].write(frame)
        if era["split"] == "train":
            if train_eras % 4 == 0:
                x = frame[features].to_numpy(dtype=np.float64) - 2.0
                gram += x.T @ x
                moment += x.T @ (frame["target"].to_numpy(dtype=np.float64) - 0.5)
            train_eras += 1
        else:
            if weights is None:
                weights = ridge(gram, moment)
            files["validation_example_preds"].write(predict(weights, frame, features))
    for writer in files.values():
        writer.close()
    if weights is None:
        weights = ridge(gram, moment)

    live_date, live_label = recipe["plan"]["live"]
    live = era_frame(panel, recipe, key, panel.day_of[live_date], f"live-{live_date}",
                     live_label, "live", with_targets=False)
    for name, frame in (("live", live), ("live_example_preds", predict(weights, live, features))):
        files[name] = Writer(os.path.join(out, f"{name}.parquet"))
        files[name].write(frame)
        files[name].close()
    with open(os.path.join(out, "features.json"), "w") as fh:
        json.dump({"feature_sets": feature_sets(recipe), "targets": target_names()}, fh, indent=2)
    entries = [file_entry(out, f"{name}.parquet", files[name].rows) for name in
               ("train", "validation", "live", "validation_example_preds", "live_example_preds")]
    entries.append(file_entry(out, "features.json", 0))
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump({"tournament": "classic", "features": len(features),
                   "targets": target_names(), "files": entries}, fh, indent=2)
    print(f"dataset_pandas: wrote {out}: {files['train'].rows} train rows, "
          f"{files['validation'].rows} validation rows, {files['live'].rows} live rows, "
          f"{len(features)} features, ids keyed by {key_source}, "
          f"in {time.perf_counter() - started:.1f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("panel", help="the stock panel (Parquet)")
    ap.add_argument("recipe", help="the version's private recipe.json")
    ap.add_argument("out", help="the directory to write the files to")
    ap.add_argument("--key", help="the id key file (default: id.key beside the recipe's version "
                    "directory, else a random key)")
    args = ap.parse_args(argv)
    build(args.panel, args.recipe, args.out, args.key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
