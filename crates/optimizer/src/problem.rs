//! A portfolio problem's data: the signal, the factor exposures and the groups of the same
//! stocks, checked before anything is solved.

/// What is wrong with a problem's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    /// No stocks.
    #[error("the signal is empty; the portfolio needs at least one stock")]
    Empty,
    /// Columns of different lengths.
    #[error(
        "{what} has {got} values for {expected} stocks; give one per stock, in the signal's order"
    )]
    Length {
        /// Which input.
        what: String,
        /// Values given.
        got: usize,
        /// Stocks in the signal.
        expected: usize,
    },
    /// A group index without a name.
    #[error("stock {row} is in group {index}, but there are only {groups} groups")]
    UnknownGroup {
        /// The stock's position.
        row: usize,
        /// Its group index.
        index: usize,
        /// Groups named.
        groups: usize,
    },
    /// An unusable constraints config.
    #[error("the constraints config: {0}")]
    Config(String),
    /// The solver could not be set up.
    #[error("the solver could not be set up: {0}")]
    Solver(String),
    /// A NaN or infinite value.
    #[error("{what} is not a finite number for stock {row}; fill or drop it before solving")]
    NotFinite {
        /// Which input.
        what: String,
        /// The stock's position.
        row: usize,
    },
}

/// The data of one portfolio problem, in one stock order.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The signal to be long of (the meta model), one value per stock.
    pub signal: Vec<f64>,
    /// Factor exposures: one column per factor, one value per stock.
    pub factors: Vec<(String, Vec<f64>)>,
    /// Each stock's group (sector, country), as an index into `group_names`.
    pub groups: Vec<usize>,
    /// The groups' names.
    pub group_names: Vec<String>,
}

impl Problem {
    /// Stocks in the problem.
    pub fn len(&self) -> usize {
        self.signal.len()
    }

    /// Whether it has no stocks.
    pub fn is_empty(&self) -> bool {
        self.signal.is_empty()
    }

    /// Checks lengths and values.
    ///
    /// # Errors
    /// [`ProblemError`] naming the input and the stock.
    pub fn check(&self) -> Result<(), ProblemError> {
        let n = self.signal.len();
        if n == 0 {
            return Err(ProblemError::Empty);
        }
        let finite = |what: &str, values: &[f64]| match values.iter().position(|v| !v.is_finite()) {
            Some(row) => Err(ProblemError::NotFinite {
                what: what.to_owned(),
                row,
            }),
            None => Ok(()),
        };
        finite("the signal", &self.signal)?;
        for (name, column) in &self.factors {
            if column.len() != n {
                return Err(ProblemError::Length {
                    what: format!("factor {name}"),
                    got: column.len(),
                    expected: n,
                });
            }
            finite(&format!("factor {name}"), column)?;
        }
        if !self.groups.is_empty() && self.groups.len() != n {
            return Err(ProblemError::Length {
                what: "the groups".into(),
                got: self.groups.len(),
                expected: n,
            });
        }
        if let Some(row) = self
            .groups
            .iter()
            .position(|&g| g >= self.group_names.len())
        {
            return Err(ProblemError::UnknownGroup {
                row,
                index: self.groups[row],
                groups: self.group_names.len(),
            });
        }
        Ok(())
    }
}
