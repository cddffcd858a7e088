//! What a security's past looks like to its characteristics: rolling windows of returns and
//! volumes, and cross-sectional standardization.

/// One day of a security's running totals since it listed.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    log_return: f64,
    squared_log_return: f64,
    volume: f64,
}

/// The last `lags + 1` days of running totals of one security, so that any window of up to
/// `lags` days is a difference of two totals: O(1) per window per day.
#[derive(Debug, Clone)]
pub(super) struct History {
    ring: Vec<Totals>,
    /// Days recorded since listing (the listing day included).
    days: usize,
}

impl History {
    /// An empty history that can answer windows of up to `lags` days.
    pub(super) fn new(lags: usize) -> Self {
        Self {
            ring: vec![Totals::default(); lags + 1],
            days: 0,
        }
    }

    /// Records a day: its log return (0 on the listing day, which has none) and its volume.
    pub(super) fn push(&mut self, log_return: f64, volume: f64) {
        let last = if self.days == 0 {
            Totals::default()
        } else {
            self.totals(0)
        };
        let index = self.days % self.ring.len();
        self.ring[index] = Totals {
            log_return: last.log_return + log_return,
            squared_log_return: last.squared_log_return + log_return * log_return,
            volume: last.volume + volume,
        };
        self.days += 1;
    }

    /// The totals `lag` days before the last recorded day (which must exist).
    fn totals(&self, lag: usize) -> Totals {
        self.ring[(self.days - 1 - lag) % self.ring.len()]
    }

    /// Whether the day `lag` days before the last one is recorded.
    fn reaches(&self, lag: usize) -> bool {
        lag < self.days && lag < self.ring.len()
    }

    /// The log return from the close `distant` days ago to the close `recent` days ago
    /// (`recent < distant`), or NaN when the security is too young.
    pub(super) fn log_return(&self, recent: usize, distant: usize) -> f64 {
        if !self.reaches(distant) {
            return f64::NAN;
        }
        self.totals(recent).log_return - self.totals(distant).log_return
    }

    /// The standard deviation of the last `window` daily log returns, or NaN when younger.
    pub(super) fn volatility(&self, window: usize) -> f64 {
        if !self.reaches(window) {
            return f64::NAN;
        }
        let (last, first) = (self.totals(0), self.totals(window));
        let count = window as f64;
        let mean = (last.log_return - first.log_return) / count;
        let mean_square = (last.squared_log_return - first.squared_log_return) / count;
        (mean_square - mean * mean).max(0.0).sqrt()
    }

    /// The mean volume of the last `window` days, or NaN when younger.
    pub(super) fn mean_volume(&self, window: usize) -> f64 {
        if !self.reaches(window) {
            return f64::NAN;
        }
        (self.totals(0).volume - self.totals(window).volume) / window as f64
    }
}

/// Characteristics beyond this many standard deviations are clipped to it.
const CLIP_SD: f64 = 3.0;

/// Standardizes `values` across securities in place: z-scores of the finite values clipped to
/// ±3, and 0 (the cross-sectional mean) for NaN values and for columns with fewer than two
/// finite values or no spread.
pub(super) fn standardize(values: &mut [f64]) {
    let (mut count, mut sum, mut sum_squares) = (0usize, 0.0, 0.0);
    for value in values.iter().filter(|value| value.is_finite()) {
        count += 1;
        sum += value;
        sum_squares += value * value;
    }
    let mean = sum / count.max(1) as f64;
    let variance = sum_squares / count.max(1) as f64 - mean * mean;
    let spread = variance.max(0.0).sqrt();
    for value in values.iter_mut() {
        *value = if count >= 2 && spread > 0.0 && value.is_finite() {
            ((*value - mean) / spread).clamp(-CLIP_SD, CLIP_SD)
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_differences_of_running_totals() {
        let mut history = History::new(3);
        history.push(0.0, 10.0);
        assert!(
            history.log_return(0, 1).is_nan(),
            "one day has no return yet"
        );
        for (log_return, volume) in [(0.1, 20.0), (-0.2, 30.0), (0.3, 40.0), (0.05, 50.0)] {
            history.push(log_return, volume);
        }
        assert!((history.log_return(0, 3) - (-0.2 + 0.3 + 0.05)).abs() < 1e-12);
        assert!((history.log_return(1, 3) - (-0.2 + 0.3)).abs() < 1e-12);
        assert!(history.log_return(0, 4).is_nan(), "beyond the ring");
        assert!((history.mean_volume(2) - 45.0).abs() < 1e-12);
        let returns: [f64; 3] = [-0.2, 0.3, 0.05];
        let mean = returns.iter().sum::<f64>() / 3.0;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((history.volatility(3) - variance.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn standardized_values_have_mean_zero_and_unit_spread_with_gaps_at_zero() {
        let mut values = [1.0, 2.0, f64::NAN, 3.0];
        standardize(&mut values);
        let spread = (2.0f64 / 3.0).sqrt();
        assert_eq!(values[2], 0.0);
        assert!((values[0] + 1.0 / spread).abs() < 1e-12);
        assert!((values[1]).abs() < 1e-12);
        let mut constant = [5.0; 4];
        standardize(&mut constant);
        assert_eq!(constant, [0.0; 4]);
        let mut empty: [f64; 0] = [];
        standardize(&mut empty);
    }
}
