//! The crypto market, one calendar day at a time. The model and its parameters are described
//! in the documentation of [`super`]; the constants below are its numbers.

use std::collections::HashSet;

use jiff::civil::Date;

use super::history::{History, standardize};
use super::random::{
    CoefficientRegimes, Coefficients, Draws, Stream, VolatilityRegime, VolatilityRegimes,
    fresh_symbol,
};
use crate::panel::PanelDay;

/// The majors every crypto panel has, which never delist: symbol, first close, circulating
/// supply, yearly supply growth, beta and daily idiosyncratic volatility. The levels are
/// illustrative, not historical.
const MAJORS: [Major; 3] = [
    Major {
        symbol: "BTC",
        close: 20_000.0,
        supply: 19.5e6,
        supply_growth: 0.017,
        beta: 1.0,
        volatility: 0.012,
    },
    Major {
        symbol: "ETH",
        close: 1_500.0,
        supply: 120.0e6,
        supply_growth: 0.005,
        beta: 1.15,
        volatility: 0.02,
    },
    Major {
        symbol: "NMR",
        close: 15.0,
        supply: 7.5e6,
        supply_growth: 0.0,
        beta: 1.1,
        volatility: 0.05,
    },
];

struct Major {
    symbol: &'static str,
    close: f64,
    supply: f64,
    supply_growth: f64,
    beta: f64,
    volatility: f64,
}

/// Probability of a random symbol of 3, 4 and 5 letters (index 0 and 1: none of 1 or 2).
const SYMBOL_LENGTH_WEIGHTS: [f64; 5] = [0.0, 0.0, 0.55, 0.35, 0.10];
/// Daily probability that a token other than the majors delists (a new listing takes its
/// place): 20 % a year.
const DELIST_PER_DAY: f64 = 0.20 / 365.0;
const MARKET_CAP_MEDIAN: f64 = 2.0e8;
const MARKET_CAP_SPREAD: f64 = 1.8;
const CLOSE_MEDIAN: f64 = 1.0;
const CLOSE_SPREAD: f64 = 2.0;
/// Yearly supply growth of a random token: uniform in this range.
const SUPPLY_GROWTH: (f64, f64) = (0.0, 0.10);
const RETURN_MIN: f64 = -0.9;

const MARKET_MEAN: f64 = 0.001;
const REGIMES: VolatilityRegimes = VolatilityRegimes {
    calm_volatility: 0.027,
    turbulent_volatility: 0.055,
    calm_to_turbulent: 1.0 / 300.0,
    turbulent_to_calm: 1.0 / 75.0,
    turbulent_idiosyncratic_multiplier: 1.3,
};
const BETA_MEAN: f64 = 1.0;
const BETA_SPREAD: f64 = 0.3;
/// Idiosyncratic volatility of a random token: uniform in this range ...
const IDIOSYNCRATIC_VOLATILITY: (f64, f64) = (0.04, 0.07);
/// ... with a jump of this many volatilities (times a standard normal) on this share of days.
const JUMP_SIZE: f64 = 3.0;
const JUMP_PER_DAY: f64 = 0.01;

/// The characteristics alpha depends on: minus the 7-day log return (reversal) and the log
/// return from 35 to 7 days ago (momentum).
const CHARACTERISTICS: usize = 2;
const REVERSAL_DAYS: usize = 7;
const MOMENTUM_SKIP_DAYS: usize = 7;
const MOMENTUM_END_DAYS: usize = 35;
const COEFFICIENT_REGIMES: CoefficientRegimes<CHARACTERISTICS> = CoefficientRegimes {
    mean: [0.3, 0.4],
    spread: 0.3,
    flip: 0.2,
    length_days: (180, 540),
};
const ALPHA_SCALE: f64 = 0.002;
const HIDDEN_ALPHA_SD: f64 = 0.001;
const HIDDEN_ALPHA_PERSISTENCE: f64 = 0.966;

const TURNOVER_MEDIAN: f64 = 0.02;
const TURNOVER_SPREAD: f64 = 0.8;
const VOLUME_PERSISTENCE: f64 = 0.85;
const VOLUME_INNOVATION_SD: f64 = 0.3;
const VOLUME_PER_SURPRISING_RETURN: f64 = 0.3;

