//! A seeded synthetic market, written as a [panel](crate::panel): stocks on business days
//! ([`synthesize_stocks`]) or crypto tokens on every calendar day ([`synthesize_crypto`]).
//!
//! The market stands in for an operator's data in demos and tests. It is built so that the
//! dataset builder has something real to find: a weak, unstable, partly observable edge in
//! forward returns, as in a real market.
//!
//! ```
//! use jiff::civil::date;
//! use numerus_dataset::synth::{StockSpec, synthesize_stocks};
//!
//! let spec = StockSpec { stocks: 50, days: 3, start: date(2024, 1, 6), seed: 7 };
//! let mut dates = Vec::new();
//! synthesize_stocks(&spec, |day| {
//!     assert_eq!(day.len(), 50);
//!     dates.push(day.date());
//!     Ok(())
//! })?;
//! // 6 January 2024 is a Saturday: the panel starts on the Monday.
//! assert_eq!(dates, [date(2024, 1, 8), date(2024, 1, 9), date(2024, 1, 10)]);
//! # Ok::<(), numerus_dataset::Error>(())
//! ```
//!
//! # Determinism and prefix stability
//!
//! Everything is drawn from ChaCha8 streams of the seed: one for the first day's universe and
//! one per later day, each consumed in a fixed order (regime, coefficients, factors, churn,
//! then stock by stock in slot order). Nothing a day draws depends on how many days were asked
//! for, so the first `D` days of a panel of `D + k` days *are* the panel of `D` days: an
//! operator demo can extend its market a day at a time. The generator never reads the clock
//! or a global random source, and it streams: one day is built, handed to `emit`, and dropped.
//!
//! # The stock market
//!
//! **Universe.** `stocks` slots, each holding one listed stock. A stock has a unique random
//! ticker of 1 to 5 uppercase letters (mostly 3 or 4; a ticker is never reused, not even after
//! a delisting), a country of listing (US 45 %, JP 12 %, GB 7 %, CA 6 %, TW 6 %, FR, DE, AU,
//! KR 5 % each, CH 4 %) and one of the eleven GICS sectors (weighted from 4 % Utilities to
//! 14 % Industrials and Information Technology). About 3 % of stocks a year delist at random;
//! a new listing (new ticker, fresh draws) takes the slot the same day, so every date has
//! exactly `stocks` rows. A stock's first row, on day one of the panel or on its listing day,
//! has `return` NaN.
//!
//! **Returns.** Stock `i` on day `t` returns
//!
//! ```text
//! r_it = β_it·M_t + S_{sector(i),t} + C_{country(i),t} + Σ_s x_{s,i,t-1}·F_{s,t}
//!        + α_it + h_it + σ_i·m_t·ε_it           (floored at -90 %)
//! ```
//!
//! - `M_t`, the market: mean 0.03 %/day, volatility 0.75 %/day when calm and 1.8 %/day when
//!   turbulent. The regime is a Markov chain (calm → turbulent with probability 1/250 a day,
//!   back with 1/60), so about a fifth of days are turbulent and the volatility averages about
//!   1 %/day. Turbulence also multiplies idiosyncratic volatility: `m_t` = 1.3, else 1.
//! - `β_it` = a level drawn around 1 (± 0.3, kept in [0.2, 2.2]) plus a drift (AR(1), daily
//!   persistence 0.996, stationary deviation 0.1).
//! - `S`, `C`: sector factors (0.5 %/day) and country factors (0.4 %/day), Gaussian.
//! - `F_s`: style factor returns (size 0.25 %, value 0.2 %, momentum 0.3 %, volatility
//!   0.3 %/day, mean zero) times the stock's standardized exposures `x_s` as of the previous
//!   close: log market cap, and the value, momentum and (minus) low-volatility characteristics
//!   below. Style returns carry no premium; they make the characteristics' payoff noisy.
//! - `σ_i`: idiosyncratic volatility, lognormal around 1.8 %/day (log spread 0.4, higher for
//!   small caps, kept in [0.5 %, 8 %]); doubled on an earnings day. `ε` is standard normal.
//! - `α_it`, the observable alpha, and `h_it`, the hidden alpha (below).
//!
//! `return` is the total return (dividends are not paid out separately); for simplicity
//! `close` = previous close × (1 + `return`), so `close` is a total-return index in price
//! units. First closes are lognormal around 30.
//!
//! **Observable alpha.** Each day, eight characteristics are computed from what the panel shows
//! up to the previous close, standardized across the stocks of that date (z-scores clipped to
//! ±3; a stock too young for a characteristic gets 0, the cross-sectional mean):
//!
//! | characteristic   | from the panel                                                      |
//! |------------------|---------------------------------------------------------------------|
//! | value            | log(`book_value` / `market_cap`)                                    |
//! | earnings yield   | `earnings` / `market_cap`                                           |
//! | dividend yield   | `dividends` / `market_cap`                                          |
//! | reversal         | minus the log return of the last 5 days                             |
//! | momentum         | the log return from 140 to 20 business days ago                     |
//! | volume shock     | log(5-day mean `volume` / 60-day mean `volume`)                     |
//! | low volatility   | minus the log standard deviation of the last 60 daily log returns   |
//! | earnings drift   | the last earnings surprise × 2^(−business days since it / 20)       |
//!
//! `α_it` = 0.0006 × Σ_k c_k,t · z_k,i,t-1 per day. The coefficients `c` have a persistent
//! mean (value +0.25, earnings yield +0.2, dividend yield +0.1, reversal +0.35, momentum
//! +0.25, volume shock +0.1, low volatility +0.2, earnings drift +0.4) but change regime every
//! 126 to 378 business days (6 to 18 months, uniform): the new vector is the mean plus
//! Gaussian noise (standard deviation 0.25 each), and each coefficient flips sign with
//! probability 0.15. So the edge is real on average, varies in size and sometimes turns
//! against a strategy that relies on it.
//!
//! **Hidden alpha.** `h_it` is an AR(1) per stock (20-day half-life, stationary deviation
//! 0.04 %/day) that no column reveals: it caps what any model of the panel can explain.
//!
//! **Fundamentals** are point in time: they change only when a stock reports, about every
//! quarter (60 to 66 business days apart, staggered across stocks), and the new values appear
//! in the row of the report day.
//! - Earnings (trailing year) move 15 % of the way to profitability × book value, plus a
//!   shock of 0.8 % of market cap (standard normal). Profitability (return on book) is drawn
//!   around 10 % (± 10 %) and drifts by 1 % a quarter, so some earnings are negative.
//! - The *surprise* is the change in earnings over 1 % of the market cap at the previous
//!   close, clipped to ±3. The report day's return includes 1 % per unit of surprise, and the
//!   earnings-drift characteristic carries it on with a 20-day half-life.
//! - Book value grows by a quarter of earnings net of dividends (never below half its
//!   previous value); first book-to-market is lognormal around 0.55 (log spread 0.7).
//! - Sales grow 1.2 % a quarter ± 4 %; first sales-to-market is lognormal around 0.9.
//! - 30 % of stocks never pay dividends; the others pay out 20 %–60 % of earnings (of at
//!   least 3 % of book value), moving half-way to that target each quarter.
//! - Shares outstanding change at 10 % of reports (log change ± 3 %); `market_cap` =
//!   `close` × shares. First market caps are lognormal around 2 billion (log spread 1.4).
//!
//! **Volume** (shares traded) = turnover × shares outstanding, rounded. Log turnover is the
//! stock's own median (lognormal around 0.5 % a day, log spread 0.5), plus an AR(1)
//! deviation (persistence 0.85, innovation 0.3), plus 0.25 per standard deviation of the
//! day's idiosyncratic shock, plus 0.7 on a report day.
//!
//! **The size of the edge.** The numbers above are tuned so that a plain composite of the
//! observable characteristics (the mean of the standardized book-to-market, earnings yield,
//! reversal and momentum) has a weekly Spearman correlation with the next 20 business days'
//! return, demeaned by sector, of 0.01 to 0.05 on average over a long panel (0.013 to 0.048
//! over seeds 0 to 4 of 300 stocks × 1,000 days; 0.015 to 0.033 for 1,000 stocks × 2,500
//! days), with a weekly standard deviation near 0.08: it is negative in 30 % to 40 % of
//! weeks, as a real factor's is. The style factors and the coefficient regimes are what make
//! it fluctuate; the hidden alpha is of the same size as the observable one. The `dataset`
//! integration tests check the edge (`an_observable_composite_predicts_forward_returns_weakly`)
//! and print it over seeds (`print_the_edge_over_seeds`, ignored by default).
//!
//! # The crypto market
//!
//! `symbols` slots on every calendar day: BTC, ETH and NMR always (they never delist), the
//! rest random 3 to 5 letter symbols, about 20 % of which delist a year and are replaced by
//! new listings (first-day `return` NaN). A token returns
//! `β·M_t + α_it + h_it + σ_i·m_t·ε_it`:
//! - the crypto market `M`: mean 0.1 %/day, 2.7 %/day calm and 5.5 %/day turbulent
//!   (calm → turbulent 1/300 a day, back 1/75), about 3.5 %/day on average; turbulence
//!   multiplies idiosyncratic volatility by 1.3;
//! - β around 1 ± 0.3 (BTC 1, ETH 1.15, NMR 1.1);
//! - idiosyncratic volatility uniform in 4 %–7 %/day (BTC 1.2 %, ETH 2 %, NMR 5 %), with a
//!   jump of 3 × that volatility × a standard normal on 1 % of days: heavy tails;
//! - observable alpha 0.002 × (c_rev·reversal + c_mom·momentum) with standardized reversal
//!   (minus the 7-day log return) and momentum (the log return from 35 to 7 days ago),
//!   coefficients with mean (0.3, 0.4), regimes every 180 to 540 days (noise 0.3, flip
//!   probability 0.2); hidden alpha of the same form as for stocks (stationary deviation
//!   0.1 %/day, 20-day half-life).
//!   The edge is weak: the sum of the two standardized characteristics has a mean weekly
//!   Spearman correlation with the next 14 days' return of about 0.01 (0.002 to 0.021 over
//!   four seeds of 200 tokens × 2,000 days).
//!
//! `market_cap` = `close` × circulating supply, which grows at a per-token rate (0 %–10 % a
//! year; BTC 1.7 %, ETH 0.5 %, NMR 0). First market caps are lognormal around 200 million
//! (log spread 1.8, so heavily skewed) and first closes around 1 (log spread 2); BTC starts at
//! 20,000 × 19.5 million, ETH at 1,500 × 120 million and NMR at 15 × 7.5 million (illustrative
//! levels, not history). `volume` is the traded value in USD: market cap × a turnover that is
//! lognormal around 2 % a day per token (log spread 0.8; the majors 4 %), with the same
//! AR(1) deviation as stocks plus 0.3 per standard deviation of the day's shock.

