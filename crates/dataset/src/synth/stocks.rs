//! The stock market, one business day at a time. The model and its parameters are described
//! in the documentation of [`super`]; the constants below are its numbers.

use std::collections::HashSet;

use jiff::civil::Date;

use super::history::{History, standardize};
use super::random::{
    CoefficientRegimes, Coefficients, Draws, Stream, VolatilityRegime, VolatilityRegimes,
    fresh_symbol,
};
use crate::panel::PanelDay;

// ------------------------------------------------------------------------------- universe

/// ISO 3166 countries of listing and the share of stocks listed in each.
const COUNTRIES: [(&str, f64); 10] = [
    ("US", 0.45),
    ("JP", 0.12),
    ("GB", 0.07),
    ("CA", 0.06),
    ("FR", 0.05),
    ("DE", 0.05),
    ("CH", 0.04),
    ("AU", 0.05),
    ("KR", 0.05),
    ("TW", 0.06),
];

/// The eleven GICS sectors and the share of stocks in each.
const SECTORS: [(&str, f64); 11] = [
    ("Information Technology", 0.14),
    ("Financials", 0.13),
    ("Health Care", 0.11),
    ("Consumer Discretionary", 0.11),
    ("Industrials", 0.14),
    ("Communication Services", 0.06),
    ("Consumer Staples", 0.07),
    ("Energy", 0.05),
    ("Materials", 0.08),
    ("Real Estate", 0.07),
    ("Utilities", 0.04),
];

/// Probability of a ticker of 1, 2, 3, 4 and 5 letters.
const TICKER_LENGTH_WEIGHTS: [f64; 5] = [0.01, 0.09, 0.35, 0.45, 0.10];

/// Daily probability that a stock delists (and a new listing takes its place): 3 % a year.
const DELIST_PER_DAY: f64 = 0.03 / 252.0;

/// Median and log-spread of a new stock's market cap and first close.
const MARKET_CAP_MEDIAN: f64 = 2.0e9;
const MARKET_CAP_SPREAD: f64 = 1.4;
const CLOSE_MEDIAN: f64 = 30.0;
const CLOSE_SPREAD: f64 = 0.9;

/// A daily return is never below this (so a close stays positive).
const RETURN_MIN: f64 = -0.9;

// -------------------------------------------------------------------------------- factors

const MARKET_MEAN: f64 = 0.0003;
const REGIMES: VolatilityRegimes = VolatilityRegimes {
    calm_volatility: 0.0075,
    turbulent_volatility: 0.018,
    calm_to_turbulent: 1.0 / 250.0,
    turbulent_to_calm: 1.0 / 60.0,
    turbulent_idiosyncratic_multiplier: 1.3,
};
const SECTOR_VOLATILITY: f64 = 0.005;
const COUNTRY_VOLATILITY: f64 = 0.004;

/// The style factors, whose exposures are standardized characteristics.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// Log market cap.
    Size,
    /// Log book-to-market.
    Value,
    /// Medium-term momentum.
    Momentum,
    /// Log 60-day volatility.
    Volatility,
}

const STYLES: usize = 4;
/// Daily volatility of each style factor's return, in [`Style`] order.
const STYLE_VOLATILITY: [f64; STYLES] = [0.0025, 0.002, 0.003, 0.003];

const BETA_MEAN: f64 = 1.0;
const BETA_SPREAD: f64 = 0.3;
/// A beta drifts around its stock's own level: an AR(1) with this daily persistence (a
/// half-life of about 170 days) and this stationary standard deviation.
const BETA_DRIFT_PERSISTENCE: f64 = 0.996;
const BETA_DRIFT_SD: f64 = 0.1;

const IDIOSYNCRATIC_VOLATILITY_MEDIAN: f64 = 0.018;
const IDIOSYNCRATIC_VOLATILITY_SPREAD: f64 = 0.4;
/// Small caps are more volatile: log idiosyncratic volatility falls by this much per unit of
/// log market cap.
const IDIOSYNCRATIC_VOLATILITY_PER_LOG_CAP: f64 = -0.1;

// ---------------------------------------------------------------------------------- alpha

