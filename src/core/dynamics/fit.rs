//! Fitting a learned vector field to observed trajectories: the neural ODE lab's training.
//!
//! Each step draws a minibatch of series (keyed by the step's counter, so a run repeats),
//! solves each from its first observation on a grid (fixed steps per observation interval, or
//! the steps a PID controller accepts on the current field), and takes the gradient of the
//! mean squared error at every observation by the chosen method
//! ([`crate::core::adjoint::observed`]). The series of a batch run in parallel natively and
//! are summed in order, so the result does not depend on the thread count.
//!
//! The length schedule of diffrax's example trains the first half of the steps on the first
//! 10% of each series ("a standard trick to avoid getting caught in a local minimum").

use super::neural::{HybridField, NeuralField};
use super::systems::{generate, System, SystemId, Trajectories};
use super::VectorField;
use crate::core::adjoint::observed::{
    backsolve_adjoint, discretise_then_optimise, reversible_heun_adjoint, reversible_heun_solve, solve_grid,
    ObservedGradients, PointLoss, Problem,
};
use crate::core::nn::adam::AdamF64;
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::parallel::for_each_mut;
use crate::core::rng::RngStream;
use crate::core::solve::ode::integrate_adaptive_recording;
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::ButcherTableau;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// y' = s * tanh(NN(y)).
    Neural,
    /// y' = known physics + NN(y).
    Hybrid,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Neural => "neural",
            ModelKind::Hybrid => "hybrid",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "neural" => Ok(ModelKind::Neural),
            "hybrid" => Ok(ModelKind::Hybrid),
            _ => Err(format!("unknown model '{name}': choose neural or hybrid")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradientMethod {
    Backprop,
    Backsolve,
    ReversibleHeun,
}

impl GradientMethod {
    pub const ALL: [GradientMethod; 3] =
        [GradientMethod::Backprop, GradientMethod::Backsolve, GradientMethod::ReversibleHeun];

    pub fn name(self) -> &'static str {
        match self {
            GradientMethod::Backprop => "backprop",
            GradientMethod::Backsolve => "backsolve",
            GradientMethod::ReversibleHeun => "reversible-heun",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("unknown gradient method '{name}': choose backprop, backsolve or reversible-heun"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stepping {
    /// This many equal steps per observation interval.
    Fixed { per_interval: usize },
    /// Steps chosen by a PID controller on the current field, then held fixed for the gradient.
    Pid { rtol: f64, atol: f64 },
}

/// The solvers the lab offers (fixed-step tableaus; tsit5 and dopri5 also adaptively).
pub const SOLVERS: [&str; 5] = ["euler", "heun", "rk4", "tsit5", "dopri5"];

#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    pub system: SystemId,
    pub model: ModelKind,
    pub width: usize,
    pub depth: usize,
    pub activation: DenseActivation,
    /// One of [`SOLVERS`] (ignored by reversible Heun, which is its own solver).
    pub solver: String,
    pub stepping: Stepping,
    pub method: GradientMethod,
    /// Series in the data set, and per minibatch.
    pub series: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub steps: usize,
    pub length_schedule: bool,
    /// Observations at times up to this train; later ones measure extrapolation (None: all
    /// train).
    pub train_until: Option<f64>,
    pub seed: u64,
}

/// Bounds on what a lab run may ask for.
pub const MAX_WIDTH: usize = 256;
pub const MAX_DEPTH: usize = 4;
pub const MAX_SERIES: usize = 1024;
pub const MAX_STEPS: usize = 1_000_000;
pub const MAX_PER_INTERVAL: usize = 100;
/// Accepted plus rejected steps a PID solve may take per observation interval.
pub const MAX_PID_STEPS: usize = 10_000;

impl FitConfig {
    /// The reference setting of LABS.md (diffrax's example): width 64, depth 2, softplus,
    /// 256 series, batch 32, Adam 3e-3, Tsit5 with PID 1e-3/1e-6, 1000 steps with the length
    /// schedule. The hybrid Lotka-Volterra model uses the showcase's 5-wide Gaussian network
    /// and Adam 1e-2 for 3000 steps; Lotka-Volterra trains on t <= 3 (the rest measures
    /// extrapolation).
    pub fn cli_default(system: SystemId, model: ModelKind) -> Self {
        let hybrid_lv = model == ModelKind::Hybrid && system == SystemId::LotkaVolterra;
        FitConfig {
            system,
            model,
            width: if hybrid_lv { 5 } else { 64 },
            depth: if hybrid_lv { 3 } else { 2 },
            activation: if hybrid_lv { DenseActivation::Gaussian } else { DenseActivation::Softplus },
            solver: "tsit5".into(),
            stepping: Stepping::Pid { rtol: 1e-3, atol: 1e-6 },
            method: GradientMethod::Backprop,
            series: 256,
            batch: 32,
            learning_rate: if hybrid_lv { 1e-2 } else { 3e-3 },
            steps: if hybrid_lv { 3000 } else { 1000 },
            length_schedule: true,
            train_until: if system == SystemId::LotkaVolterra { Some(3.0) } else { None },
            seed: 0,
        }
    }

    /// The page's setting (about 30 s of training in the browser): width 32, 64 series,
    /// batch 16, RK4 with one step per observation interval.
    pub fn page_default(system: SystemId, model: ModelKind) -> Self {
        let cli = Self::cli_default(system, model);
        FitConfig {
            width: cli.width.min(32),
            solver: "rk4".into(),
            stepping: Stepping::Fixed { per_interval: 1 },
            series: 64,
            batch: 16,
            steps: 600,
            ..cli
        }
    }

    pub fn tableau(&self) -> Result<ButcherTableau, String> {
        if !SOLVERS.contains(&self.solver.as_str()) {
            return Err(format!("--solver: unknown solver '{}': choose one of {}", self.solver, SOLVERS.join(", ")));
        }
        ButcherTableau::from_name(&self.solver)
    }

    /// Every setting checked, with a message that names what to change.
    pub fn validate(&self) -> Result<(), String> {
        let tableau = self.tableau()?;
        if !(1..=MAX_WIDTH).contains(&self.width) {
            return Err(format!("--width must be 1 to {MAX_WIDTH}, got {}", self.width));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(format!("--depth must be 1 to {MAX_DEPTH}, got {}", self.depth));
        }
        if !(1..=MAX_SERIES).contains(&self.series) {
            return Err(format!("--series must be 1 to {MAX_SERIES}, got {}", self.series));
        }
        if self.batch == 0 || self.batch > self.series {
            return Err(format!("--batch must be 1 to the number of series ({}), got {}", self.series, self.batch));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(format!("--lr must be in (0, 1], got {}", self.learning_rate));
        }
        if self.steps > MAX_STEPS {
            return Err(format!("--steps must be at most {MAX_STEPS}, got {}", self.steps));
        }
        if self.model == ModelKind::Hybrid && self.system.known_part().is_none() {
            return Err(format!(
                "--model hybrid: {} has no known part for a hybrid model: choose pendulum or lotka-volterra",
                self.system.name()
            ));
        }
        match self.stepping {
            Stepping::Fixed { per_interval } if !(1..=MAX_PER_INTERVAL).contains(&per_interval) => {
                return Err(format!("--steps-per-interval must be 1 to {MAX_PER_INTERVAL}, got {per_interval}"));
            }
            Stepping::Pid { rtol, atol } => {
                if !(rtol.is_finite() && atol.is_finite() && rtol > 0.0 && atol > 0.0 && rtol < 1.0 && atol < 1.0) {
                    return Err(format!("--rtol and --atol must be in (0, 1), got {rtol} and {atol}"));
                }
                if tableau.error.is_none() {
                    return Err(format!("--solver {} has no error estimate for PID steps: use tsit5 or dopri5, or fixed steps (--steps-per-interval)", self.solver));
                }
                if self.method == GradientMethod::ReversibleHeun {
                    return Err("reversible-heun takes fixed steps: give --steps-per-interval".into());
                }
            }
            Stepping::Fixed { .. } => {}
        }
        if let Some(t) = self.train_until {
            let times = self.system.data_spec().times;
            if !(t.is_finite() && t > times[0] && t < *times.last().expect("times")) {
                return Err(format!(
                    "--train-until must lie inside the data's times (0, {}), got {t}",
                    times.last().expect("times")
                ));
            }
        }
        Ok(())
    }
}

/// The field being fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnedField {
    Neural(NeuralField),
    Hybrid(HybridField),
}

impl LearnedField {
    pub fn new(config: &FitConfig) -> Result<Self, String> {
        Ok(match config.model {
            ModelKind::Neural => {
                LearnedField::Neural(NeuralField::new(2, config.width, config.depth, config.activation)?)
            }
            ModelKind::Hybrid => LearnedField::Hybrid(HybridField::new(
                System(config.system),
                config.width,
                config.depth,
                config.activation,
            )?),
        })
    }

    pub fn init(&self, seed: u64) -> Vec<f64> {
        match self {
            LearnedField::Neural(f) => f.init(seed),
            LearnedField::Hybrid(f) => f.init(seed),
        }
    }

    fn inner(&self) -> &(dyn VectorField + Sync) {
        match self {
            LearnedField::Neural(f) => f,
            LearnedField::Hybrid(f) => f,
        }
    }
}

impl VectorField for LearnedField {
    fn dim(&self) -> usize {
        self.inner().dim()
    }
    fn param_count(&self) -> usize {
        self.inner().param_count()
    }
    fn eval(&self, params: &[f64], t: f64, y: &[f64], dy: &mut [f64]) {
        self.inner().eval(params, t, y, dy)
    }
    fn vjp(&self, params: &[f64], t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_params: &mut [f64]) {
        self.inner().vjp(params, t, y, a, d_y, d_params)
    }
}

/// A solve's grid through `times` (fixed steps per interval, or the steps a PID controller
/// accepts on the field), and each time's index on it.
fn grid_for(
    config: &FitConfig,
    field: &LearnedField,
    params: &[f64],
    y0: [f64; 2],
    times: &[f64],
) -> Result<(Vec<f64>, Vec<usize>), String> {
    match config.stepping {
        Stepping::Fixed { per_interval } => {
            let mut grid = vec![times[0]];
            for w in times.windows(2) {
                for k in 1..=per_interval {
                    grid.push(w[0] + (w[1] - w[0]) * k as f64 / per_interval as f64);
                }
            }
            Ok((grid, (0..times.len()).map(|i| i * per_interval).collect()))
        }
        Stepping::Pid { rtol, atol } => {
            let tableau = config.tableau()?;
            let controller = PidController::new(rtol, atol);
            let mut f = |t: f64, y: &[f64], dy: &mut [f64]| field.eval(params, t, y, dy);
            let (mut grid, mut indices) = (vec![times[0]], vec![0]);
            let mut y = y0.to_vec();
            for w in times.windows(2) {
                let mut record = |t: f64| grid.push(t);
                y = integrate_adaptive_recording(
                    &tableau,
                    &mut f,
                    &y,
                    w[0],
                    w[1],
                    &controller,
                    MAX_PID_STEPS,
                    &mut record,
                )?
                .0;
                // The last accepted step ends exactly on the observation time.
                *grid.last_mut().expect("a step was accepted") = w[1];
                indices.push(grid.len() - 1);
            }
            Ok((grid, indices))
        }
    }
}

/// One training step's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitRecord {
    pub step: usize,
    /// The minibatch's mean squared error (mean absolute error for the cubic spiral).
    pub loss: f64,
    /// Field evaluations per series, forward and backward.
    pub nfe_forward: f64,
    pub nfe_backward: f64,
}

/// A minibatch whose gradient is being summed series by series ([`NodeFit::advance`]).
#[derive(Debug, Clone)]
struct PendingStep {
    batch: Vec<usize>,
    points: usize,
    loss: PointLoss,
    next: usize,
    total: f64,
    grad: Vec<f64>,
    forward: f64,
    backward: f64,
}

/// A fit in progress.
#[derive(Debug, Clone)]
pub struct NodeFit {
    pub config: FitConfig,
    pub data: Trajectories,
    pub field: LearnedField,
    pub params: Vec<f64>,
    adam: AdamF64,
    pub history: Vec<FitRecord>,
    /// Observations (from the start of each series) that train.
    pub train_points: usize,
    pending: Option<PendingStep>,
}

/// One series' gradient and cost.
#[derive(Debug, Clone, Default)]
struct SeriesGradient {
    loss: f64,
    d_params: Vec<f64>,
    forward: usize,
    backward: usize,
    error: Option<String>,
}

impl NodeFit {
    pub fn new(config: FitConfig) -> Result<Self, String> {
        config.validate()?;
        let data = generate(config.system, config.series, config.seed)?;
        let field = LearnedField::new(&config)?;
        let params = field.init(config.seed);
        let mut adam = AdamF64::new(params.len(), config.learning_rate);
        // A step that would move far on one bad batch is clipped (as the diffusion trainer).
        adam.clip_norm = Some(10.0);
        let train_points = match config.train_until {
            Some(t) => data.times.iter().filter(|&&s| s <= t).count(),
            None => data.times.len(),
        };
        Ok(NodeFit { config, data, field, params, adam, history: Vec::new(), train_points, pending: None })
    }

    pub fn steps_done(&self) -> usize {
        self.history.len()
    }

    pub fn done(&self) -> bool {
        self.steps_done() >= self.config.steps
    }

    /// Observations each series trains on at the current step.
    pub fn points_now(&self) -> usize {
        if self.config.length_schedule && self.steps_done() < self.config.steps / 2 {
            (self.train_points / 10).max(2).min(self.train_points)
        } else {
            self.train_points
        }
    }

    fn point_loss(&self, points: usize, batch: usize) -> PointLoss {
        let scale = 1.0 / (batch * (points - 1) * 2) as f64;
        if self.config.system == SystemId::CubicSpiral {
            PointLoss::Absolute { scale }
        } else {
            PointLoss::Squared { scale }
        }
    }

    /// The grid for one series over its first `points` observations, and each observation's
    /// index on it.
    fn grid(&self, params: &[f64], y0: [f64; 2], points: usize) -> Result<(Vec<f64>, Vec<usize>), String> {
        grid_for(&self.config, &self.field, params, y0, &self.data.times[..points])
    }

    fn series_gradient(&self, params: &[f64], series: usize, points: usize, loss: PointLoss) -> SeriesGradient {
        let path = &self.data.series[series];
        let y0 = path[0];
        let (grid, indices) = match self.grid(params, y0, points) {
            Ok(g) => g,
            Err(e) => return SeriesGradient { error: Some(e), ..SeriesGradient::default() },
        };
        let observed: Vec<(usize, Vec<f64>)> =
            indices.iter().zip(path).skip(1).map(|(&n, y)| (n, y.to_vec())).collect();
        let problem = Problem { field: &self.field, params, y0: &y0, grid: &grid, observed: &observed, loss };
        let steps = grid.len() - 1;
        let (g, forward): (ObservedGradients, usize) = match self.config.method {
            GradientMethod::Backprop | GradientMethod::Backsolve => {
                let tableau = self.config.tableau().expect("validated");
                let g = if self.config.method == GradientMethod::Backprop {
                    discretise_then_optimise(&tableau, &problem)
                } else {
                    backsolve_adjoint(&tableau, &problem).gradients
                };
                (g, steps * tableau.stages())
            }
            GradientMethod::ReversibleHeun => (reversible_heun_adjoint(&problem).gradients, steps + 1),
        };
        SeriesGradient {
            loss: g.loss,
            backward: g.evaluations.saturating_sub(forward),
            forward,
            d_params: g.d_params,
            error: None,
        }
    }

    /// The minibatch of a step: distinct series drawn from the step's own counter.
    fn batch_of(&self, step: usize) -> Vec<usize> {
        let mut rng = RngStream::new(self.config.seed, 0x6e62_0000 + step as u64); // stream: "nb" + step
        let mut order: Vec<usize> = (0..self.data.series.len()).collect();
        for i in 0..self.config.batch {
            let j = i + rng.below(order.len() - i);
            order.swap(i, j);
        }
        order.truncate(self.config.batch);
        order
    }

    /// The loss and gradient of the step's minibatch at the current parameters (no update).
    pub fn gradient(&self) -> Result<(f64, Vec<f64>, f64, f64), String> {
        let points = self.points_now();
        let batch = self.batch_of(self.steps_done());
        let loss = self.point_loss(points, batch.len());
        let mut parts: Vec<SeriesGradient> = vec![SeriesGradient::default(); batch.len()];
        for_each_mut(&mut parts, 1, |i, part| *part = self.series_gradient(&self.params, batch[i], points, loss));
        let mut total = 0.0;
        let mut grad = vec![0.0; self.params.len()];
        let (mut forward, mut backward) = (0.0, 0.0);
        for part in &parts {
            if let Some(e) = &part.error {
                return Err(e.clone());
            }
            total += part.loss;
            grad.iter_mut().zip(&part.d_params).for_each(|(a, b)| *a += b);
            forward += part.forward as f64;
            backward += part.backward as f64;
        }
        let n = parts.len() as f64;
        Ok((total, grad, forward / n, backward / n))
    }

    /// One step of Adam. A non-finite loss or gradient changes nothing and is an error (the
    /// caller rolls back or stops).
    pub fn step(&mut self) -> Result<FitRecord, String> {
        self.pending = None;
        let (loss, grad, nfe_forward, nfe_backward) = self.gradient()?;
        self.apply(loss, grad, nfe_forward, nfe_backward)
    }

    /// The step in pieces, for a page that must return to the browser every few
    /// milliseconds: sums the minibatch's series one at a time until `out_of_time()` says
    /// stop, and updates the weights once the whole minibatch is in (the same sums in the same
    /// order as [`NodeFit::step`], so the same weights).
    pub fn advance(&mut self, out_of_time: &mut dyn FnMut() -> bool) -> Result<Option<FitRecord>, String> {
        let mut pending = match self.pending.take() {
            Some(p) => p,
            None => {
                let points = self.points_now();
                let batch = self.batch_of(self.steps_done());
                let loss = self.point_loss(points, batch.len());
                PendingStep {
                    batch,
                    points,
                    loss,
                    next: 0,
                    total: 0.0,
                    grad: vec![0.0; self.params.len()],
                    forward: 0.0,
                    backward: 0.0,
                }
            }
        };
        while pending.next < pending.batch.len() {
            let part = self.series_gradient(&self.params, pending.batch[pending.next], pending.points, pending.loss);
            if let Some(e) = part.error {
                return Err(e);
            }
            pending.total += part.loss;
            pending.grad.iter_mut().zip(&part.d_params).for_each(|(a, b)| *a += b);
            pending.forward += part.forward as f64;
            pending.backward += part.backward as f64;
            pending.next += 1;
            if pending.next < pending.batch.len() && out_of_time() {
                self.pending = Some(pending);
                return Ok(None);
            }
        }
        let n = pending.batch.len() as f64;
        self.apply(pending.total, pending.grad, pending.forward / n, pending.backward / n).map(Some)
    }

    fn apply(&mut self, loss: f64, grad: Vec<f64>, nfe_forward: f64, nfe_backward: f64) -> Result<FitRecord, String> {
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(format!(
                "training diverged at step {} (the loss or its gradient is not finite): lower --lr or use a smaller step",
                self.steps_done()
            ));
        }
        self.adam.step(&mut self.params, &grad);
        let record = FitRecord { step: self.steps_done(), loss, nfe_forward, nfe_backward };
        self.history.push(record);
        Ok(record)
    }

    /// The trained field's path from y0 through `times` with the configured solver (the grid
    /// rules of training).
    pub fn predict(&self, y0: [f64; 2], times: &[f64]) -> Result<Vec<[f64; 2]>, String> {
        let (grid, indices) = grid_for(&self.config, &self.field, &self.params, y0, times)?;
        let problem = Problem {
            field: &self.field,
            params: &self.params,
            y0: &y0,
            grid: &grid,
            observed: &[],
            loss: PointLoss::Squared { scale: 1.0 },
        };
        let states = match self.config.method {
            GradientMethod::ReversibleHeun => reversible_heun_solve(&problem).0,
            _ => solve_grid(&self.config.tableau()?, &problem),
        };
        Ok(indices.iter().map(|&n| [states[n][0], states[n][1]]).collect())
    }

    /// Mean squared error over every series at observations `range` (training points, or the
    /// extrapolation points after them), each series solved from its first observation.
    pub fn mse(&self, range: std::ops::Range<usize>) -> Result<f64, String> {
        if range.is_empty() {
            return Ok(0.0);
        }
        let times = &self.data.times[..range.end];
        let (mut sum, mut count) = (0.0, 0usize);
        for path in &self.data.series {
            let predicted = self.predict(path[0], times)?;
            for i in range.clone() {
                sum += (predicted[i][0] - path[i][0]).powi(2) + (predicted[i][1] - path[i][1]).powi(2);
                count += 2;
            }
        }
        let mse = sum / count as f64;
        if mse.is_finite() {
            Ok(mse)
        } else {
            Err("the trained field's solution left the finite numbers".into())
        }
    }

    pub fn train_mse(&self) -> Result<f64, String> {
        self.mse(1..self.train_points)
    }

    /// MSE after the training window (None when every observation trains).
    pub fn extrapolation_mse(&self) -> Result<Option<f64>, String> {
        if self.train_points >= self.data.times.len() {
            return Ok(None);
        }
        self.mse(self.train_points..self.data.times.len()).map(Some)
    }
}

