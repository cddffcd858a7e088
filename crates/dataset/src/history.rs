//! The rolling window of panel history a build keeps: the last few hundred business days of
//! every stock, and nothing older.
//!
//! Each stock gets a *slot* the first time it appears; each series (returns, closes, traded
//! value, market cap, fundamentals) is a ring of `capacity` days per slot, slot-major, so one
//! stock's history is contiguous and a backward scan over it reads memory in order. Memory is
//! `slots × capacity × 9 series × 8 bytes` whatever the length of the panel: about 125 MB for
//! 5,000 stocks and the 350 days a build needs.

use std::collections::HashMap;

use jiff::civil::Date;

use crate::panel::PanelDay;

/// The series kept per stock and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Total return from the previous close.
    Return = 0,
    /// Closing price.
    Close = 1,
    /// Traded value (close × volume).
    Traded = 2,
    /// Market cap.
    MarketCap = 3,
    /// Book value.
    BookValue = 4,
    /// Earnings.
    Earnings = 5,
    /// Sales.
    Sales = 6,
    /// Dividends.
    Dividends = 7,
    /// `ln(1 + return)`, 0 on a day without a return (kept so that no era recomputes it).
    LogReturn = 8,
}

const SERIES: usize = 9;

/// A stock as of one day: its ticker, and its country and sector *on that day* (a stock that
/// moves sector later is still in its old sector for an era before the move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock<'a> {
    /// Ticker.
    pub ticker: &'a str,
    /// Country of listing.
    pub country: &'a str,
    /// Sector.
    pub sector: &'a str,
}

/// The last `capacity` days of the panel.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    slots: HashMap<String, usize>,
    /// Per slot: the index of the last day its stock was present.
    last_seen: Vec<usize>,
    /// Per slot: its ticker.
    tickers: Vec<String>,
    series: [Vec<f64>; SERIES],
    /// Per slot and ring position, like the series: codes into `labels` of the country and
    /// the sector that day.
    countries: Vec<u32>,
    sectors: Vec<u32>,
    /// Country and sector names, and their codes.
    labels: Vec<String>,
    codes: HashMap<String, u32>,
    /// Per ring position: the cap-weighted mean return of the day.
    market: Vec<f64>,
    /// Per ring position: the date.
    dates: Vec<Option<Date>>,
    /// Per ring position: the slots present that day, in panel order.
    members: Vec<Vec<usize>>,
    /// Days pushed so far; the newest day has index `days - 1`.
    days: usize,
}