/// The characteristics alpha depends on, as the dataset builder can compute them from the
/// panel as of the previous close.
#[derive(Debug, Clone, Copy)]
enum Characteristic {
    /// Log of book value over market cap.
    Value,
    /// Earnings over market cap.
    EarningsYield,
    /// Dividends over market cap.
    DividendYield,
    /// Minus the log return of the last 5 days.
    Reversal,
    /// The log return from 140 to 20 business days ago.
    Momentum,
    /// Log of 5-day over 60-day mean volume.
    VolumeShock,
    /// Minus the log of the standard deviation of the last 60 daily log returns.
    LowVolatility,
    /// The last earnings surprise, decayed with a 20-day half-life since its announcement.
    EarningsDrift,
}

const CHARACTERISTICS: usize = 8;

impl Characteristic {
    const ALL: [Characteristic; CHARACTERISTICS] = [
        Characteristic::Value,
        Characteristic::EarningsYield,
        Characteristic::DividendYield,
        Characteristic::Reversal,
        Characteristic::Momentum,
        Characteristic::VolumeShock,
        Characteristic::LowVolatility,
        Characteristic::EarningsDrift,
    ];
}

const REVERSAL_DAYS: usize = 5;
const MOMENTUM_SKIP_DAYS: usize = 20;
const MOMENTUM_END_DAYS: usize = 140;
const VOLUME_SHOCK_DAYS: usize = 5;
const VOLUME_BASE_DAYS: usize = 60;
const VOLATILITY_DAYS: usize = 60;
const HISTORY_DAYS: usize = MOMENTUM_END_DAYS;

/// The alpha coefficients per standardized characteristic, in [`Characteristic`] order.
const COEFFICIENT_REGIMES: CoefficientRegimes<CHARACTERISTICS> = CoefficientRegimes {
    mean: [0.25, 0.2, 0.1, 0.35, 0.25, 0.1, 0.2, 0.4],
    spread: 0.25,
    flip: 0.15,
    length_days: (126, 378),
};
/// Daily alpha per unit of coefficient × standardized characteristic.
const ALPHA_SCALE: f64 = 0.0006;
/// Hidden alpha: an AR(1) per stock with a 20-day half-life and this stationary deviation.
const HIDDEN_ALPHA_SD: f64 = 0.0004;
const HIDDEN_ALPHA_PERSISTENCE: f64 = 0.966;

// ---------------------------------------------------------------------- earnings and volume

/// Business days between two earnings updates of a stock.
const EARNINGS_CYCLE_DAYS: (usize, usize) = (60, 66);
const EARNINGS_DRIFT_HALF_LIFE_DAYS: f64 = 20.0;
/// Each quarter earnings move this share of the way to profitability × book value ...
const EARNINGS_REVERSION: f64 = 0.15;
/// ... plus a shock with this standard deviation, as a share of market cap.
const EARNINGS_SHOCK_SD: f64 = 0.008;
/// A surprise of 1 is a change of earnings of 1 % of market cap; surprises are clipped to ±3.
const SURPRISE_UNIT: f64 = 0.01;
const SURPRISE_MAX: f64 = 3.0;
/// Return on the announcement day per unit of surprise, and the idiosyncratic volatility
/// multiplier of that day.
const ANNOUNCEMENT_RETURN_PER_SURPRISE: f64 = 0.01;
const ANNOUNCEMENT_VOLATILITY_MULTIPLIER: f64 = 2.0;
const PROFITABILITY_MEAN: f64 = 0.10;
const PROFITABILITY_SPREAD: f64 = 0.10;
const PROFITABILITY_DRIFT_SD: f64 = 0.01;
const BOOK_TO_MARKET_MEDIAN: f64 = 0.55;
const BOOK_TO_MARKET_SPREAD: f64 = 0.7;
const SALES_TO_MARKET_MEDIAN: f64 = 0.9;
const SALES_TO_MARKET_SPREAD: f64 = 0.8;
const SALES_GROWTH_MEAN: f64 = 0.012;
const SALES_GROWTH_SD: f64 = 0.04;
const DIVIDEND_PAYER_SHARE: f64 = 0.7;
const PAYOUT_RATIO: (f64, f64) = (0.2, 0.6);
/// Payers pay at least this share of book value's worth of earnings, even at a loss.
const DIVIDEND_FLOOR_PER_BOOK: f64 = 0.03;
/// Each quarter dividends move this share of the way to their target.
const DIVIDEND_SMOOTHING: f64 = 0.5;
const SHARE_CHANGE_PER_QUARTER: f64 = 0.1;
const SHARE_CHANGE_SD: f64 = 0.03;