/// A fit's weights file: enough to rebuild the field and check it is the one meant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeWeights {
    pub lab: String,
    pub system: String,
    pub model: String,
    pub width: usize,
    pub depth: usize,
    pub activation: DenseActivation,
    pub params: Vec<f64>,
}

impl NodeWeights {
    pub fn of(fit: &NodeFit) -> Self {
        NodeWeights {
            lab: "node".into(),
            system: fit.config.system.name().into(),
            model: fit.config.model.name().into(),
            width: fit.config.width,
            depth: fit.config.depth,
            activation: fit.config.activation,
            params: fit.params.clone(),
        }
    }

    /// Reads a weights file, refusing what does not fit `config` with a message that says
    /// what differs.
    pub fn parse(text: &str) -> Result<Self, String> {
        let w: NodeWeights = serde_json::from_str(text).map_err(|e| format!("not a neural ODE weights file: {e}"))?;
        if w.lab != "node" {
            return Err(format!("these weights are for the '{}' lab, not node", w.lab));
        }
        if w.params.iter().any(|p| !p.is_finite()) {
            return Err("the weights hold a value that is not finite".into());
        }
        Ok(w)
    }

    /// A fit of the weights' own system, model and size holding them, for using the learned
    /// field elsewhere (the symbolic regression lab and CLI). It holds one series of data.
    pub fn to_fit(&self) -> Result<NodeFit, String> {
        let system = SystemId::from_name(&self.system)?;
        let model = ModelKind::from_name(&self.model)?;
        let config = FitConfig {
            width: self.width,
            depth: self.depth,
            activation: self.activation,
            series: 1,
            batch: 1,
            ..FitConfig::cli_default(system, model)
        };
        let mut fit = NodeFit::new(config)?;
        self.apply(&mut fit)?;
        Ok(fit)
    }

