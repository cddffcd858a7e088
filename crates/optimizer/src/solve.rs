//! Building the QP in Clarabel's form (`min ½xᵀPx + qᵀx` s.t. `Ax + s = b`, `s ≥ 0`) over
//! `x = [u; v]` and reading the solution back.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus,
};

use crate::config::Constraints;
use crate::problem::{Problem, ProblemError};

/// How a solve ended. Only `Solved` carries a portfolio to trade.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Optimal to the solver's tolerances.
    Solved,
    /// Optimal to reduced tolerances only (numerically hard; use with care).
    AlmostSolved,
    /// No portfolio satisfies the constraints; the constraints the solver's certificate
    /// leans on most, by name.
    Infeasible {
        /// The binding constraints, most binding first.
        binding: Vec<String>,
    },
    /// The iteration limit was reached first.
    MaxIterations,
    /// The solver failed (numerical error, insufficient progress).
    Failed(String),
}

/// A general (non-bound) constraint row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Row {
    Gross,
    NetAbove,
    NetBelow,
    FactorAbove(usize),
    FactorBelow(usize),
    GroupAbove(usize),
    GroupBelow(usize),
}

/// A solved (or not) portfolio.
#[derive(Debug, Clone)]
pub struct Portfolio {
    /// Weights, one per stock (0 unless solved).
    pub weights: Vec<f64>,
    /// How the solve ended.
    pub status: Status,
    /// The objective `½γ(‖u‖² + ‖v‖²) − sᵀw` at the solution.
    pub objective: f64,
    /// Interior-point iterations.
    pub iterations: u32,
    /// Lower bounds of x that are active.
    pub(crate) at_zero: Vec<bool>,
    /// Caps of x that are active.
    pub(crate) at_cap: Vec<bool>,
    /// General rows that are active.
    pub(crate) active: Vec<Row>,
    /// The concentration penalty γ.
    pub(crate) risk_aversion: f64,
}

impl Portfolio {
    /// `Σ|w|`.
    pub fn gross(&self) -> f64 {
        self.weights.iter().map(|w| w.abs()).sum()
    }

    /// `Σw`.
    pub fn net(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// Positions with `|w| > 1e-9`.
    pub fn positions(&self) -> usize {
        self.weights.iter().filter(|w| w.abs() > 1e-9).count()
    }
}

/// The layout of the constraint rows.
pub(crate) struct Layout {
    pub(crate) n: usize,
    pub(crate) factors: usize,
    pub(crate) groups: usize,
}

impl Layout {
    pub(crate) fn of(problem: &Problem) -> Self {
        Self {
            n: problem.len(),
            factors: problem.factors.len(),
            groups: if problem.groups.is_empty() {
                0
            } else {
                problem.group_names.len()
            },
        }
    }

    /// The index of a general row (after the 4n bound rows).
    pub(crate) fn index(&self, row: Row) -> usize {
        let base = 4 * self.n;
        match row {
            Row::Gross => base,
            Row::NetAbove => base + 1,
            Row::NetBelow => base + 2,
            Row::FactorAbove(f) => base + 3 + 2 * f,
            Row::FactorBelow(f) => base + 4 + 2 * f,
            Row::GroupAbove(g) => base + 3 + 2 * self.factors + 2 * g,
            Row::GroupBelow(g) => base + 4 + 2 * self.factors + 2 * g,
        }
    }

    pub(crate) fn rows(&self) -> Vec<Row> {
        let mut rows = vec![Row::Gross, Row::NetAbove, Row::NetBelow];
        for f in 0..self.factors {
            rows.extend([Row::FactorAbove(f), Row::FactorBelow(f)]);
        }
        for g in 0..self.groups {
            rows.extend([Row::GroupAbove(g), Row::GroupBelow(g)]);
        }
        rows
    }

