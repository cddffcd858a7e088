//! The round calendar: when each round opens and closes, which market date its live data is
//! from, when each of its daily scores is computed, and when it resolves.
//!
//! A [`Calendar`] is data — a [`CalendarRule`], usually read from the tournament's TOML
//! definition — never code. Numerai Classic's (reference §1.1, the 2026 times) is
//! [`CalendarRule::classic`]:
//!
//! ```toml
//! anchor = { number = 1175, date = "2026-01-06" }   # round 1175 opened on Tuesday 6 January 2026
//! openings = [
//!   { day = "tuesday",   open = "12:00", window_minutes = 60 },
//!   { day = "wednesday", open = "12:00", window_minutes = 60 },
//!   { day = "thursday",  open = "12:00", window_minutes = 60 },
//!   { day = "friday",    open = "12:00", window_minutes = 60 },
//!   { day = "saturday",  open = "12:00", window_minutes = 1560 },   # closes Sunday 14:00
//! ]
//! market_days = ["monday", "tuesday", "wednesday", "thursday", "friday"]
//! holidays = []
//! lag_days = 2          # market days between the data date and the first day of returns
//! scoring_days = 20     # daily scores 1D2L … 20D2L; the last is final
//! score_delay_days = 1  # a market day's returns are scored the next calendar day ...
//! score_time = "14:00"  # ... at this time (UTC)
//! ```
//!
//! The rules, for round `n`:
//! - rounds are numbered consecutively over the opening days, counted from the anchor;
//! - it opens on its day at `open` (UTC) and closes `window_minutes` later; the staking
//!   deadline (`closeStakingTime`) is the close;
//! - its live data is from the last market day before the opening day (its *data date*);
//! - its score of day `k` (1 ≤ k ≤ `scoring_days`) covers the returns of the `k` market days
//!   after the data date and `lag_days` more, and is computed `score_delay_days` calendar days
//!   after the last of them, at `score_time`; the payout factor is fixed at the first score
//!   (`scoreTime`), and the last score resolves the round (`resolveTime`).

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A day of the week, as written in a definition (`"tuesday"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<Day> for Weekday {
    fn from(day: Day) -> Self {
        match day {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }
}

/// A round opens every week on `day` at `open` (UTC), for `window_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The weekday.
    pub day: Day,
    /// The opening time, UTC.
    pub open: Time,
    /// How long submissions are accepted.
    pub window_minutes: u32,
}

/// Round `number` opens on `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// A round number.
    pub number: u32,
    /// The date it opens: one of the opening days.
    pub date: Date,
}

/// The calendar of a tournament, as its definition states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarRule {
    /// Which round opens when (and so every round's number).
    pub anchor: Anchor,
    /// The weekly openings.
    pub openings: Vec<Opening>,
    /// Weekdays the market trades.
    pub market_days: Vec<Day>,
    /// Dates the market is closed on a market weekday.
    #[serde(default)]
    pub holidays: Vec<Date>,
    /// Market days between the data date and the first day of returns.
    pub lag_days: u32,
    /// Daily scores per round; the last is final.
    pub scoring_days: u32,
    /// Calendar days between the last market day a score covers and its computation.
    pub score_delay_days: u32,
    /// When daily scores are computed (UTC).
    pub score_time: Time,
}

impl CalendarRule {
    /// Numerai Classic's calendar from April 2026: rounds Tuesday to Saturday at 12:00 UTC,
    /// open one hour (Saturday's until Sunday 14:00), 20 daily scores after a 2-day lag.
    pub fn classic() -> Self {
        let weekday = |day| Opening {
            day,
            open: Time::constant(12, 0, 0, 0),
            window_minutes: 60,
        };
        Self {
            anchor: Anchor {
                number: 1175,
                date: Date::constant(2026, 1, 6),
            },
            openings: vec![
                weekday(Day::Tuesday),
                weekday(Day::Wednesday),
                weekday(Day::Thursday),
                weekday(Day::Friday),
                Opening {
                    window_minutes: 26 * 60,
                    ..weekday(Day::Saturday)
                },
            ],
            market_days: vec![
                Day::Monday,
                Day::Tuesday,
                Day::Wednesday,
                Day::Thursday,
                Day::Friday,
            ],
            holidays: Vec::new(),
            lag_days: 2,
            scoring_days: 20,
            score_delay_days: 1,
            score_time: Time::constant(14, 0, 0, 0),
        }
    }

    /// Reads a calendar from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let rule: Self = toml::from_str(text)
            .map_err(|error| Error::Definition(format!("the calendar does not parse: {error}")))?;
        Calendar::new(rule.clone())?;
        Ok(rule)
    }
}

