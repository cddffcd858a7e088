//! Which panel dates become eras, their labels, and the train / embargo / validation split.
//!
//! - An era is a week: its date is the last panel date of the week (a Friday unless Friday is
//!   a holiday), and only weeks whose last date has at least [`LOOKBACK`] days of history
//!   before it (inclusive) count. Era labels are four-digit week numbers counted from the
//!   first such week — `"0001"`, `"0002"`, … — so a label depends only on the calendar, never
//!   on how far the panel reaches.
//! - An era is *complete* when the panel covers its main (20-day) target window. The last
//!   `validation_fraction` of the complete eras are validation; the rest are train, minus the
//!   embargo: train eras whose longest (60-day) target window reaches the first validation
//!   era's date are dropped, so no train target overlaps validation.
//! - The live era is the panel's last date (daily), labelled with its week's number.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::recipe::LOOKBACK;
use crate::targets::{HORIZONS, LAG};

/// What an era is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Published in `train.parquet`.
    Train,
    /// Dropped between train and validation.
    Embargo,
    /// Published in `validation.parquet`.
    Validation,
    /// Its main target is not known yet: not published (but its days may be live later).
    Incomplete,
}

/// One weekly era.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Era {
    /// `"0001"`, …
    pub label: String,
    /// The era's date (its features use data up to it).
    pub date: Date,
    /// Its index among the panel's dates.
    pub day: usize,
    /// Its use.
    pub split: Split,
}

/// The eras of a panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Weekly eras in date order.
    pub eras: Vec<Era>,
    /// The live date (the panel's last) and its label.
    pub live: (Date, String),
}

/// The Monday of `date`'s week.
fn monday(date: Date) -> Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(jiff::Span::new().days(back))
        .expect("dates are far from the calendar's ends")
}

/// The label of the era of the week of `date`, counting from the week of `first_week`.
pub fn label(first_week: Date, date: Date) -> String {
    let weeks = (monday(date) - monday(first_week)).get_days() / 7;
    format!("{:04}", weeks + 1)
}

/// The week the era labels count from: the week of the `LOOKBACK`-th panel date. `None` when
/// the dates are fewer.
pub fn first_week(dates: &[Date]) -> Option<Date> {
    dates.get(LOOKBACK - 1).copied()
}

impl Plan {
    /// Plans the eras of a panel with these (sorted, distinct) dates.
    pub fn new(dates: &[Date], validation_fraction: f64) -> Result<Self, Error> {
        let Some(first_week) = first_week(dates) else {
            return Err(Error::input(format!(
                "the panel has {} dates; a build needs more than {LOOKBACK} (a year of history \
                 for the features, then the eras), and about 1,300 for useful train and \
                 validation eras",
                dates.len()
            )));
        };
        let last = dates.len() - 1;
        let mut eras: Vec<Era> = Vec::new();
        for (day, &date) in dates.iter().enumerate().skip(LOOKBACK - 1) {
            let week_ends = day == last || monday(dates[day + 1]) != monday(date);
            if week_ends && day != last {
                eras.push(Era {
                    label: label(first_week, date),
                    date,
                    day,
                    split: Split::Incomplete,
                });
            }
        }
        let complete: Vec<usize> = (0..eras.len())
            .filter(|&era| eras[era].day + LAG + HORIZONS[0] <= last)
            .collect();
        if complete.len() < 4 {
            return Err(Error::input(format!(
                "the panel gives only {} eras with known targets; add history (each era needs \
                 {LOOKBACK} business days before it and {} after it)",
                complete.len(),
                LAG + HORIZONS[0]
            )));
        }
        let validation = ((complete.len() as f64 * validation_fraction).round() as usize)
            .clamp(1, complete.len() - 1);
        let first_validation = complete[complete.len() - validation];
        let longest = LAG + HORIZONS[HORIZONS.len() - 1];
        for &era in &complete {
            eras[era].split = if era >= first_validation {
                Split::Validation
            } else if eras[era].day + longest >= eras[first_validation].day {
                Split::Embargo
            } else {
                Split::Train
            };
        }
        if !eras.iter().any(|era| era.split == Split::Train) {
            return Err(Error::input(
                "no train era is left after the embargo; add history or lower \
                 --validation-fraction",
            ));
        }
        let live = dates[last];
        Ok(Self {
            eras,
            live: (live, label(first_week, live)),
        })
    }

    /// The eras that become computable once day `today` is read: their longest target window
    /// is covered, or the panel (of `total_days` days) has ended. `next` is the caller's cursor
    /// into the eras, advanced past those returned.
    pub fn due(&self, next: &mut usize, today: usize, total_days: usize) -> &[Era] {
        let longest = LAG + HORIZONS[HORIZONS.len() - 1];
        let first = *next;
        while let Some(era) = self.eras.get(*next) {
            if era.day + longest > today && today + 1 < total_days {
                break;
            }
            *next += 1;
        }
        &self.eras[first..*next]
    }

    /// The eras with this split.
    pub fn count(&self, split: Split) -> usize {
        self.eras.iter().filter(|era| era.split == split).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business_days(count: usize) -> Vec<Date> {
        let mut dates = Vec::new();
        let mut date = Date::constant(2015, 1, 5);
        while dates.len() < count {
            if crate::panel::is_business_day(date) {
                dates.push(date);
            }
            date = date.tomorrow().unwrap();
        }
        dates
    }

    #[test]
    fn eras_are_fridays_labelled_by_week_with_an_embargo_before_validation() {
        let dates = business_days(1300);
        let plan = Plan::new(&dates, 0.25).unwrap();
        assert!(
            plan.eras
                .iter()
                .all(|era| era.date.weekday() == jiff::civil::Weekday::Friday)
        );
        assert_eq!(plan.eras[0].label, "0001");
        let labels: Vec<u32> = plan
            .eras
            .iter()
            .map(|era| era.label.parse().unwrap())
            .collect();
        assert!(labels.windows(2).all(|pair| pair[1] == pair[0] + 1));
        let last_train = plan
            .eras
            .iter()
            .rfind(|era| era.split == Split::Train)
            .unwrap();
        let first_validation = plan
            .eras
            .iter()
            .find(|era| era.split == Split::Validation)
            .unwrap();
        assert!(last_train.day + LAG + 60 < first_validation.day);
        assert!(plan.count(Split::Embargo) >= 12);
        assert_eq!(plan.live.0, dates[1299]);
    }

    #[test]
    fn labels_do_not_depend_on_how_far_the_panel_reaches() {
        let long = Plan::new(&business_days(1300), 0.25).unwrap();
        let short = Plan::new(&business_days(900), 0.25).unwrap();
        for era in &short.eras {
            let same = long
                .eras
                .iter()
                .find(|other| other.date == era.date)
                .unwrap();
            assert_eq!(same.label, era.label);
        }
    }

    #[test]
    fn a_short_panel_is_refused_with_what_it_needs() {
        let error = Plan::new(&business_days(200), 0.25)
            .unwrap_err()
            .to_string();
        assert!(error.contains("200 dates"), "{error}");
    }
}