    /// Loads the weights into a fit of the same system, model and size.
    pub fn apply(&self, fit: &mut NodeFit) -> Result<(), String> {
        let c = &fit.config;
        let mine = (c.system.name(), c.model.name(), c.width, c.depth, c.activation);
        let theirs = (self.system.as_str(), self.model.as_str(), self.width, self.depth, self.activation);
        if mine != theirs {
            return Err(format!(
                "the weights are for {} {} width {} depth {} {}, not {} {} width {} depth {} {}",
                theirs.0,
                theirs.1,
                theirs.2,
                theirs.3,
                theirs.4.name(),
                mine.0,
                mine.1,
                mine.2,
                mine.3,
                mine.4.name()
            ));
        }
        if self.params.len() != fit.params.len() {
            return Err(format!(
                "the weights hold {} parameters where the model has {}",
                self.params.len(),
                fit.params.len()
            ));
        }
        fit.params = self.params.clone();
        Ok(())
    }
}

impl NodeFit {
    /// The hybrid's learned term against the term its known physics leaves out, over every
    /// observed state of the training window: |NN - missing| / |missing| (None for a pure
    /// network).
    pub fn residual_rel_l2(&self) -> Option<f64> {
        let LearnedField::Hybrid(hybrid) = &self.field else { return None };
        let truth = System(self.config.system);
        let full = self.config.system.default_params();
        let (mut num, mut den) = (0.0, 0.0);
        for path in &self.data.series {
            for y in &path[..self.train_points] {
                let (mut f_true, mut f_known) = ([0.0; 2], [0.0; 2]);
                truth.eval(&full, 0.0, y, &mut f_true);
                truth.eval(&hybrid.known_params, 0.0, y, &mut f_known);
                let learned = hybrid.learned_term(&self.params, y);
                for d in 0..2 {
                    let missing = f_true[d] - f_known[d];
                    num += (learned[d] - missing).powi(2);
                    den += missing * missing;
                }
            }
        }
        Some((num / den).sqrt())
    }