/// When a round does what, all in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// The round's number.
    pub number: u32,
    /// Submissions open (`openTime`).
    pub open: Timestamp,
    /// Submissions close (`closeTime`); staking closes with them (`closeStakingTime`).
    pub close: Timestamp,
    /// The market date of its live data (`dataDatestamp`).
    pub data_date: Date,
    /// The market days whose returns end each daily score, day 1 first.
    pub scored_through: Vec<Date>,
    /// When each daily score is computed, day 1 first. The first is `scoreTime` (the payout
    /// factor is fixed then); the last is `resolveTime`.
    pub scores: Vec<Timestamp>,
}

impl Schedule {
    /// `scoreTime`: the first daily score, when the payout factor is fixed.
    pub fn score_time(&self) -> Timestamp {
        self.scores[0]
    }

    /// `resolveTime`: the final score.
    pub fn resolve_time(&self) -> Timestamp {
        *self.scores.last().expect("a round has at least one score")
    }

    /// Where the round stands at `now`.
    pub fn stage(&self, now: Timestamp) -> Stage {
        if now < self.open {
            Stage::Upcoming
        } else if now < self.close {
            Stage::Open
        } else if now < self.score_time() {
            Stage::Closed
        } else if now < self.resolve_time() {
            let scored = self.scores.iter().filter(|&&time| time <= now).count();
            Stage::Scoring {
                scored: u32::try_from(scored).expect("few scores"),
            }
        } else {
            Stage::Resolved
        }
    }
}

/// Where a round stands, by the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Stage {
    /// Not open yet.
    Upcoming,
    /// Accepting submissions.
    Open,
    /// Closed, no score yet.
    Closed,
    /// `scored` daily scores are due (at least one, fewer than all).
    Scoring {
        /// Daily scores due so far.
        scored: u32,
    },
    /// Every daily score is due: the round resolves.
    Resolved,
}

impl Stage {
    /// The status numerapi's `rounds(status:)` filters on.
    pub fn api_status(self) -> &'static str {
        match self {
            Stage::Upcoming => "UPCOMING",
            Stage::Open => "OPEN",
            Stage::Closed | Stage::Scoring { .. } => "RESOLVING",
            Stage::Resolved => "RESOLVED",
        }
    }
}

/// A checked calendar that answers questions about rounds.
#[derive(Debug, Clone)]
pub struct Calendar {
    rule: CalendarRule,
}

impl Calendar {
    /// Checks `rule`.
    pub fn new(rule: CalendarRule) -> Result<Self, Error> {
        let bad = |what: String| Err(Error::Definition(what));
        if rule.openings.is_empty() {
            return bad("the calendar has no openings; list at least one weekday".into());
        }
        for (i, opening) in rule.openings.iter().enumerate() {
            if rule.openings[..i]
                .iter()
                .any(|other| other.day == opening.day)
            {
                return bad(format!(
                    "{:?} opens twice; one opening per weekday",
                    opening.day
                ));
            }
            if opening.window_minutes == 0 || opening.window_minutes > 6 * 24 * 60 {
                return bad(format!(
                    "{:?}'s window of {} minutes must be between 1 minute and 6 days (Numerai \
                     promises at least 60)",
                    opening.day, opening.window_minutes
                ));
            }
        }
        if rule.market_days.is_empty() {
            return bad("the calendar has no market days".into());
        }
        if rule.scoring_days == 0 || rule.scoring_days > 260 {
            return bad(format!(
                "scoring_days {} must be between 1 and 260",
                rule.scoring_days
            ));
        }
        if rule.lag_days > 60 || rule.score_delay_days > 14 {
            return bad("lag_days must be at most 60 and score_delay_days at most 14".into());
        }
        let calendar = Self { rule };
        if calendar.opening(calendar.rule.anchor.date).is_none() {
            return bad(format!(
                "the anchor date {} is a {:?}, which has no opening",
                calendar.rule.anchor.date,
                calendar.rule.anchor.date.weekday()
            ));
        }
        Ok(calendar)
    }

    /// The rule it was made from.
    pub fn rule(&self) -> &CalendarRule {
        &self.rule
    }

    fn opening(&self, date: Date) -> Option<&Opening> {
        self.rule
            .openings
            .iter()
            .find(|opening| Weekday::from(opening.day) == date.weekday())
    }

    fn is_market_day(&self, date: Date) -> bool {
        self.rule
            .market_days
            .iter()
            .any(|&day| Weekday::from(day) == date.weekday())
            && !self.rule.holidays.contains(&date)
    }

