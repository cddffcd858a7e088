//! Scalar building blocks: the 1.5 power, means, centering, dot products, Pearson.

/// `sign(x)·|x|^1.5`.
#[must_use]
pub fn pow15(x: f64) -> f64 {
    x.signum() * x.abs().powf(1.5)
}

/// Arithmetic mean; NaN for an empty slice (callers check lengths first).
#[must_use]
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Subtracts the mean from every value, in place.
pub fn center(values: &mut [f64]) {
    let m = mean(values);
    for v in values {
        *v -= m;
    }
}

/// `Σ aᵢ·bᵢ`.
#[must_use]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Population standard deviation (ddof 0).
#[must_use]
pub fn std_population(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt()
}

/// Pearson correlation as `numpy.corrcoef` computes it (which pandas' `Series.corr`
/// calls), clipped to [−1, 1]; `None` when either side has no variance or fewer than 2
/// values.
#[must_use]
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    debug_assert_eq!(a.len(), b.len());
    if a.len() < 2 {
        return None;
    }
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa == 0.0 || bb == 0.0 {
        return None;
    }
    Some((ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0))
}

/// Pearson correlation of `a` with a vector `b_centered` that is already centered and
/// whose norm `b_norm` is known: the batched kernels' inner loop.
#[must_use]
pub fn pearson_with_centered(a: &[f64], b_centered: &[f64], b_norm: f64) -> Option<f64> {
    let ma = mean(a);
    let (mut ab, mut aa) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b_centered) {
        let dx = x - ma;
        ab += dx * y;
        aa += dx * dx;
    }
    if aa == 0.0 || b_norm == 0.0 {
        return None;
    }
    Some((ab / (aa.sqrt() * b_norm)).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow15_keeps_the_sign() {
        assert_eq!(pow15(4.0), 8.0);
        assert_eq!(pow15(-4.0), -8.0);
        assert_eq!(pow15(0.0), 0.0);
    }

    #[test]
    fn pearson_of_a_line_is_one_and_of_a_constant_is_undefined() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [3.0, 5.0, 7.0, 9.0];
        assert!((pearson(&a, &b).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(pearson(&a, &[2.0; 4]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
    }

    #[test]
    fn pearson_with_centered_agrees_with_pearson() {
        let a = [0.3, -1.0, 2.5, 0.7, 0.1];
        let mut b = vec![1.0, 0.5, -0.2, 0.9, 3.0];
        let expected = pearson(&a, &b).unwrap();
        center(&mut b);
        let norm = dot(&b, &b).sqrt();
        assert!((pearson_with_centered(&a, &b, norm).unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn std_is_population_std() {
        assert!((std_population(&[1.0, 3.0]) - 1.0).abs() < 1e-15);
    }
}