const TURNOVER_MEDIAN: f64 = 0.005;
const TURNOVER_SPREAD: f64 = 0.5;
/// Log turnover deviates from the stock's median as an AR(1) ...
const VOLUME_PERSISTENCE: f64 = 0.85;
const VOLUME_INNOVATION_SD: f64 = 0.3;
/// ... plus this much per idiosyncratic standard deviation of today's return ...
const VOLUME_PER_SURPRISING_RETURN: f64 = 0.25;
/// ... plus this much on an earnings day.
const VOLUME_ANNOUNCEMENT_BUMP: f64 = 0.7;

// --------------------------------------------------------------------------------- market

/// The stock market between two days.
pub(super) struct StockMarket {
    seed: u64,
    /// The 0-based index of the next day to simulate.
    day: usize,
    regime: VolatilityRegime,
    coefficients: Coefficients<CHARACTERISTICS>,
    stocks: Vec<Stock>,
    used_tickers: HashSet<String>,
    /// Standardized characteristics as of the previous close, one column each.
    characteristics: [Vec<f64>; CHARACTERISTICS],
    /// Standardized log market cap as of the previous close.
    size: Vec<f64>,
}

/// The factor returns of one day.
struct Factors {
    market: f64,
    sectors: [f64; SECTORS.len()],
    countries: [f64; COUNTRIES.len()],
    styles: [f64; STYLES],
    idiosyncratic_multiplier: f64,
}

impl StockMarket {
    /// The universe of `stocks` stocks before its first day.
    pub(super) fn open(stocks: usize, seed: u64) -> Self {
        let mut draws = Draws::new(seed, Stream::Universe);
        let coefficients = Coefficients::first(COEFFICIENT_REGIMES, &mut draws);
        let mut used_tickers = HashSet::new();
        let stocks = (0..stocks)
            .map(|_| Stock::list(&mut draws, 0, &mut used_tickers))
            .collect();
        Self {
            seed,
            day: 0,
            regime: VolatilityRegime::calm(REGIMES),
            coefficients,
            stocks,
            used_tickers,
            characteristics: std::array::from_fn(|_| Vec::new()),
            size: Vec::new(),
        }
    }

    /// Simulates the next day and returns its rows, dated `date`.
    pub(super) fn next_day(&mut self, date: Date) -> PanelDay {
        let day = self.day;
        if day > 0 {
            let mut draws = Draws::new(self.seed, Stream::Day(day));
            self.regime.step(&mut draws);
            self.coefficients.step(day, &mut draws);
            let factors = self.factors(&mut draws);
            self.churn(day, &mut draws);
            self.measure_characteristics(day);
            self.trade(day, &factors, &mut draws);
        }
        self.day += 1;
        self.rows(date)
    }

    fn factors(&self, draws: &mut Draws) -> Factors {
        let market = MARKET_MEAN + self.regime.market_volatility() * draws.normal();
        let sectors = std::array::from_fn(|_| SECTOR_VOLATILITY * draws.normal());
        let countries = std::array::from_fn(|_| COUNTRY_VOLATILITY * draws.normal());
        let styles = std::array::from_fn(|style| STYLE_VOLATILITY[style] * draws.normal());
        let idiosyncratic_multiplier = self.regime.idiosyncratic_multiplier();
        Factors {
            market,
            sectors,
            countries,
            styles,
            idiosyncratic_multiplier,
        }
    }

    /// Delists stocks at random, each replaced by a new listing on `day`.
    fn churn(&mut self, day: usize, draws: &mut Draws) {
        for stock in &mut self.stocks {
            if draws.chance(DELIST_PER_DAY) {
                *stock = Stock::list(draws, day, &mut self.used_tickers);
            }
        }
    }