impl History {
    /// An empty history keeping `capacity` days.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            slots: HashMap::new(),
            last_seen: Vec::new(),
            tickers: Vec::new(),
            countries: Vec::new(),
            sectors: Vec::new(),
            labels: Vec::new(),
            codes: HashMap::new(),
            series: Default::default(),
            market: vec![f64::NAN; capacity],
            dates: vec![None; capacity],
            members: vec![Vec::new(); capacity],
            days: 0,
        }
    }

    /// Appends the next day of the panel, forgetting the oldest when full.
    pub fn push(&mut self, day: &PanelDay) {
        let position = self.days % self.capacity;
        for series in &mut self.series {
            for slot in 0..self.tickers.len() {
                series[slot * self.capacity + position] = f64::NAN;
            }
        }
        let mut members = std::mem::take(&mut self.members[position]);
        members.clear();
        let (mut weighted, mut weight) = (0.0, 0.0);
        for row in 0..day.len() {
            let slot = self.slot(day, row);
            members.push(slot);
            let at = slot * self.capacity + position;
            let traded = day.close[row] * day.volume[row];
            let values = [
                day.ret[row],
                day.close[row],
                traded,
                day.market_cap[row],
                day.book_value.get(row).copied().unwrap_or(f64::NAN),
                day.earnings.get(row).copied().unwrap_or(f64::NAN),
                day.sales.get(row).copied().unwrap_or(f64::NAN),
                day.dividends.get(row).copied().unwrap_or(f64::NAN),
                if day.ret[row].is_finite() {
                    day.ret[row].max(-0.999_999).ln_1p()
                } else {
                    0.0
                },
            ];
            for (series, value) in self.series.iter_mut().zip(values) {
                series[at] = value;
            }
            self.countries[at] = self.code(day.country.get(row).map_or("", String::as_str));
            self.sectors[at] = self.code(day.sector.get(row).map_or("", String::as_str));
            let cap = day.market_cap[row];
            if day.ret[row].is_finite() && cap.is_finite() && cap > 0.0 {
                weighted += cap * day.ret[row];
                weight += cap;
            }
        }
        self.members[position] = members;
        self.market[position] = if weight > 0.0 { weighted / weight } else { 0.0 };
        self.dates[position] = Some(day.date());
        self.days += 1;
    }

    /// The slot of row `row` of `day`, created (or taken over) on first sight.
    fn slot(&mut self, day: &PanelDay, row: usize) -> usize {
        let ticker = &day.ticker[row];
        let slot = match self.slots.get(ticker) {
            Some(&slot) => slot,
            None => match self.vacant_slot() {
                Some(slot) => {
                    let gone = std::mem::replace(&mut self.tickers[slot], ticker.clone());
                    self.slots.remove(&gone);
                    self.slots.insert(ticker.clone(), slot);
                    slot
                }
                None => {
                    let slot = self.tickers.len();
                    self.slots.insert(ticker.clone(), slot);
                    self.tickers.push(ticker.clone());
                    self.last_seen.push(self.days);
                    for series in &mut self.series {
                        series.resize(series.len() + self.capacity, f64::NAN);
                    }
                    self.countries
                        .resize(self.countries.len() + self.capacity, u32::MAX);
                    self.sectors
                        .resize(self.sectors.len() + self.capacity, u32::MAX);
                    slot
                }
            },
        };
        self.last_seen[slot] = self.days;
        slot
    }

    /// The code of a country or sector name.
    fn code(&mut self, label: &str) -> u32 {
        if let Some(&code) = self.codes.get(label) {
            return code;
        }
        let code = u32::try_from(self.labels.len()).expect("fewer than 2³² names");
        self.labels.push(label.to_string());
        self.codes.insert(label.to_string(), code);
        code
    }

    /// A slot whose stock has been absent for the whole window: every value of it has been
    /// overwritten with NaN since, so a new stock can take it. Slots are thus bounded by the
    /// stocks listed within one window, however long the panel.
    fn vacant_slot(&self) -> Option<usize> {
        self.last_seen
            .iter()
            .position(|&last| last + self.capacity < self.days)
    }

    /// Days pushed so far.
    pub fn days(&self) -> usize {
        self.days
    }

    /// Whether day `day` (an absolute index) is still held.
    pub fn holds(&self, day: usize) -> bool {
        day < self.days && self.days - day <= self.capacity
    }

    /// The date of day `day`.
    pub fn date(&self, day: usize) -> Date {
        assert!(self.holds(day), "day {day} is not in the history");
        self.dates[day % self.capacity].expect("a pushed day has a date")
    }

    /// The slots present on day `day`, in panel order.
    pub fn members(&self, day: usize) -> &[usize] {
        assert!(self.holds(day), "day {day} is not in the history");
        &self.members[day % self.capacity]
    }

    /// The stock of a slot as of day `day`, which must be held and have the stock present.
    pub fn stock(&self, slot: usize, day: usize) -> Stock<'_> {
        assert!(self.holds(day), "day {day} is not in the history");
        let at = slot * self.capacity + day % self.capacity;
        let label = |code: u32| self.labels.get(code as usize).map_or("", String::as_str);
        Stock {
            ticker: &self.tickers[slot],
            country: label(self.countries[at]),
            sector: label(self.sectors[at]),
        }
    }

    /// The value of `series` for `slot` on day `day`; NaN when the stock was absent or the
    /// day is no longer (or not yet) held.
    pub fn value(&self, series: Series, slot: usize, day: usize) -> f64 {
        if !self.holds(day) {
            return f64::NAN;
        }
        self.series[series as usize][slot * self.capacity + day % self.capacity]
    }

    /// One series of one slot: the ring of its last `capacity` days (day `d` at `d % capacity`).
    pub fn ring(&self, series: Series, slot: usize) -> &[f64] {
        &self.series[series as usize][slot * self.capacity..(slot + 1) * self.capacity]
    }

    /// The market's returns as a ring (day `d` at `d % capacity`).
    pub fn market_ring(&self) -> &[f64] {
        &self.market
    }

    /// The ring position of day `day`.
    pub fn position(&self, day: usize) -> usize {
        day % self.capacity
    }
}