/// The crypto market between two days.
pub(super) struct CryptoMarket {
    seed: u64,
    day: usize,
    regime: VolatilityRegime,
    coefficients: Coefficients<CHARACTERISTICS>,
    tokens: Vec<Token>,
    used_symbols: HashSet<String>,
    characteristics: [Vec<f64>; CHARACTERISTICS],
}

impl CryptoMarket {
    /// The majors and `symbols - 3` random tokens before the first day.
    pub(super) fn open(symbols: usize, seed: u64) -> Self {
        let mut draws = Draws::new(seed, Stream::Universe);
        let coefficients = Coefficients::first(COEFFICIENT_REGIMES, &mut draws);
        let mut used_symbols: HashSet<String> = MAJORS
            .iter()
            .map(|major| major.symbol.to_string())
            .collect();
        let mut tokens: Vec<Token> = MAJORS
            .iter()
            .map(|major| Token::major(major, &mut draws))
            .collect();
        while tokens.len() < symbols {
            tokens.push(Token::list(&mut draws, 0, &mut used_symbols));
        }
        Self {
            seed,
            day: 0,
            regime: VolatilityRegime::calm(REGIMES),
            coefficients,
            tokens,
            used_symbols,
            characteristics: std::array::from_fn(|_| Vec::new()),
        }
    }

    /// Simulates the next day and returns its rows, dated `date`.
    pub(super) fn next_day(&mut self, date: Date) -> PanelDay {
        let day = self.day;
        if day > 0 {
            let mut draws = Draws::new(self.seed, Stream::Day(day));
            self.regime.step(&mut draws);
            self.coefficients.step(day, &mut draws);
            let market = MARKET_MEAN + self.regime.market_volatility() * draws.normal();
            for token in self.tokens.iter_mut().skip(MAJORS.len()) {
                if draws.chance(DELIST_PER_DAY) {
                    *token = Token::list(&mut draws, day, &mut self.used_symbols);
                }
            }
            self.measure_characteristics(day);
            let multiplier = self.regime.idiosyncratic_multiplier();
            let coefficients = self.coefficients.current;
            for (index, token) in self.tokens.iter_mut().enumerate() {
                if token.listed_day == day {
                    continue;
                }
                let observable_alpha: f64 = (0..CHARACTERISTICS)
                    .map(|k| coefficients[k] * self.characteristics[k][index])
                    .sum();
                let systematic = token.beta * market + ALPHA_SCALE * observable_alpha;
                token.trade(systematic, multiplier, &mut draws);
            }
        }
        self.day += 1;
        self.rows(date)
    }

    fn measure_characteristics(&mut self, day: usize) {
        let count = self.tokens.len();
        for (k, column) in self.characteristics.iter_mut().enumerate() {
            column.clear();
            column.extend(self.tokens.iter().map(|token| {
                if token.listed_day == day {
                    return f64::NAN;
                }
                match k {
                    0 => -token.history.log_return(0, REVERSAL_DAYS),
                    _ => token
                        .history
                        .log_return(MOMENTUM_SKIP_DAYS, MOMENTUM_END_DAYS),
                }
            }));
            debug_assert_eq!(column.len(), count);
            standardize(column);
        }
    }

    fn rows(&self, date: Date) -> PanelDay {
        let mut rows = PanelDay::new(date);
        for token in &self.tokens {
            rows.ticker.push(token.symbol.clone());
            rows.close.push(token.close);
            rows.ret.push(token.ret);
            rows.volume.push(token.volume);
            rows.market_cap.push(token.market_cap());
        }
        rows
    }
}

/// One listed token.
#[derive(Debug, Clone)]
struct Token {
    symbol: String,
    listed_day: usize,
    close: f64,
    /// Today's return (NaN on the listing day).
    ret: f64,
    /// Today's traded value in USD.
    volume: f64,
    supply: f64,
    /// Daily supply growth factor (1 + yearly growth)^(1/365).
    supply_growth_daily: f64,
    beta: f64,
    idiosyncratic_volatility: f64,
    hidden_alpha: f64,
    log_turnover_median: f64,
    log_turnover_deviation: f64,
    history: History,
}

/// What a token starts with.
struct Listing {
    symbol: String,
    day: usize,
    close: f64,
    supply: f64,
    supply_growth: f64,
    beta: f64,
    idiosyncratic_volatility: f64,
    log_turnover_median: f64,
}

