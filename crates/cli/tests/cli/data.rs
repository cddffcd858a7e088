//! `numerus data` from the outside: a synthetic market, a build, the daily live file and
//! targets, and the panels a build must refuse.

use std::fs::File;
use std::path::Path;

use jiff::civil::Date;
use numerus_dataset::panel::{PanelDay, PanelKind, PanelWriter};

use super::{numerus, scratch, stderr};

fn run_ok(args: &[&str]) -> String {
    let output = numerus(args);
    assert!(
        output.status.success(),
        "numerus {args:?} failed: {}",
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The entries of a directory, names only, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|read| {
            read.map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_synthetic_market_builds_a_version_then_daily_live_files_and_targets() {
    let dir = scratch("data-flow");
    let panel = dir.join("panel.parquet");
    let out = dir.join("data");
    let (panel, out) = (panel.to_str().unwrap(), out.to_str().unwrap());
    let synth = [
        "data", "synth", "--out", panel, "--stocks", "120", "--days", "700", "--seed", "4",
    ];
    assert!(run_ok(&synth).contains("700 dates"));
    let built = run_ok(&[
        "data",
        "build",
        "--panel",
        panel,
        "--out",
        out,
        "--features",
        "30",
    ]);
    assert!(built.contains("train eras"), "{built}");
    assert_eq!(
        entries(&dir.join("data/v1")),
        [
            "features.json",
            "live.parquet",
            "live_example_preds.parquet",
            "manifest.json",
            "train.parquet",
            "validation.parquet",
            "validation_example_preds.parquet"
        ]
    );
    assert_eq!(entries(&dir.join("data/private")), ["id.key", "v1"]);

    // The live file of an earlier date, twice: the same bytes; and it differs from the build's.
    let recipe: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/private/v1/recipe.json")).unwrap(),
    )
    .unwrap();
    let live_date: Date = recipe["plan"]["live"][0].as_str().unwrap().parse().unwrap();
    let earlier = live_date
        .checked_sub(jiff::Span::new().days(7))
        .unwrap()
        .to_string();
    let built_live = std::fs::read(dir.join("data/v1/live.parquet")).unwrap();
    run_ok(&[
        "data", "live", "--panel", panel, "--out", out, "--date", &earlier,
    ]);
    let first = std::fs::read(dir.join("data/v1/live.parquet")).unwrap();
    run_ok(&[
        "data", "live", "--panel", panel, "--out", out, "--date", &earlier,
    ]);
    assert_eq!(
        first,
        std::fs::read(dir.join("data/v1/live.parquet")).unwrap()
    );
    assert_ne!(first, built_live);
    let manifest = std::fs::read_to_string(dir.join("data/v1/manifest.json")).unwrap();
    assert!(
        manifest.contains(&sha256_hex(&first)),
        "the manifest follows the new live file"
    );

    let written = run_ok(&[
        "data",
        "targets",
        "--panel",
        panel,
        "--out",
        out,
        "--date",
        &live_date.to_string(),
    ]);
    assert!(written.contains("rows of partial targets"), "{written}");
    assert!(
        dir.join(format!("data/private/v1/targets/{live_date}.parquet"))
            .is_file()
    );

    // A date the panel does not have is refused.
    let output = numerus(&[
        "data",
        "live",
        "--panel",
        panel,
        "--out",
        out,
        "--date",
        "2031-01-06",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no rows for 2031-01-06"),
        "{}",
        stderr(&output)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A valid day of `stocks` tickers.
fn day(date: Date, stocks: usize) -> PanelDay {
    let mut day = PanelDay::new(date);
    for i in 0..stocks {
        day.ticker.push(format!("T{i}"));
        day.country.push("US".into());
        day.sector.push("Energy".into());
        for column in [
            &mut day.close,
            &mut day.volume,
            &mut day.market_cap,
            &mut day.book_value,
        ] {
            column.push(100.0 + i as f64);
        }
        for column in [
            &mut day.ret,
            &mut day.earnings,
            &mut day.sales,
            &mut day.dividends,
        ] {
            column.push(0.001 * i as f64);
        }
    }
    day
}

/// `numerus data build --panel PANEL --out OUT --features 10`.
fn build(panel: &Path, out: &Path) -> std::process::Output {
    let (panel, out) = (panel.to_str().unwrap(), out.to_str().unwrap());
    numerus(&[
        "data",
        "build",
        "--panel",
        panel,
        "--out",
        out,
        "--features",
        "10",
    ])
}

fn write_panel(path: &Path, days: &[PanelDay]) {
    let mut writer = PanelWriter::new(File::create(path).unwrap(), PanelKind::Stocks).unwrap();
    for day in days {
        writer.write_day(day).unwrap();
    }
    writer.finish().unwrap();
}

fn business_days(count: usize) -> Vec<Date> {
    let mut dates = Vec::new();
    let mut date = Date::constant(2020, 1, 6);
    while dates.len() < count {
        if numerus_dataset::panel::is_business_day(date) {
            dates.push(date);
        }
        date = date.tomorrow().unwrap();
    }
    dates
}

#[test]
fn bad_panels_are_refused_with_the_problem_named_and_nothing_left_behind() {
    let dir = scratch("data-bad");
    let dates = business_days(400);
    let good: Vec<PanelDay> = dates.iter().map(|&date| day(date, 60)).collect();
    let mut duplicate = good.clone();
    let twice = duplicate[3].clone();
    duplicate[3].ticker[1] = twice.ticker[0].clone();
    let mut weekend = good.clone();
    weekend[10].date = Some(Date::constant(2020, 1, 18));
    weekend.truncate(11);
    let mut small = good.clone();
    small[5] = day(dates[5], 20);
    let mut unsorted = good.clone();
    unsorted.swap(7, 8);
    let cases: [(&str, &[PanelDay], &str); 5] = [
        ("duplicate", &duplicate, "appears twice"),
        ("weekend", &weekend, "business days only"),
        ("small", &small, "at least 50 are needed"),
        ("unsorted", &unsorted, "must be sorted by date"),
        ("short", &good[..100], "a build needs more than"),
    ];
    for (name, days, message) in cases {
        let panel = dir.join(format!("{name}.parquet"));
        write_panel(&panel, days);
        let out = dir.join(format!("out-{name}"));
        let output = build(&panel, &out);
        assert!(!output.status.success(), "{name} was accepted");
        assert!(
            stderr(&output).contains(message),
            "{name}: {}",
            stderr(&output)
        );
        let left: Vec<String> = entries(&out)
            .into_iter()
            .filter(|entry| entry != "private")
            .collect();
        assert!(left.is_empty(), "{name} left {left:?}");
        assert!(
            entries(&out.join("private"))
                .iter()
                .all(|entry| entry == "id.key"),
            "{name}"
        );
    }

    // A panel without the fundamentals names what is missing.
    let table = numerus_frames::Table {
        columns: vec![
            numerus_frames::Column::text("date", vec!["2020-01-06".into()]),
            numerus_frames::Column::text("ticker", vec!["A".into()]),
            numerus_frames::Column::number("close", vec![1.0]),
        ],
    };
    let panel = dir.join("columns.parquet");
    numerus_frames::write_table(&panel, &table).unwrap();
    let output = numerus(&[
        "data",
        "build",
        "--panel",
        panel.to_str().unwrap(),
        "--out",
        dir.join("out-columns").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("lacks the column(s) country, sector, return"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_existing_version_is_refused_and_left_as_it_was() {
    let dir = scratch("data-again");
    let panel = dir.join("panel.parquet");
    write_panel(
        &panel,
        &business_days(600)
            .into_iter()
            .map(|date| day(date, 60))
            .collect::<Vec<_>>(),
    );
    let out = dir.join("data");
    let output = build(&panel, &out);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = std::fs::read(out.join("v1/train.parquet")).unwrap();
    let output = build(&panel, &out);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(before, std::fs::read(out.join("v1/train.parquet")).unwrap());
    assert_eq!(entries(&out), ["private", "v1"]);
}
