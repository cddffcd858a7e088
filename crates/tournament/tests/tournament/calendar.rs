//! The round calendar against Numerai's published schedule (reference §1).

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use numerus_tournament::Error;
use numerus_tournament::calendar::{Calendar, CalendarRule, Stage};

fn classic() -> Calendar {
    Calendar::new(CalendarRule::classic()).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn date_of(time: Timestamp) -> Date {
    TimeZone::UTC.to_datetime(time).date()
}

#[test]
fn round_numbers_match_numerais_published_anchors() {
    let calendar = classic();
    // Reference §1.1: round 650 opened 2024-01-02, round 1343 on 2026-08-28.
    assert_eq!(
        date_of(calendar.round(650).unwrap().open),
        Date::constant(2024, 1, 2)
    );
    assert_eq!(
        date_of(calendar.round(1343).unwrap().open),
        Date::constant(2026, 8, 28)
    );
    assert_eq!(
        calendar.round(1175).unwrap().open,
        at("2026-01-06T12:00:00Z")
    );
}

#[test]
fn rounds_open_tuesday_to_saturday_for_an_hour_and_saturdays_until_sunday() {
    let calendar = classic();
    let days: Vec<Weekday> = (1175..1185)
        .map(|n| date_of(calendar.round(n).unwrap().open).weekday())
        .collect();
    use Weekday::*;
    assert_eq!(
        days,
        [Tuesday, Wednesday, Thursday, Friday, Saturday].repeat(2)
    );
    let wednesday = calendar.round(1176).unwrap();
    assert_eq!(wednesday.close, at("2026-01-07T13:00:00Z"));
    let saturday = calendar.round(1179).unwrap();
    assert_eq!(saturday.close, at("2026-01-11T14:00:00Z"));
    assert!(matches!(calendar.round(0), Err(Error::NoSuchRound(0))));
}

#[test]
fn live_data_is_from_the_last_market_day_before_the_opening_and_holidays_are_skipped() {
    let calendar = classic();
    assert_eq!(
        calendar.round(1175).unwrap().data_date,
        Date::constant(2026, 1, 5)
    ); // Tue → Mon
    assert_eq!(
        calendar.round(1179).unwrap().data_date,
        Date::constant(2026, 1, 9)
    ); // Sat → Fri
    let mut rule = CalendarRule::classic();
    rule.holidays.push(Date::constant(2026, 1, 5));
    let with_holiday = Calendar::new(rule).unwrap();
    assert_eq!(
        with_holiday.round(1175).unwrap().data_date,
        Date::constant(2026, 1, 2)
    );
}

#[test]
fn a_round_has_twenty_daily_scores_tuesday_to_saturday_after_the_lag() {
    let round = classic().round(1175).unwrap();
    assert_eq!(round.scores.len(), 20);
    // Data of Monday 5 January; Tuesday and Wednesday are the lag; day 1 covers Thursday's
    // returns and is scored on Friday.
    assert_eq!(round.scored_through[0], Date::constant(2026, 1, 8));
    assert_eq!(round.score_time(), at("2026-01-09T14:00:00Z"));
    assert!(round.scores.windows(2).all(|pair| pair[0] < pair[1]));
    for time in &round.scores {
        let day = date_of(*time).weekday();
        assert!(
            !matches!(day, Weekday::Sunday | Weekday::Monday),
            "a score on {day:?}"
        );
    }
    // Day 20 covers 22 market days after the data date: Wednesday 4 February, scored Thursday.
    assert_eq!(round.resolve_time(), at("2026-02-05T14:00:00Z"));
}

#[test]
fn a_round_goes_through_every_stage_in_order() {
    let round = classic().round(1177).unwrap();
    let mut now = round.open.checked_sub(Span::new().hours(2)).unwrap();
    let mut seen = Vec::new();
    while now
        <= round
            .resolve_time()
            .checked_add(Span::new().hours(2))
            .unwrap()
    {
        let stage = round.stage(now);
        if seen.last() != Some(&stage) {
            seen.push(stage);
        }
        now = now.checked_add(Span::new().minutes(30)).unwrap();
    }
    let mut expected = vec![Stage::Upcoming, Stage::Open, Stage::Closed];
    expected.extend((1..20).map(|scored| Stage::Scoring { scored }));
    expected.push(Stage::Resolved);
    assert_eq!(seen, expected);
    assert_eq!(Stage::Scoring { scored: 3 }.api_status(), "RESOLVING");
}

#[test]
fn the_current_round_is_the_latest_opened() {
    let calendar = classic();
    let current = |text| calendar.current(at(text)).unwrap().unwrap().number;
    assert_eq!(current("2026-01-06T12:30:00Z"), 1175);
    assert_eq!(current("2026-01-06T11:59:59Z"), 1174);
    assert_eq!(current("2026-01-12T10:00:00Z"), 1179); // Monday: Saturday's round
    assert_eq!(current("2026-01-13T12:00:00Z"), 1180);
    let early = calendar
        .round(1)
        .unwrap()
        .open
        .checked_sub(Span::new().seconds(1))
        .unwrap();
    assert_eq!(calendar.current(early).unwrap(), None);
}

#[test]
fn about_twenty_five_rounds_are_in_flight() {
    let calendar = classic();
    let mut now = at("2026-03-02T00:00:00Z");
    for _ in 0..14 {
        let count = calendar.in_flight(now).unwrap().len();
        assert!(
            (20..=27).contains(&count),
            "{count} rounds in flight at {now}"
        );
        now = now.checked_add(Span::new().hours(13)).unwrap();
    }
}

#[test]
fn every_daily_score_falls_due_exactly_once_however_the_scheduler_wakes() {
    let calendar = classic();
    let start = at("2026-03-01T00:00:00Z");
    let end = at("2026-05-01T00:00:00Z");
    // A scheduler waking at irregular intervals (7 h, then 11 h, ...).
    let mut due = Vec::new();
    let (mut after, mut step) = (start, 7);
    while after < end {
        let until = after.checked_add(Span::new().hours(step)).unwrap().min(end);
        due.extend(calendar.scores_due(after, until).unwrap());
        after = until;
        step = if step == 7 { 11 } else { 7 };
    }
    let unique: BTreeSet<(u32, u32)> = due.iter().copied().collect();
    assert_eq!(unique.len(), due.len(), "a score fell due twice");
    // The same set as reading every round's schedule.
    let mut expected = BTreeSet::new();
    for number in 1100..1300 {
        let round = calendar.round(number).unwrap();
        for (day, time) in round.scores.iter().enumerate() {
            if start < *time && *time <= end {
                expected.insert((number, day as u32 + 1));
            }
        }
    }
    assert_eq!(unique, expected);
}

#[test]
fn a_calendar_reads_from_toml_and_bad_ones_name_the_fix() {
    let text = r#"
        anchor = { number = 1175, date = "2026-01-06" }
        openings = [
          { day = "tuesday",   open = "12:00", window_minutes = 60 },
          { day = "wednesday", open = "12:00", window_minutes = 60 },
          { day = "thursday",  open = "12:00", window_minutes = 60 },
          { day = "friday",    open = "12:00", window_minutes = 60 },
          { day = "saturday",  open = "12:00", window_minutes = 1560 },
        ]
        market_days = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        holidays = []
        lag_days = 2
        scoring_days = 20
        score_delay_days = 1
        score_time = "14:00"
    "#;
    assert_eq!(
        CalendarRule::from_toml(text).unwrap(),
        CalendarRule::classic()
    );
    let monday = text.replace("2026-01-06", "2026-01-05");
    let error = CalendarRule::from_toml(&monday).unwrap_err().to_string();
    assert!(
        error.contains("is a Monday, which has no opening"),
        "{error}"
    );
    let twice = text.replace("\"wednesday\"", "\"tuesday\"");
    assert!(
        CalendarRule::from_toml(&twice)
            .unwrap_err()
            .to_string()
            .contains("opens twice")
    );
    let shut = text.replace(
        "window_minutes = 60 },\n          { day = \"wednesday\"",
        "window_minutes = 0 },\n          { day = \"wednesday\"",
    );
    assert!(
        CalendarRule::from_toml(&shut)
            .unwrap_err()
            .to_string()
            .contains("window of 0 minutes")
    );
    assert!(
        CalendarRule::from_toml("anchor = 3")
            .unwrap_err()
            .to_string()
            .contains("does not parse")
    );
}