mod crypto;
mod history;
mod random;
mod stocks;

use jiff::civil::Date;

use crate::Error;
use crate::panel::{PanelDay, is_business_day};

/// Fewer stocks cannot be binned into five groups per date.
pub const STOCKS_MIN: usize = 50;
/// More stocks than any market lists.
pub const STOCKS_MAX: usize = 100_000;
/// Fewer tokens cannot be binned into five groups per date.
pub const SYMBOLS_MIN: usize = 20;
/// More tokens than any exchange lists.
pub const SYMBOLS_MAX: usize = 20_000;
/// About 380 years of business days.
pub const DAYS_MAX: usize = 100_000;

/// What [`synthesize_stocks`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockSpec {
    /// Stocks listed on every date (`STOCKS_MIN..=STOCKS_MAX`).
    pub stocks: usize,
    /// Business days to generate (`1..=DAYS_MAX`).
    pub days: usize,
    /// The panel starts on the first business day on or after this date.
    pub start: Date,
    /// Seed of every random draw.
    pub seed: u64,
}

impl StockSpec {
    /// Checks the spec.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] naming the option to change when a field is out of range or the panel
    /// would run past the last representable date.
    pub fn validate(&self) -> Result<(), Error> {
        check_count("--stocks", self.stocks, STOCKS_MIN, STOCKS_MAX)?;
        check_days(self.days)?;
        // At most 5 business days per 7 calendar days, plus a weekend to reach the first.
        check_end(self.start, self.days / 5 * 7 + 7)
    }
}

