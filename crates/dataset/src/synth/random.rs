//! Seeded random streams, the few samplers the market needs, and the two kinds of regime.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which ChaCha8 stream of the seed a part of the market draws from.
///
/// The universe on the first day has a stream of its own and every later day has one, so what a
/// day draws never depends on how many days are asked for: that is what makes a panel
/// prefix-stable.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stream {
    /// The first day's universe and the first coefficient regime.
    Universe,
    /// Everything drawn on day `index` (0-based) after the first.
    Day(usize),
}

impl Stream {
    /// The ChaCha stream number: the family in the high bits, the day in the low 40.
    fn number(self) -> u64 {
        match self {
            Stream::Universe => 0,
            Stream::Day(index) => (1 << 40) | index as u64,
        }
    }
}

/// A stream of draws. Normals come from Box–Muller; the second value of each pair is kept for
/// the next call, so a stream's sequence of values depends only on the sequence of calls.
pub(super) struct Draws {
    rng: ChaCha8Rng,
    spare_normal: Option<f64>,
}

impl Draws {
    /// The stream `stream` of `seed`.
    pub(super) fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.number());
        Self {
            rng,
            spare_normal: None,
        }
    }

    /// A uniform value in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// A uniform value in [low, high).
    pub(super) fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// A uniform integer in `low..=high`.
    pub(super) fn integer(&mut self, low: usize, high: usize) -> usize {
        self.rng.random_range(low..=high)
    }

    /// True with probability `probability`.
    pub(super) fn chance(&mut self, probability: f64) -> bool {
        self.uniform() < probability
    }

    /// A standard normal value.
    pub(super) fn normal(&mut self) -> f64 {
        if let Some(value) = self.spare_normal.take() {
            return value;
        }
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// A lognormal value: `median · exp(spread · z)`.
    pub(super) fn lognormal(&mut self, median: f64, spread: f64) -> f64 {
        median * (spread * self.normal()).exp()
    }

    /// An index of `weights` (which sum to about 1), each drawn with its weight's probability.
    pub(super) fn weighted(&mut self, weights: &[f64]) -> usize {
        let mut remaining = self.uniform() * weights.iter().sum::<f64>();
        for (index, weight) in weights.iter().enumerate() {
            remaining -= weight;
            if remaining < 0.0 {
                return index;
            }
        }
        weights.len() - 1
    }

    /// A symbol of `length` uppercase letters.
    pub(super) fn letters(&mut self, length: usize) -> String {
        (0..length)
            .map(|_| char::from(b'A' + self.rng.random_range(0..26u8)))
            .collect()
    }
}

/// The parameters of a two-state (calm, turbulent) Markov chain of market volatility.
#[derive(Debug, Clone, Copy)]
pub(super) struct VolatilityRegimes {
    /// Daily volatility of the market factor when calm.
    pub(super) calm_volatility: f64,
    /// Daily volatility of the market factor when turbulent.
    pub(super) turbulent_volatility: f64,
    /// Daily probability that a calm market turns turbulent.
    pub(super) calm_to_turbulent: f64,
    /// Daily probability that a turbulent market calms down.
    pub(super) turbulent_to_calm: f64,
    /// Idiosyncratic volatility is this many times higher when turbulent.
    pub(super) turbulent_idiosyncratic_multiplier: f64,
}

/// The current state of a [`VolatilityRegimes`] chain. Markets start calm.
#[derive(Debug, Clone, Copy)]
pub(super) struct VolatilityRegime {
    parameters: VolatilityRegimes,
    turbulent: bool,
}

impl VolatilityRegime {
    pub(super) fn calm(parameters: VolatilityRegimes) -> Self {
        Self {
            parameters,
            turbulent: false,
        }
    }

    /// Moves the chain one day on (one uniform draw).
    pub(super) fn step(&mut self, draws: &mut Draws) {
        let switch = if self.turbulent {
            self.parameters.turbulent_to_calm
        } else {
            self.parameters.calm_to_turbulent
        };
        if draws.chance(switch) {
            self.turbulent = !self.turbulent;
        }
    }

    /// Today's market-factor volatility.
    pub(super) fn market_volatility(&self) -> f64 {
        if self.turbulent {
            self.parameters.turbulent_volatility
        } else {
            self.parameters.calm_volatility
        }
    }

    /// Today's multiplier of every idiosyncratic volatility.
    pub(super) fn idiosyncratic_multiplier(&self) -> f64 {
        if self.turbulent {
            self.parameters.turbulent_idiosyncratic_multiplier
        } else {
            1.0
        }
    }
}

/// The parameters of the regimes of alpha coefficients.
#[derive(Debug, Clone, Copy)]
pub(super) struct CoefficientRegimes<const K: usize> {
    /// The persistent mean of each coefficient.
    pub(super) mean: [f64; K],
    /// Standard deviation of a regime's deviation from the mean, per coefficient.
    pub(super) spread: f64,
    /// Probability that a regime flips the sign of a coefficient.
    pub(super) flip: f64,
    /// Shortest and longest regime, in days of the panel.
    pub(super) length_days: (usize, usize),
}

/// The alpha coefficients in force and the day the next regime starts.
#[derive(Debug, Clone)]
pub(super) struct Coefficients<const K: usize> {
    parameters: CoefficientRegimes<K>,
    /// The coefficients of today's regime.
    pub(super) current: [f64; K],
    next_change_day: usize,
}

impl<const K: usize> Coefficients<K> {
    /// The first regime, starting on day 0.
    pub(super) fn first(parameters: CoefficientRegimes<K>, draws: &mut Draws) -> Self {
        let mut coefficients = Self {
            parameters,
            current: parameters.mean,
            next_change_day: 0,
        };
        coefficients.step(0, draws);
        coefficients
    }

    /// Starts a new regime if one is due on `day` (drawing only then).
    pub(super) fn step(&mut self, day: usize, draws: &mut Draws) {
        if day < self.next_change_day {
            return;
        }
        let parameters = self.parameters;
        for (current, mean) in self.current.iter_mut().zip(parameters.mean) {
            let value = mean + parameters.spread * draws.normal();
            *current = if draws.chance(parameters.flip) {
                -value
            } else {
                value
            };
        }
        let (shortest, longest) = parameters.length_days;
        self.next_change_day = day + draws.integer(shortest, longest);
    }
}

/// A symbol never used before in this market (recorded in `used`): its length is drawn from
/// `length_weights` (index 0 is one letter), its letters uniformly.
pub(super) fn fresh_symbol(
    draws: &mut Draws,
    length_weights: &[f64],
    used: &mut std::collections::HashSet<String>,
) -> String {
    loop {
        let length = draws.weighted(length_weights) + 1;
        let symbol = draws.letters(length);
        if used.insert(symbol.clone()) {
            return symbol;
        }
    }
}