    /// Standardizes every characteristic across the stocks as of the previous close; stocks
    /// listed on `day` have none yet.
    fn measure_characteristics(&mut self, day: usize) {
        let count = self.stocks.len();
        for column in self.characteristics.iter_mut().chain([&mut self.size]) {
            column.clear();
            column.resize(count, f64::NAN);
        }
        for (index, stock) in self.stocks.iter().enumerate() {
            if stock.listed_day == day {
                continue;
            }
            for which in Characteristic::ALL {
                self.characteristics[which as usize][index] = stock.characteristic(which, day - 1);
            }
            self.size[index] = stock.market_cap().ln();
        }
        for column in self.characteristics.iter_mut().chain([&mut self.size]) {
            standardize(column);
        }
    }

    /// Moves every stock listed before `day` through `day`.
    fn trade(&mut self, day: usize, factors: &Factors, draws: &mut Draws) {
        let coefficients = self.coefficients.current;
        for (index, stock) in self.stocks.iter_mut().enumerate() {
            if stock.listed_day == day {
                continue;
            }
            let characteristic =
                |which: Characteristic| self.characteristics[which as usize][index];
            let observable_alpha: f64 = (0..CHARACTERISTICS)
                .map(|k| coefficients[k] * self.characteristics[k][index])
                .sum();
            let exposures = [
                (Style::Size, self.size[index]),
                (Style::Value, characteristic(Characteristic::Value)),
                (Style::Momentum, characteristic(Characteristic::Momentum)),
                (
                    Style::Volatility,
                    -characteristic(Characteristic::LowVolatility),
                ),
            ];
            let style: f64 = exposures
                .iter()
                .map(|&(style, exposure)| exposure * factors.styles[style as usize])
                .sum();
            let systematic = stock.beta() * factors.market
                + factors.sectors[stock.sector]
                + factors.countries[stock.country]
                + style
                + ALPHA_SCALE * observable_alpha;
            stock.trade(day, systematic, factors.idiosyncratic_multiplier, draws);
        }
    }

    fn rows(&self, date: Date) -> PanelDay {
        let mut rows = PanelDay::new(date);
        for stock in &self.stocks {
            rows.ticker.push(stock.ticker.clone());
            rows.country.push(COUNTRIES[stock.country].0.to_string());
            rows.sector.push(SECTORS[stock.sector].0.to_string());
            rows.close.push(stock.close);
            rows.ret.push(stock.ret);
            rows.volume.push(stock.volume);
            rows.market_cap.push(stock.market_cap());
            rows.book_value.push(stock.book_value);
            rows.earnings.push(stock.earnings);
            rows.sales.push(stock.sales);
            rows.dividends.push(stock.dividends);
        }
        rows
    }
}

// ---------------------------------------------------------------------------------- stock

/// One listed stock: what the panel shows of it and the hidden state behind it.
#[derive(Debug, Clone)]
struct Stock {
    ticker: String,
    country: usize,
    sector: usize,
    listed_day: usize,
    close: f64,
    /// Today's return (NaN on the listing day).
    ret: f64,
    /// Today's shares traded.
    volume: f64,
    shares: f64,
    book_value: f64,
    earnings: f64,
    sales: f64,
    dividends: f64,
    /// Return on book value that earnings revert to.
    profitability: f64,
    /// Share of earnings paid as dividends; 0 for a stock that pays none.
    payout_ratio: f64,
    /// The last earnings surprise and the day it was announced.
    surprise: f64,
    surprise_day: usize,
    next_update_day: usize,
    beta_level: f64,
    beta_drift: f64,
    idiosyncratic_volatility: f64,
    hidden_alpha: f64,
    log_turnover_median: f64,
    log_turnover_deviation: f64,
    history: History,
}

