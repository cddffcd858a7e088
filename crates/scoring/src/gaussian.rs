//! The inverse of the standard normal CDF, as scipy computes it.
//!
//! `scipy.stats.norm.ppf` is `scipy.special.ndtri`, which is Stephen Moshier's Cephes
//! routine. This is the same algorithm with the same rational approximations, so the two
//! agree to the last bit or two (peak relative error of the method: 7e-16).

/// sqrt(2π).
const SQRT_2PI: f64 = 2.506_628_274_631_000_7;
/// exp(-2): below this (or above 1 − this) the tail approximations take over.
const EXP_MINUS_2: f64 = 0.135_335_283_236_612_7;

/// Central region |y − 0.5| ≤ 3/8: numerator and denominator (leading 1 implied) in w².
const P0: [f64; 5] = [
    -5.996_335_010_141_079E1,
    9.800_107_541_859_997E1,
    -5.667_628_574_690_703E1,
    1.393_126_093_872_796_8E1,
    -1.239_165_838_673_812_5,
];
const Q0: [f64; 8] = [
    1.954_488_583_381_417_6,
    4.676_279_128_988_815,
    8.636_024_213_908_905E1,
    -2.254_626_878_541_193_7E2,
    2.002_602_123_800_606_6E2,
    -8.203_722_561_683_334E1,
    1.590_562_251_262_117E1,
    -1.183_316_211_213_3,
];
/// Tail with z = sqrt(−2 ln y) in [2, 8): y between exp(−32) and exp(−2).
const P1: [f64; 9] = [
    4.055_448_923_059_624_5,
    3.152_510_945_998_938_8E1,
    5.716_281_922_464_213E1,
    4.408_050_738_932_008E1,
    1.468_495_619_288_580_3E1,
    2.186_633_068_507_902_5,
    -1.402_560_791_713_545E-1,
    -3.504_246_268_278_482E-2,
    -8.574_567_851_546_854E-4,
];
const Q1: [f64; 8] = [
    1.577_998_832_564_667_5E1,
    4.539_076_351_288_792E1,
    4.131_720_382_546_72E1,
    1.504_253_856_929_075E1,
    2.504_649_462_083_094,
    -1.421_829_228_547_877_9E-1,
    -3.808_064_076_915_783E-2,
    -9.332_594_808_954_574E-4,
];
/// Far tail with z in [8, 64): y below exp(−32).
const P2: [f64; 9] = [
    3.237_748_917_769_460_3,
    6.915_228_890_689_842,
    3.938_810_252_924_744_4,
    1.333_034_608_158_075_5,
    2.014_853_895_491_790_8E-1,
    1.237_166_348_178_200_3E-2,
    3.015_815_535_082_354_3E-4,
    2.658_069_746_867_375_5E-6,
    6.239_745_391_849_833E-9,
];
const Q2: [f64; 8] = [
    6.024_270_393_647_42,
    3.679_835_638_561_608_7,
    1.377_020_994_890_813_2,
    2.162_369_935_944_966_3E-1,
    1.342_040_060_885_431_8E-2,
    3.280_144_646_821_277_4E-4,
    2.892_478_647_453_806_8E-6,
    6.790_194_080_099_813E-9,
];

/// Horner evaluation, coefficients from the highest power down.
fn polynomial(x: f64, coefficients: &[f64]) -> f64 {
    coefficients.iter().fold(0.0, |acc, &c| acc * x + c)
}

/// Horner evaluation of a polynomial whose leading coefficient is an implied 1.
fn polynomial_monic(x: f64, coefficients: &[f64]) -> f64 {
    coefficients.iter().fold(1.0, |acc, &c| acc * x + c)
}

/// `Φ⁻¹(y)`: the x for which the standard normal CDF equals `y`.
///
/// Returns −∞ for `y ≤ 0`, +∞ for `y ≥ 1` and NaN for NaN, like scipy. Scoring only
/// ever calls it with ranks strictly inside (0, 1).
///
/// ```
/// let x = numerus_scoring::ndtri(0.975);
/// assert!((x - 1.959_963_984_540_054).abs() < 1e-15);
/// ```
#[must_use]
pub fn ndtri(y: f64) -> f64 {
    if y.is_nan() {
        return f64::NAN;
    }
    if y <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if y >= 1.0 {
        return f64::INFINITY;
    }
    let (y, upper) = if y > 1.0 - EXP_MINUS_2 {
        (1.0 - y, true)
    } else {
        (y, false)
    };
    if y > EXP_MINUS_2 {
        let w = y - 0.5;
        let w2 = w * w;
        let x = w + w * (w2 * polynomial(w2, &P0) / polynomial_monic(w2, &Q0));
        return x * SQRT_2PI;
    }
    let z = (-2.0 * y.ln()).sqrt();
    let x0 = z - z.ln() / z;
    let inverse = 1.0 / z;
    let x1 = if z < 8.0 {
        inverse * polynomial(inverse, &P1) / polynomial_monic(inverse, &Q1)
    } else {
        inverse * polynomial(inverse, &P2) / polynomial_monic(inverse, &Q2)
    };
    let x = x0 - x1;
    // The tail formula gives |x|; the lower tail is negative.
    if upper { x } else { -x }
}

#[cfg(test)]
mod tests {
    use super::ndtri;

    /// Values printed by scipy 1.17.1 `scipy.special.ndtri` (`repr`, so exact doubles).
    const SCIPY: [(f64, f64); 14] = [
        (1e-300, -37.0470962993612),
        (1e-20, -9.262340089798409),
        (1e-10, -6.361340902404056),
        (0.001, -3.090232306167813),
        (0.0135, -2.2115178091866805),
        (0.1, -1.2815515655446004),
        (0.13, -1.1263911290388007),
        (0.2, -0.8416212335729142),
        (0.5, 0.0),
        (0.7, 0.5244005127080407),
        (0.9, 1.2815515655446004),
        (0.99, 2.3263478740408408),
        (0.999999, 4.753424308817087),
        (0.999999999999999, 7.941444487415979),
    ];

    #[test]
    fn ndtri_matches_scipy_in_every_region() {
        for (y, expected) in SCIPY {
            let got = ndtri(y);
            assert!(
                (got - expected).abs() <= 2.0 * f64::EPSILON * expected.abs(),
                "ndtri({y}) = {got}, scipy says {expected}"
            );
        }
    }

    #[test]
    fn ndtri_is_antisymmetric_and_handles_the_domain_edges() {
        for y in [0.01, 0.2, 0.3, 0.45] {
            assert!((ndtri(y) + ndtri(1.0 - y)).abs() < 1e-15);
        }
        assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
        assert_eq!(ndtri(1.0), f64::INFINITY);
        assert!(ndtri(f64::NAN).is_nan());
    }
}