    /// The largest change of the system's invariant along the model's paths from the first
    /// few series' starts over the data's times (None where the system has no invariant, or
    /// its data are damped).
    pub fn invariant_drift(&self) -> Result<Option<f64>, String> {
        let id = self.config.system;
        if !matches!(id, SystemId::Oscillator | SystemId::LotkaVolterra) {
            return Ok(None);
        }
        let params = id.default_params();
        let mut worst: f64 = 0.0;
        for path in self.data.series.iter().take(8) {
            let h0 = id.invariant(&params, &path[0]).expect("has an invariant");
            for y in self.predict(path[0], &self.data.times)? {
                match id.invariant(&params, &y) {
                    Some(h) if h.is_finite() => worst = worst.max((h - h0).abs()),
                    _ => return Ok(Some(f64::INFINITY)),
                }
            }
        }
        Ok(Some(worst))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::adjoint::observed::{discrete_loss, finite_differences, relative_distance};

    fn small(system: SystemId, model: ModelKind) -> FitConfig {
        FitConfig { width: 8, series: 8, batch: 4, steps: 40, ..FitConfig::page_default(system, model) }
    }

    #[test]
    fn bad_settings_are_refused_with_the_flag_named() {
        let ok = small(SystemId::Oscillator, ModelKind::Neural);
        assert!(ok.validate().is_ok());
        let cases: Vec<(FitConfig, &str)> = vec![
            (FitConfig { width: 0, ..ok.clone() }, "--width"),
            (FitConfig { batch: 9, ..ok.clone() }, "--batch"),
            (FitConfig { learning_rate: f64::NAN, ..ok.clone() }, "--lr"),
            (FitConfig { solver: "rk45".into(), ..ok.clone() }, "unknown solver"),
            (
                FitConfig { stepping: Stepping::Pid { rtol: 1e-3, atol: 1e-6 }, solver: "rk4".into(), ..ok.clone() },
                "no error estimate",
            ),
            (FitConfig { stepping: Stepping::Fixed { per_interval: 0 }, ..ok.clone() }, "--steps-per-interval"),
            (FitConfig { model: ModelKind::Hybrid, ..ok.clone() }, "no known part"),
            (FitConfig { train_until: Some(50.0), ..ok.clone() }, "--train-until"),
        ];
        for (config, needle) in cases {
            let err = config.validate().unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    /// The summed minibatch gradient equals finite differences of the minibatch loss, with
    /// fixed and PID grids.
    #[test]
    fn the_minibatch_gradient_is_the_gradient_of_the_minibatch_loss() {
        for stepping in [Stepping::Fixed { per_interval: 2 }, Stepping::Pid { rtol: 1e-4, atol: 1e-7 }] {
            let config = FitConfig {
                stepping,
                solver: "tsit5".into(),
                length_schedule: false,
                ..small(SystemId::Pendulum, ModelKind::Neural)
            };
            let fit = NodeFit::new(config).unwrap();
            let (loss, grad, forward, backward) = fit.gradient().unwrap();
            assert!(loss > 0.0 && forward > 0.0 && backward > 0.0);
            // Recompute the loss on the same grids as a function of the parameters.
            let points = fit.points_now();
            let batch = fit.batch_of(0);
            let point_loss = fit.point_loss(points, batch.len());
            let mut reference = vec![0.0; grad.len()];
            for &s in &batch {
                let path = &fit.data.series[s];
                let (grid, indices) = fit.grid(&fit.params, path[0], points).unwrap();
                let observed: Vec<(usize, Vec<f64>)> =
                    indices.iter().zip(path).skip(1).map(|(&n, y)| (n, y.to_vec())).collect();
                let problem = Problem {
                    field: &fit.field,
                    params: &fit.params,
                    y0: &path[0],
                    grid: &grid,
                    observed: &observed,
                    loss: point_loss,
                };
                let tableau = fit.config.tableau().unwrap();
                let (d, _) = finite_differences(&problem, &|p| discrete_loss(&tableau, p));
                reference.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
            let err = relative_distance(&(grad, vec![]), &(reference, vec![]));
            assert!(err < 1e-6, "{stepping:?}: {err}");
        }
    }

    /// Training lowers the loss, repeats bit for bit under a seed, and does not depend on
    /// the number of threads.
    #[test]
    fn training_fits_and_repeats() {
        let config = small(SystemId::DampedLinear, ModelKind::Neural);
        let run = |threads: usize| {
            crate::core::nn::parallel::set_max_threads(threads);
            let mut fit = NodeFit::new(config.clone()).unwrap();
            let before = fit.train_mse().unwrap();
            while !fit.done() {
                fit.step().unwrap();
            }
            crate::core::nn::parallel::set_max_threads(0);
            (before, fit.train_mse().unwrap(), fit.params)
        };
        let (before, after, params) = run(0);
        assert!(after < 0.5 * before, "mse {before} -> {after}");
        let (_, _, again) = run(1);
        assert_eq!(params, again);
        // In pieces (one series per call) the weights are the same.
        let mut pieces = NodeFit::new(config.clone()).unwrap();
        let mut calls = 0;
        while !pieces.done() {
            pieces.advance(&mut || true).unwrap();
            calls += 1;
        }
        assert_eq!(calls, config.steps * config.batch);
        assert_eq!(pieces.params, params);
    }

    #[test]
    fn every_gradient_method_trains() {
        for method in GradientMethod::ALL {
            let config = FitConfig { method, steps: 10, ..small(SystemId::Pendulum, ModelKind::Hybrid) };
            let mut fit = NodeFit::new(config).unwrap();
            for _ in 0..10 {
                let r = fit.step().unwrap();
                assert!(r.loss.is_finite() && r.nfe_forward > 0.0 && r.nfe_backward > 0.0, "{}: {r:?}", method.name());
            }
        }
    }

    #[test]
    fn weights_round_trip_and_mismatches_are_refused() {
        let mut fit = NodeFit::new(small(SystemId::Pendulum, ModelKind::Hybrid)).unwrap();
        fit.step().unwrap();
        let text = serde_json::to_string(&NodeWeights::of(&fit)).unwrap();
        let weights = NodeWeights::parse(&text).unwrap();
        let mut other = NodeFit::new(small(SystemId::Pendulum, ModelKind::Hybrid)).unwrap();
        weights.apply(&mut other).unwrap();
        assert_eq!(other.params, fit.params);
        let mut wider = NodeFit::new(FitConfig { width: 9, ..small(SystemId::Pendulum, ModelKind::Hybrid) }).unwrap();
        assert!(weights.apply(&mut wider).unwrap_err().contains("width 8"));
        assert!(NodeWeights::parse("{}").unwrap_err().contains("not a neural ODE weights file"));
        assert!(NodeWeights::parse(&text.replace("\"node\"", "\"deq\"")).unwrap_err().contains("deq"));
        // The residual compares the learned term with gamma v, the friction left out.
        assert!(fit.residual_rel_l2().unwrap() > 0.0);
        assert!(NodeFit::new(small(SystemId::Oscillator, ModelKind::Neural)).unwrap().residual_rel_l2().is_none());
    }

    /// LABS.md: on Lotka-Volterra trained on t <= 3, the hybrid (known growth and decay plus a
    /// network) predicts t in (3, 5] better than the pure network, and its network learns the
    /// missing interaction terms. A reduced setting so the test runs in seconds (32 series,
    /// 600 steps, RK4 with two steps per interval, width 16; the pinned seed 0); the full CLI
    /// runs are in docs/RESULTS.md. Measured here: extrapolation MSE 0.66 (hybrid) against 1.19
    /// (neural), residual 0.16.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_hybrid_extrapolates_lotka_volterra_better_than_the_pure_network() {
        let run = |model: ModelKind| {
            let config = FitConfig {
                width: 16,
                series: 32,
                batch: 16,
                steps: 600,
                solver: "rk4".into(),
                stepping: Stepping::Fixed { per_interval: 2 },
                ..FitConfig::cli_default(SystemId::LotkaVolterra, model)
            };
            let mut fit = NodeFit::new(config).unwrap();
            while !fit.done() {
                fit.step().unwrap();
            }
            (fit.extrapolation_mse().unwrap().unwrap(), fit.residual_rel_l2())
        };
        let (hybrid, residual) = run(ModelKind::Hybrid);
        let (neural, _) = run(ModelKind::Neural);
        assert!(hybrid < neural, "extrapolation MSE: hybrid {hybrid}, neural {neural}");
        let residual = residual.unwrap();
        assert!(residual < 0.3, "the learned term is {residual} (relative L2) from the missing one");
    }
}