impl Stock {
    /// A new listing on `day`, with a ticker never used before.
    fn list(draws: &mut Draws, day: usize, used_tickers: &mut HashSet<String>) -> Self {
        let ticker = fresh_symbol(draws, &TICKER_LENGTH_WEIGHTS, used_tickers);
        let country = draws.weighted(&COUNTRIES.map(|(_, weight)| weight));
        let sector = draws.weighted(&SECTORS.map(|(_, weight)| weight));
        let market_cap = draws.lognormal(MARKET_CAP_MEDIAN, MARKET_CAP_SPREAD);
        let close = draws.lognormal(CLOSE_MEDIAN, CLOSE_SPREAD);
        let book_value = market_cap * draws.lognormal(BOOK_TO_MARKET_MEDIAN, BOOK_TO_MARKET_SPREAD);
        let profitability = PROFITABILITY_MEAN + PROFITABILITY_SPREAD * draws.normal();
        let earnings = profitability * book_value;
        let sales = market_cap * draws.lognormal(SALES_TO_MARKET_MEDIAN, SALES_TO_MARKET_SPREAD);
        let pays_dividends = draws.chance(DIVIDEND_PAYER_SHARE);
        let payout_ratio = draws.between(PAYOUT_RATIO.0, PAYOUT_RATIO.1);
        let payout_ratio = if pays_dividends { payout_ratio } else { 0.0 };
        let idiosyncratic_volatility = (IDIOSYNCRATIC_VOLATILITY_MEDIAN
            * (IDIOSYNCRATIC_VOLATILITY_SPREAD * draws.normal()
                + IDIOSYNCRATIC_VOLATILITY_PER_LOG_CAP * (market_cap / MARKET_CAP_MEDIAN).ln())
            .exp())
        .clamp(0.005, 0.08);
        let beta_level = (BETA_MEAN + BETA_SPREAD * draws.normal()).clamp(0.2, 2.2);
        let hidden_alpha = HIDDEN_ALPHA_SD * draws.normal();
        let log_turnover_median = TURNOVER_MEDIAN.ln() + TURNOVER_SPREAD * draws.normal();
        let log_turnover_deviation = VOLUME_INNOVATION_SD
            / (1.0 - VOLUME_PERSISTENCE * VOLUME_PERSISTENCE).sqrt()
            * draws.normal();
        let next_update_day = day + draws.integer(1, EARNINGS_CYCLE_DAYS.0);
        let mut stock = Self {
            ticker,
            country,
            sector,
            listed_day: day,
            close,
            ret: f64::NAN,
            volume: 0.0,
            shares: market_cap / close,
            book_value,
            earnings,
            sales,
            dividends: payout_ratio * earnings.max(DIVIDEND_FLOOR_PER_BOOK * book_value),
            profitability,
            payout_ratio,
            surprise: 0.0,
            surprise_day: day,
            next_update_day,
            beta_level,
            beta_drift: 0.0,
            idiosyncratic_volatility,
            hidden_alpha,
            log_turnover_median,
            log_turnover_deviation,
            history: History::new(HISTORY_DAYS),
        };
        stock.volume = stock.shares_traded(0.0);
        stock.history.push(0.0, stock.volume);
        stock
    }

    fn market_cap(&self) -> f64 {
        self.close * self.shares
    }

    fn beta(&self) -> f64 {
        self.beta_level + self.beta_drift
    }

    /// Shares traded today given the extra log turnover of the day.
    fn shares_traded(&self, extra_log_turnover: f64) -> f64 {
        let log_turnover =
            self.log_turnover_median + self.log_turnover_deviation + extra_log_turnover;
        (log_turnover.exp() * self.shares).round().max(1.0)
    }

    /// The raw characteristic `which` at the close of `day` (NaN when the stock is too young
    /// for it).
    fn characteristic(&self, which: Characteristic, day: usize) -> f64 {
        let market_cap = self.market_cap();
        match which {
            Characteristic::Value => (self.book_value / market_cap).ln(),
            Characteristic::EarningsYield => (self.earnings / market_cap).clamp(-1.0, 1.0),
            Characteristic::DividendYield => (self.dividends / market_cap).min(0.3),
            Characteristic::Reversal => -self.history.log_return(0, REVERSAL_DAYS),
            Characteristic::Momentum => self
                .history
                .log_return(MOMENTUM_SKIP_DAYS, MOMENTUM_END_DAYS),
            Characteristic::VolumeShock => (self.history.mean_volume(VOLUME_SHOCK_DAYS)
                / self.history.mean_volume(VOLUME_BASE_DAYS))
            .ln(),
            Characteristic::LowVolatility => -self.history.volatility(VOLATILITY_DAYS).ln(),
            Characteristic::EarningsDrift => {
                let days_since = (day - self.surprise_day) as f64;
                self.surprise * 0.5f64.powf(days_since / EARNINGS_DRIFT_HALF_LIFE_DAYS)
            }
        }
    }