    /// The opening date of round `number`.
    fn opening_date(&self, number: u32) -> Result<Date, Error> {
        let anchor = self.rule.anchor;
        let per_week = self.rule.openings.len() as i64;
        let offset = i64::from(number) - i64::from(anchor.number);
        // Whole weeks first, then the remaining openings one day at a time.
        let weeks = offset.div_euclid(per_week);
        let mut left = offset.rem_euclid(per_week);
        let mut date = shift(anchor.date, weeks * 7)?;
        while left > 0 {
            date = shift(date, 1)?;
            if self.opening(date).is_some() {
                left -= 1;
            }
        }
        Ok(date)
    }

    /// The schedule of round `number`.
    pub fn round(&self, number: u32) -> Result<Schedule, Error> {
        if number == 0 {
            return Err(Error::NoSuchRound(0));
        }
        let date = self.opening_date(number)?;
        let opening = self.opening(date).expect("an opening date");
        let open = utc(date, opening.open)?;
        let close = open
            .checked_add(Span::new().minutes(i64::from(opening.window_minutes)))
            .map_err(|_| Error::OutOfRange)?;
        let mut data_date = shift(date, -1)?;
        while !self.is_market_day(data_date) {
            data_date = shift(data_date, -1)?;
        }
        let mut market_day = data_date;
        let mut scored_through = Vec::new();
        let mut scores = Vec::new();
        for counted in 1..=self.rule.lag_days + self.rule.scoring_days {
            market_day = shift(market_day, 1)?;
            while !self.is_market_day(market_day) {
                market_day = shift(market_day, 1)?;
            }
            if counted > self.rule.lag_days {
                scored_through.push(market_day);
                let day = shift(market_day, i64::from(self.rule.score_delay_days))?;
                scores.push(utc(day, self.rule.score_time)?);
            }
        }
        Ok(Schedule {
            number,
            open,
            close,
            data_date,
            scored_through,
            scores,
        })
    }

    /// The latest round opened at or before `now` (numerapi's "current round"); `None` before
    /// round 1.
    pub fn current(&self, now: Timestamp) -> Result<Option<Schedule>, Error> {
        let today = TimeZone::UTC.to_datetime(now).date();
        // Estimate from the anchor, then step to the exact round.
        let days = i64::from((today - self.rule.anchor.date).get_days());
        let per_week = self.rule.openings.len() as i64;
        let estimate = i64::from(self.rule.anchor.number) + days * per_week / 7;
        let mut number = estimate.clamp(1, i64::from(u32::MAX) - 1) as u32;
        while self.round(number)?.open > now {
            if number == 1 {
                return Ok(None);
            }
            number -= 1;
        }
        while self.round(number + 1)?.open <= now {
            number += 1;
        }
        self.round(number).map(Some)
    }

    /// The rounds opened and not resolved at `now`, oldest first.
    pub fn in_flight(&self, now: Timestamp) -> Result<Vec<Schedule>, Error> {
        let Some(current) = self.current(now)? else {
            return Ok(Vec::new());
        };
        let mut rounds = Vec::new();
        let mut number = current.number;
        loop {
            let round = self.round(number)?;
            if round.resolve_time() <= now {
                break;
            }
            rounds.push(round);
            if number == 1 {
                break;
            }
            number -= 1;
        }
        rounds.reverse();
        Ok(rounds)
    }

    /// The daily scores that fall due in `(after, until]`: `(round, day)` with day 1-based,
    /// in time order — what a scheduler woken at `until` that last ran at `after` must do.
    pub fn scores_due(&self, after: Timestamp, until: Timestamp) -> Result<Vec<(u32, u32)>, Error> {
        let mut due = Vec::new();
        let Some(current) = self.current(until)? else {
            return Ok(Vec::new());
        };
        // Resolve times never decrease with the round number (data dates do not), so going
        // down from the current round, the first one resolved by `after` ends the search.
        let mut number = current.number;
        loop {
            let round = self.round(number)?;
            if round.resolve_time() <= after {
                break;
            }
            for (day, &time) in round.scores.iter().enumerate() {
                if after < time && time <= until {
                    due.push((time, round.number, day as u32 + 1));
                }
            }
            if number == 1 {
                break;
            }
            number -= 1;
        }
        due.sort();
        Ok(due
            .into_iter()
            .map(|(_, round, day)| (round, day))
            .collect())
    }
}

fn shift(date: Date, days: i64) -> Result<Date, Error> {
    date.checked_add(Span::new().days(days))
        .map_err(|_| Error::OutOfRange)
}

fn utc(date: Date, time: Time) -> Result<Timestamp, Error> {
    TimeZone::UTC
        .to_timestamp(date.to_datetime(time))
        .map_err(|_| Error::OutOfRange)
}
