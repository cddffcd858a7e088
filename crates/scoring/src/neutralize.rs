//! Least-squares neutralization with numpy's `lstsq(rcond=1e-6)` semantics.
//!
//! numerai-tools neutralizes `Y` against exposures `B` by appending a ones column,
//! `A = [B, 1]`, solving `β = lstsq(A, Y, rcond=1e-6)` and returning `Y − Aβ`. numpy's
//! lstsq is an SVD solve that treats singular values `≤ rcond·σ_max` as zero, so `Aβ` is
//! the projection of `Y` onto the span of the left singular vectors whose singular value
//! survives the cut. A [`Projector`] factors `A` once (a thin SVD) and keeps that basis
//! `U_r`; every submission of the era is then neutralized by two matrix products,
//! `Y − U_r(U_rᵀY)`. This is why duplicate features, constant features and an intercept
//! neutralizer (collinear with the ones column) behave exactly as in numpy, where a QR
//! solve would blow up.

use faer::{Mat, MatRef};

use crate::Undefined;

/// numpy's cut-off ratio for small singular values, as numerai-tools passes it.
pub const RCOND: f64 = 1e-6;

/// An orthonormal basis of the (truncated) column space of `[B, 1]`.
#[derive(Debug, Clone)]
pub struct Projector {
    basis: Mat<f64>,
    exposure_columns: usize,
}

impl Projector {
    /// Factors `[exposures, 1]` (rows × (k + 1)) once.
    ///
    /// # Errors
    /// [`Undefined::FactorizationFailed`] if the SVD does not converge (e.g. non-finite
    /// exposures).
    pub fn with_intercept(exposures: MatRef<'_, f64>) -> Result<Self, Undefined> {
        let (rows, k) = (exposures.nrows(), exposures.ncols());
        let design = Mat::<f64>::from_fn(
            rows,
            k + 1,
            |i, j| {
                if j < k { exposures[(i, j)] } else { 1.0 }
            },
        );
        let svd = design
            .thin_svd()
            .map_err(|_| Undefined::FactorizationFailed)?;
        let singular = svd.S().column_vector();
        let largest = (0..singular.nrows())
            .map(|i| singular[i])
            .fold(0.0, f64::max);
        let rank = (0..singular.nrows())
            .filter(|&i| singular[i] > RCOND * largest)
            .count();
        // Singular values come sorted in non-increasing order, so the kept vectors lead.
        let basis = svd.U().subcols(0, rank).to_owned();
        Ok(Self {
            basis,
            exposure_columns: k,
        })
    }

    /// Rows the basis is for.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.basis.nrows()
    }

    /// Numerical rank of `[B, 1]` at the rcond cut.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.basis.ncols()
    }

    /// Number of exposure columns (without the added ones column).
    #[must_use]
    pub fn exposure_columns(&self) -> usize {
        self.exposure_columns
    }

    /// `U_rᵀY`: the coordinates of each column's projection.
    #[must_use]
    pub fn coordinates(&self, y: MatRef<'_, f64>) -> Mat<f64> {
        self.basis.transpose() * y
    }

    /// `Y − U_r(U_rᵀY)`: every column neutralized.
    #[must_use]
    pub fn residual(&self, y: MatRef<'_, f64>) -> Mat<f64> {
        let coordinates = self.coordinates(y);
        let mut residual = y.to_owned();
        faer::linalg::matmul::matmul(
            residual.as_mut(),
            faer::Accum::Add,
            self.basis.as_ref(),
            coordinates.as_ref(),
            -1.0,
            faer::get_global_parallelism(),
        );
        residual
    }

    /// One vector neutralized.
    #[must_use]
    pub fn residual_vector(&self, y: &[f64]) -> Vec<f64> {
        let residual = self.residual(MatRef::from_column_major_slice(y, y.len(), 1));
        residual.col(0).iter().copied().collect()
    }
}

/// `Y − [B, 1]·lstsq([B, 1], Y, rcond=1e-6)`: the convenient one-shot form.
///
/// # Errors
/// [`Undefined::FactorizationFailed`] if the SVD does not converge.
pub fn neutralize(y: MatRef<'_, f64>, exposures: MatRef<'_, f64>) -> Result<Mat<f64>, Undefined> {
    Ok(Projector::with_intercept(exposures)?.residual(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::dot;

    fn exposures() -> Mat<f64> {
        // Six rows; columns: a feature, its duplicate, a constant (collinear with the
        // ones column) and a second feature.
        let f = [0.0, 1.0, 4.0, 2.0, 3.0, 1.0];
        let g = [2.0, 0.0, 1.0, 1.0, 4.0, 3.0];
        Mat::from_fn(6, 4, |i, j| match j {
            0 | 1 => f[i],
            2 => 7.0,
            _ => g[i],
        })
    }

    #[test]
    fn residual_is_orthogonal_to_every_exposure_and_to_the_ones_column() {
        let b = exposures();
        let y = [0.3, -1.2, 0.8, 2.0, -0.4, 0.1];
        let projector = Projector::with_intercept(b.as_ref()).unwrap();
        // Duplicate and constant columns collapse: rank is ones + f + g = 3.
        assert_eq!(projector.rank(), 3);
        let r = projector.residual_vector(&y);
        for j in 0..b.ncols() {
            let column: Vec<f64> = b.col(j).iter().copied().collect();
            assert!(dot(&r, &column).abs() < 1e-12);
        }
        assert!(r.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn neutralizing_twice_changes_nothing() {
        let b = exposures();
        let y = Mat::from_fn(6, 2, |i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
        let once = neutralize(y.as_ref(), b.as_ref()).unwrap();
        let twice = neutralize(once.as_ref(), b.as_ref()).unwrap();
        for j in 0..2 {
            for i in 0..6 {
                assert!((once[(i, j)] - twice[(i, j)]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_vector_in_the_span_neutralizes_to_zero() {
        let b = exposures();
        let y: Vec<f64> = (0..6).map(|i| 2.0 * b[(i, 0)] - b[(i, 3)] + 5.0).collect();
        let r = Projector::with_intercept(b.as_ref())
            .unwrap()
            .residual_vector(&y);
        assert!(r.iter().all(|v| v.abs() < 1e-12));
    }
}