/// What [`synthesize_crypto`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoSpec {
    /// Tokens listed on every date, BTC, ETH and NMR included (`SYMBOLS_MIN..=SYMBOLS_MAX`).
    pub symbols: usize,
    /// Calendar days to generate (`1..=DAYS_MAX`).
    pub days: usize,
    /// The first date.
    pub start: Date,
    /// Seed of every random draw.
    pub seed: u64,
}

impl CryptoSpec {
    /// Checks the spec.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] naming the option to change when a field is out of range or the panel
    /// would run past the last representable date.
    pub fn validate(&self) -> Result<(), Error> {
        check_count("--symbols", self.symbols, SYMBOLS_MIN, SYMBOLS_MAX)?;
        check_days(self.days)?;
        check_end(self.start, self.days)
    }
}

/// Generates a stock panel: calls `emit` once per business day (Monday to Friday, starting at
/// the first business day on or after `spec.start`), in date order, with `spec.stocks` rows
/// each. The model is described in the [module documentation](self).
///
/// # Errors
///
/// [`Error::Input`] for an invalid spec (nothing is emitted), or the first error `emit`
/// returns (no day is emitted after it).
pub fn synthesize_stocks(
    spec: &StockSpec,
    mut emit: impl FnMut(PanelDay) -> Result<(), Error>,
) -> Result<(), Error> {
    spec.validate()?;
    let mut market = stocks::StockMarket::open(spec.stocks, spec.seed);
    let mut date = spec.start;
    while !is_business_day(date) {
        date = next_date(date)?;
    }
    for index in 0..spec.days {
        if index > 0 {
            date = next_date(date)?;
            while !is_business_day(date) {
                date = next_date(date)?;
            }
        }
        emit(market.next_day(date))?;
    }
    Ok(())
}

