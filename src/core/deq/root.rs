//! What every root finder shares: the map it solves, when it stops, and what it records.

/// A map z ↦ f(z) on R^d whose fixed point is sought (writes f(z) into `out`).
pub trait FixedPointMap {
    fn dim(&self) -> usize;
    fn apply(&self, z: &[f64], out: &mut [f64]);
}

impl<F: Fn(&[f64], &mut [f64])> FixedPointMap for (usize, F) {
    fn dim(&self) -> usize {
        self.0
    }

    fn apply(&self, z: &[f64], out: &mut [f64]) {
        (self.1)(z, out)
    }
}

/// When a solve stops: the relative residual |f(z) − z| / |f(z)| below `tol`, or
/// `max_iterations` evaluations of f after the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stopping {
    pub tol: f64,
    pub max_iterations: usize,
}

impl Stopping {
    /// LABS.md's defaults: 1e-4 relative, 50 iterations.
    pub const DEFAULT: Stopping = Stopping { tol: 1e-4, max_iterations: 50 };

    pub fn validate(&self) -> Result<(), String> {
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(format!("the tolerance must be in (0, 1), got {}", self.tol));
        }
        if !(1..=100_000).contains(&self.max_iterations) {
            return Err(format!("the iterations must be 1 to 100000, got {}", self.max_iterations));
        }
        Ok(())
    }
}

/// A solve's answer and its record.
#[derive(Debug, Clone, PartialEq)]
pub struct RootSolve {
    /// The last iterate.
    pub z: Vec<f64>,
    /// The relative residual at the start and after each iteration.
    pub residuals: Vec<f64>,
    /// Evaluations of f (the ODE solver takes several per step).
    pub evaluations: usize,
    pub converged: bool,
}

impl RootSolve {
    /// Iterations taken (the residual record less its starting entry).
    pub fn iterations(&self) -> usize {
        self.residuals.len().saturating_sub(1)
    }

    /// The first iteration whose residual is below `tol` (None if none is).
    pub fn iterations_to(&self, tol: f64) -> Option<usize> {
        self.residuals.iter().position(|r| *r < tol)
    }

    pub fn final_residual(&self) -> f64 {
        self.residuals.last().copied().unwrap_or(f64::INFINITY)
    }
}

/// |f − z| / |f| (0 when both are zero; infinite when not a number).
pub fn relative_residual(z: &[f64], fz: &[f64]) -> f64 {
    let diff = z.iter().zip(fz).map(|(a, b)| (b - a) * (b - a)).sum::<f64>().sqrt();
    let norm = fz.iter().map(|v| v * v).sum::<f64>().sqrt();
    let r = diff / norm.max(f64::MIN_POSITIVE);
    if r.is_nan() {
        f64::INFINITY
    } else {
        r
    }
}

/// The root finders by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverKind {
    FixedPoint,
    Anderson,
    Broyden,
    OdeSteady,
}

impl SolverKind {
    pub const ALL: [SolverKind; 4] =
        [SolverKind::FixedPoint, SolverKind::Anderson, SolverKind::Broyden, SolverKind::OdeSteady];

    pub fn name(self) -> &'static str {
        match self {
            SolverKind::FixedPoint => "fixed-point",
            SolverKind::Anderson => "anderson",
            SolverKind::Broyden => "broyden",
            SolverKind::OdeSteady => "ode-steady",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("unknown solver '{name}': choose fixed-point, anderson, broyden or ode-steady"))
    }
}