    pub(crate) fn count(&self) -> usize {
        4 * self.n + 3 + 2 * self.factors + 2 * self.groups
    }
}

/// Row `row`'s coefficient on `x_j` (`j < n`: `u_j`; else `v_{j−n}`).
pub(crate) fn coefficient(problem: &Problem, row: Row, j: usize) -> f64 {
    let n = problem.len();
    let (stock, sign) = if j < n { (j, 1.0) } else { (j - n, -1.0) };
    match row {
        Row::Gross => 1.0,
        Row::NetAbove => sign,
        Row::NetBelow => -sign,
        Row::FactorAbove(f) => sign * problem.factors[f].1[stock],
        Row::FactorBelow(f) => -sign * problem.factors[f].1[stock],
        Row::GroupAbove(g) => {
            if problem.groups[stock] == g {
                sign
            } else {
                0.0
            }
        }
        Row::GroupBelow(g) => {
            if problem.groups[stock] == g {
                -sign
            } else {
                0.0
            }
        }
    }
}

fn name(problem: &Problem, row: Row) -> String {
    match row {
        Row::Gross => "gross exposure".into(),
        Row::NetAbove | Row::NetBelow => "net exposure".into(),
        Row::FactorAbove(f) | Row::FactorBelow(f) => {
            format!("neutrality to factor {}", problem.factors[f].0)
        }
        Row::GroupAbove(g) | Row::GroupBelow(g) => {
            format!("neutrality to group {}", problem.group_names[g])
        }
    }
}

/// Solves the portfolio problem.
///
/// # Errors
/// [`ProblemError`] for bad data (and a bad config, named); an infeasible or unsolved
/// problem is a [`Status`], not an error.
pub fn solve(problem: &Problem, constraints: &Constraints) -> Result<Portfolio, ProblemError> {
    problem.check()?;
    constraints.check().map_err(ProblemError::Config)?;
    let layout = Layout::of(problem);
    let n = layout.n;
    let m = layout.count();
    let general = layout.rows();
    // P = γI (upper triangle of a diagonal).
    let p = CscMatrix::new(
        2 * n,
        2 * n,
        (0..=2 * n).collect(),
        (0..2 * n).collect(),
        vec![constraints.risk_aversion; 2 * n],
    );
    let mut q = Vec::with_capacity(2 * n);
    q.extend(problem.signal.iter().map(|s| -s));
    q.extend(problem.signal.iter().copied());
    // A by columns: the bound rows of x_j, then every general row it appears in.
    let mut colptr = Vec::with_capacity(2 * n + 1);
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    colptr.push(0);
    for j in 0..2 * n {
        rowval.push(j);
        nzval.push(-1.0);
        rowval.push(2 * n + j);
        nzval.push(1.0);
        for &row in &general {
            let value = coefficient(problem, row, j);
            if value != 0.0 {
                rowval.push(layout.index(row));
                nzval.push(value);
            }
        }
        colptr.push(rowval.len());
    }
    let a = CscMatrix::new(m, 2 * n, colptr, rowval, nzval);
    let mut b = vec![0.0; m];
    for bound in &mut b[2 * n..4 * n] {
        *bound = constraints.position_cap;
    }
    for &row in &general {
        b[layout.index(row)] = match row {
            Row::Gross => constraints.gross,
            Row::NetAbove => constraints.net + constraints.net_tolerance,
            Row::NetBelow => -(constraints.net - constraints.net_tolerance),
            Row::FactorAbove(_) | Row::FactorBelow(_) => constraints.factor_tolerance,
            Row::GroupAbove(_) | Row::GroupBelow(_) => constraints.group_tolerance,
        };
    }
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(200)
        .tol_gap_abs(1e-12)
        .tol_gap_rel(1e-12)
        .tol_feas(1e-12)
        .build()
        .expect("valid solver settings");
    let cones = [NonnegativeConeT(m)];
    let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings)
        .map_err(|error| ProblemError::Solver(format!("{error:?}")))?;
    solver.solve();
    let solution = &solver.solution;
    let status = match solution.status {
        SolverStatus::Solved => Status::Solved,
        SolverStatus::AlmostSolved => Status::AlmostSolved,
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            Status::Infeasible {
                binding: binding(problem, &layout, &general, &solution.z),
            }
        }
        SolverStatus::MaxIterations | SolverStatus::MaxTime => Status::MaxIterations,
        other => Status::Failed(format!("{other:?}")),
    };
    let solved = matches!(status, Status::Solved | Status::AlmostSolved);
    let x = if solved {
        solution.x.clone()
    } else {
        vec![0.0; 2 * n]
    };
    let weights = (0..n).map(|i| x[i] - x[n + i]).collect();
    // Complementarity decides what is active: a row whose multiplier exceeds its slack.
    let active_row = |index: usize| solved && solution.z[index] > solution.s[index];
    Ok(Portfolio {
        weights,
        objective: if solved { solution.obj_val } else { 0.0 },
        iterations: solution.iterations,
        at_zero: (0..2 * n).map(&active_row).collect(),
        at_cap: (0..2 * n).map(|j| active_row(2 * n + j)).collect(),
        active: general
            .iter()
            .copied()
            .filter(|&row| active_row(layout.index(row)))
            .collect(),
        risk_aversion: constraints.risk_aversion,
        status,
    })
}

/// The constraint families the infeasibility certificate weighs most (at most three).
fn binding(problem: &Problem, layout: &Layout, general: &[Row], z: &[f64]) -> Vec<String> {
    let mut weight: Vec<(String, f64)> = Vec::new();
    let mut add =
        |label: String, value: f64| match weight.iter_mut().find(|(name, _)| *name == label) {
            Some(entry) => entry.1 += value,
            None => weight.push((label, value)),
        };
    let n = layout.n;
    add(
        "position cap".into(),
        z[2 * n..4 * n].iter().map(|v| v.abs()).sum(),
    );
    for &row in general {
        add(name(problem, row), z[layout.index(row)].abs());
    }
    let total: f64 = weight.iter().map(|(_, w)| w).sum();
    weight.sort_by(|a, b| b.1.total_cmp(&a.1));
    weight
        .into_iter()
        .filter(|(_, w)| total > 0.0 && *w > 1e-6 * total)
        .take(3)
        .map(|(name, _)| name)
        .collect()
}