/// Generates a crypto panel: calls `emit` once per calendar day from `spec.start`, in date
/// order, with `spec.symbols` rows each (BTC, ETH and NMR always among them). The model is
/// described in the [module documentation](self).
///
/// # Errors
///
/// [`Error::Input`] for an invalid spec (nothing is emitted), or the first error `emit`
/// returns (no day is emitted after it).
pub fn synthesize_crypto(
    spec: &CryptoSpec,
    mut emit: impl FnMut(PanelDay) -> Result<(), Error>,
) -> Result<(), Error> {
    spec.validate()?;
    let mut market = crypto::CryptoMarket::open(spec.symbols, spec.seed);
    let mut date = spec.start;
    for index in 0..spec.days {
        if index > 0 {
            date = next_date(date)?;
        }
        emit(market.next_day(date))?;
    }
    Ok(())
}

fn check_count(option: &str, count: usize, min: usize, max: usize) -> Result<(), Error> {
    if count < min {
        return Err(Error::input(format!(
            "{option} must be at least {min} so each date can be binned into five groups (got \
             {count})"
        )));
    }
    if count > max {
        return Err(Error::input(format!(
            "{option} must be at most {max} (got {count})"
        )));
    }
    Ok(())
}

fn check_days(days: usize) -> Result<(), Error> {
    if days == 0 {
        return Err(Error::input("--days must be at least 1"));
    }
    if days > DAYS_MAX {
        return Err(Error::input(format!(
            "--days must be at most {DAYS_MAX} (got {days})"
        )));
    }
    Ok(())
}

/// Checks that `calendar_days` after `start` is still a date.
fn check_end(start: Date, calendar_days: usize) -> Result<(), Error> {
    let span = jiff::Span::new().try_days(calendar_days as i64);
    match span.and_then(|span| start.checked_add(span)) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::input(format!(
            "the panel would run past the last supported date; pick an earlier --start than \
             {start} or fewer --days"
        ))),
    }
}

fn next_date(date: Date) -> Result<Date, Error> {
    date.tomorrow()
        .map_err(|_| Error::input(format!("no date follows {date}")))
}