    /// Moves the stock through `day`: `systematic` is its factor return plus observable alpha.
    /// Draws, in order: the idiosyncratic shock, the earnings update when one is due, then
    /// the innovations of beta, hidden alpha and turnover.
    fn trade(
        &mut self,
        day: usize,
        systematic: f64,
        idiosyncratic_multiplier: f64,
        draws: &mut Draws,
    ) {
        let shock = draws.normal();
        let announces = day >= self.next_update_day;
        let (reaction, volatility_multiplier) = if announces {
            let surprise = self.announce_earnings(day, draws);
            (
                ANNOUNCEMENT_RETURN_PER_SURPRISE * surprise,
                ANNOUNCEMENT_VOLATILITY_MULTIPLIER,
            )
        } else {
            (0.0, 1.0)
        };
        let idiosyncratic = self.idiosyncratic_volatility
            * idiosyncratic_multiplier
            * volatility_multiplier
            * shock;
        let ret = (systematic + self.hidden_alpha + reaction + idiosyncratic).max(RETURN_MIN);
        self.ret = ret;
        self.close *= 1.0 + ret;

        self.beta_drift = BETA_DRIFT_PERSISTENCE * self.beta_drift
            + (1.0 - BETA_DRIFT_PERSISTENCE * BETA_DRIFT_PERSISTENCE).sqrt()
                * BETA_DRIFT_SD
                * draws.normal();
        self.hidden_alpha = HIDDEN_ALPHA_PERSISTENCE * self.hidden_alpha
            + (1.0 - HIDDEN_ALPHA_PERSISTENCE * HIDDEN_ALPHA_PERSISTENCE).sqrt()
                * HIDDEN_ALPHA_SD
                * draws.normal();
        self.log_turnover_deviation = VOLUME_PERSISTENCE * self.log_turnover_deviation
            + VOLUME_INNOVATION_SD * draws.normal();
        let bump = if announces {
            VOLUME_ANNOUNCEMENT_BUMP
        } else {
            0.0
        };
        self.volume = self.shares_traded(VOLUME_PER_SURPRISING_RETURN * shock.abs() + bump);
        self.history.push(ret.ln_1p(), self.volume);
    }

    /// The quarterly update of the fundamentals on `day`; returns the earnings surprise.
    /// Draws, in order: the earnings shock, profitability drift, sales growth, whether shares
    /// change and by how much, and the days to the next update.
    fn announce_earnings(&mut self, day: usize, draws: &mut Draws) -> f64 {
        let market_cap = self.market_cap();
        let earnings = self.earnings
            + EARNINGS_REVERSION * (self.profitability * self.book_value - self.earnings)
            + EARNINGS_SHOCK_SD * market_cap * draws.normal();
        self.surprise = ((earnings - self.earnings) / (SURPRISE_UNIT * market_cap))
            .clamp(-SURPRISE_MAX, SURPRISE_MAX);
        self.surprise_day = day;
        self.earnings = earnings;
        self.profitability += PROFITABILITY_DRIFT_SD * draws.normal();
        let dividend_target =
            self.payout_ratio * earnings.max(DIVIDEND_FLOOR_PER_BOOK * self.book_value);
        self.dividends += DIVIDEND_SMOOTHING * (dividend_target - self.dividends);
        // A quarter retains a quarter of the trailing year's earnings net of dividends.
        self.book_value =
            (self.book_value + (earnings - self.dividends) / 4.0).max(0.5 * self.book_value);
        self.sales *= (SALES_GROWTH_MEAN + SALES_GROWTH_SD * draws.normal()).exp();
        if draws.chance(SHARE_CHANGE_PER_QUARTER) {
            self.shares *= (SHARE_CHANGE_SD * draws.normal()).exp();
        }
        self.next_update_day = day + draws.integer(EARNINGS_CYCLE_DAYS.0, EARNINGS_CYCLE_DAYS.1);
        self.surprise
    }
}