impl Token {
    fn major(major: &Major, draws: &mut Draws) -> Self {
        let listing = Listing {
            symbol: major.symbol.to_string(),
            day: 0,
            close: major.close,
            supply: major.supply,
            supply_growth: major.supply_growth,
            beta: major.beta,
            idiosyncratic_volatility: major.volatility,
            // The majors trade more of their value than a typical token.
            log_turnover_median: (2.0 * TURNOVER_MEDIAN).ln(),
        };
        Self::start(listing, draws)
    }

    fn list(draws: &mut Draws, day: usize, used_symbols: &mut HashSet<String>) -> Self {
        let symbol = fresh_symbol(draws, &SYMBOL_LENGTH_WEIGHTS, used_symbols);
        let market_cap = draws.lognormal(MARKET_CAP_MEDIAN, MARKET_CAP_SPREAD);
        let close = draws.lognormal(CLOSE_MEDIAN, CLOSE_SPREAD);
        let listing = Listing {
            symbol,
            day,
            close,
            supply: market_cap / close,
            supply_growth: draws.between(SUPPLY_GROWTH.0, SUPPLY_GROWTH.1),
            beta: (BETA_MEAN + BETA_SPREAD * draws.normal()).clamp(0.2, 2.2),
            idiosyncratic_volatility: draws
                .between(IDIOSYNCRATIC_VOLATILITY.0, IDIOSYNCRATIC_VOLATILITY.1),
            log_turnover_median: TURNOVER_MEDIAN.ln() + TURNOVER_SPREAD * draws.normal(),
        };
        Self::start(listing, draws)
    }

    /// The token on its listing day: draws its hidden alpha and turnover deviation.
    fn start(listing: Listing, draws: &mut Draws) -> Self {
        let hidden_alpha = HIDDEN_ALPHA_SD * draws.normal();
        let log_turnover_deviation = VOLUME_INNOVATION_SD
            / (1.0 - VOLUME_PERSISTENCE * VOLUME_PERSISTENCE).sqrt()
            * draws.normal();
        let mut token = Self {
            symbol: listing.symbol,
            listed_day: listing.day,
            close: listing.close,
            ret: f64::NAN,
            volume: 0.0,
            supply: listing.supply,
            supply_growth_daily: (1.0 + listing.supply_growth).powf(1.0 / 365.0),
            beta: listing.beta,
            idiosyncratic_volatility: listing.idiosyncratic_volatility,
            hidden_alpha,
            log_turnover_median: listing.log_turnover_median,
            log_turnover_deviation,
            history: History::new(MOMENTUM_END_DAYS),
        };
        token.volume = token.traded_value(0.0);
        token.history.push(0.0, token.volume);
        token
    }

    fn market_cap(&self) -> f64 {
        self.close * self.supply
    }

    fn traded_value(&self, extra_log_turnover: f64) -> f64 {
        let log_turnover =
            self.log_turnover_median + self.log_turnover_deviation + extra_log_turnover;
        log_turnover.exp() * self.market_cap()
    }

    /// Moves the token through a day. Draws, in order: the shock, whether it jumps (and the
    /// jump), then the innovations of hidden alpha and turnover.
    fn trade(&mut self, systematic: f64, idiosyncratic_multiplier: f64, draws: &mut Draws) {
        let mut shock = draws.normal();
        if draws.chance(JUMP_PER_DAY) {
            shock += JUMP_SIZE * draws.normal();
        }
        let idiosyncratic = self.idiosyncratic_volatility * idiosyncratic_multiplier * shock;
        let ret = (systematic + self.hidden_alpha + idiosyncratic).max(RETURN_MIN);
        self.ret = ret;
        self.close *= 1.0 + ret;
        self.supply *= self.supply_growth_daily;
        self.hidden_alpha = HIDDEN_ALPHA_PERSISTENCE * self.hidden_alpha
            + (1.0 - HIDDEN_ALPHA_PERSISTENCE * HIDDEN_ALPHA_PERSISTENCE).sqrt()
                * HIDDEN_ALPHA_SD
                * draws.normal();
        self.log_turnover_deviation = VOLUME_PERSISTENCE * self.log_turnover_deviation
            + VOLUME_INNOVATION_SD * draws.normal();
        self.volume = self.traded_value(VOLUME_PER_SURPRISING_RETURN * shock.abs());
        self.history.push(ret.ln_1p(), self.volume);
    }
}
