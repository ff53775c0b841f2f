//! The latent SDE's prior as a plan model, and the plan that draws its paths: how the plan
//! executors (the CPU's, and the WGSL interpreter on a GPU) integrate a neural SDE.
//!
//! The prior dz = h(z) dt + diag(g(z)) o dW lives on the plane (latent dimension 2), so a
//! particle's registers hold it. The model's output is the drift h (read raw, as a learned
//! vector field's is) and `Op::EvalDiffusion` gives g; the noise enters through
//! `Op::AddIncrement` from input rows the caller computed: z0 in row 0, then each step's
//! Brownian increment from the virtual Brownian tree. Both executors are thereby driven by the
//! very path that [`super::latent::LatentSde::sample_latent`] solves in f64, which is the
//! reference they are tested against; decoding x = L z + b is the host's.

use super::fit::LatentFit;
use super::latent::{Grid, LatentSde};
use super::solve::SdeMethod;
use crate::core::nn::dense::{Dense, DenseBatch};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::parallel::for_each_mut;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{Model, ModelData};
use crate::core::sample::plan::{Plan, PlanBuilder, X};
use crate::exec::cpu::{RunOptions, RunResult};

/// Rows per job of a batched evaluation.
const THREAD_ROWS: usize = 1024;

/// Most paths one run draws (each carries its start and every step's increment as inputs, and
/// every path is traced: 10^5 paths of 50 steps are 40 MB of each).
pub const MAX_PATHS: usize = 100_000;
/// Most input rows one run holds (8 bytes each: 200 MB).
pub const MAX_INPUT_ROWS: usize = 25_000_000;

/// A neural SDE with diagonal noise on the plane, in f32 as both executors run it:
/// h = drift(z) (2 -> width (depth) -> 2, linear last) and g_i = diffusion_i(z_i)
/// (1 -> width -> 1, sigmoid last, one parameter set per coordinate).
#[derive(Debug, Clone, PartialEq)]
pub struct DiagonalSdeModel {
    pub drift: Dense,
    pub drift_params: Vec<f32>,
    pub diffusion: Dense,
    pub diffusion_params: [Vec<f32>; 2],
    drift_batch: DenseBatch,
    diffusion_batches: [DenseBatch; 2],
}

fn rounded(params: &[f64]) -> Vec<f32> {
    params.iter().map(|&p| p as f32).collect()
}

fn widened(params: &[f32]) -> Vec<f64> {
    params.iter().map(|&p| f64::from(p)).collect()
}

impl DiagonalSdeModel {
    /// The prior of a latent SDE, its weights rounded to f32.
    pub fn of_latent(model: &LatentSde) -> Result<Self, String> {
        if model.config.latent != 2 {
            return Err(format!(
                "the plan executors run latent SDEs on the plane (latent 2); this one has latent {}",
                model.config.latent
            ));
        }
        let (drift, drift_params, diffusion, per_coordinate) = model.prior_nets();
        Self::new(drift.clone(), rounded(drift_params), diffusion.clone(), [0, 1].map(|i| rounded(per_coordinate[i])))
    }

    pub fn new(
        drift: Dense,
        drift_params: Vec<f32>,
        diffusion: Dense,
        diffusion_params: [Vec<f32>; 2],
    ) -> Result<Self, String> {
        if drift.input_dim() != 2 || drift.output_dim() != 2 || drift.last != DenseActivation::Identity {
            return Err(format!(
                "the drift must be 2 -> 2 and end linear; it is {:?} ending {:?}",
                drift.dims, drift.last
            ));
        }
        if diffusion.input_dim() != 1 || diffusion.output_dim() != 1 || diffusion.last != DenseActivation::Sigmoid {
            return Err(format!(
                "each diffusion net must be 1 -> 1 and end in a sigmoid; it is {:?} ending {:?}",
                diffusion.dims, diffusion.last
            ));
        }
        if drift_params.len() != drift.param_count()
            || diffusion_params.iter().any(|p| p.len() != diffusion.param_count())
        {
            return Err("the SDE's parameters do not fit its networks".into());
        }
        let drift_batch = DenseBatch::new(&drift, &widened(&drift_params));
        let diffusion_batches = [0, 1].map(|i| DenseBatch::new(&diffusion, &widened(&diffusion_params[i])));
        Ok(DiagonalSdeModel { drift, drift_params, diffusion, diffusion_params, drift_batch, diffusion_batches })
    }

    /// h(z).
    pub fn drift_at(&self, z: [f32; 2]) -> [f32; 2] {
        let h = self.drift.forward(&self.drift_params, &z);
        [h[0], h[1]]
    }

    /// (g_0(z_0), g_1(z_1)).
    pub fn diffusion_at(&self, z: [f32; 2]) -> [f32; 2] {
        [0, 1].map(|i| self.diffusion.forward(&self.diffusion_params[i], &[z[i]])[0])
    }
}

impl Model for DiagonalSdeModel {
    /// The output is the drift itself: plans read it raw (`PlanBuilder::eval_raw`), as they
    /// read a learned vector field's velocity.
    fn param(&self) -> Parameterisation {
        Parameterisation::Flow
    }

    fn eval(&mut self, x: [f32; 2], _t: f64) -> [f32; 2] {
        self.drift_at(x)
    }

    fn eval_batch(&mut self, xs: &[[f32; 2]], _t: f64, out: &mut [[f32; 2]]) {
        let batch = &self.drift_batch;
        let mut blocks: Vec<(&[[f32; 2]], &mut [[f32; 2]])> =
            xs.chunks(THREAD_ROWS).zip(out.chunks_mut(THREAD_ROWS)).collect();
        for_each_mut(&mut blocks, 1, |_, (xs, out)| {
            let rows: Vec<f32> = xs.iter().flatten().copied().collect();
            let mut outputs = Vec::new();
            batch.forward(&rows, &mut outputs);
            for (o, h) in out.iter_mut().zip(outputs.chunks_exact(2)) {
                *o = [h[0], h[1]];
            }
        });
    }

    fn eval_with_jacobian(&mut self, x: [f32; 2], _t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        let j = self.drift.jacobian(&self.drift_params, &x);
        (self.drift_at(x), [[j[0], j[1]], [j[2], j[3]]])
    }

    fn diffusion_batch(&mut self, xs: &[[f32; 2]], out: &mut [[f32; 2]]) -> Result<(), String> {
        let batches = &self.diffusion_batches;
        let mut blocks: Vec<(&[[f32; 2]], &mut [[f32; 2]])> =
            xs.chunks(THREAD_ROWS).zip(out.chunks_mut(THREAD_ROWS)).collect();
        for_each_mut(&mut blocks, 1, |_, (xs, out)| {
            for (i, batch) in batches.iter().enumerate() {
                let column: Vec<f32> = xs.iter().map(|x| x[i]).collect();
                let mut g = Vec::new();
                batch.forward(&column, &mut g);
                for (o, gi) in out.iter_mut().zip(g) {
                    o[i] = gi;
                }
            }
        });
        Ok(())
    }

    fn data(&self) -> ModelData {
        ModelData::DiagonalSde(self.clone())
    }
}

/// A plan that solves the SDE on `grid` from the loaded z0 with `method`, one snapshot at
/// each observation time: input row 0 is z0, row n + 1 step n's increment. Euler-Maruyama
/// (Ito) and reversible Heun (Stratonovich), step for step as [`super::solve::solve`] takes
/// them, each step two evaluations (drift and diffusion).
pub fn sde_path_plan(method: SdeMethod, grid: &Grid) -> Result<Plan, String> {
    if grid.times.len() < 2 {
        return Err("a path plan needs at least one step".into());
    }
    if grid.times.len() > crate::core::dynamics::flow_plan::MAX_FRAMES * 64 {
        return Err(format!("{} steps are too many for a plan: take a larger dt", grid.steps()));
    }
    let mut b = PlanBuilder::new(&format!("sde-{}", method.name()), Process::RectifiedFlow, Parameterisation::Flow);
    let observed = |n: usize| grid.obs_steps.contains(&n);
    b.load_input(X);
    if observed(0) {
        b.snapshot();
    }
    let (f, g) = (b.register(), b.register());
    match method {
        SdeMethod::EulerMaruyama => {
            for n in 0..grid.steps() {
                let h = grid.times[n + 1] - grid.times[n];
                b.eval_raw(X, f);
                b.eval_diffusion(X, g);
                b.axpy(X, &[(X, 1.0), (f, h)], 0.0);
                b.add_increment(X, g, 1.0, n + 1);
                if observed(n + 1) {
                    b.snapshot();
                }
            }
        }
        SdeMethod::ReversibleHeun => {
            // The auxiliary state z and the field there (f, g); the next z and its field.
            let (z, z_next, f_next, g_next) = (b.register(), b.register(), b.register(), b.register());
            b.axpy(z, &[(X, 1.0)], 0.0);
            b.eval_raw(z, f);
            b.eval_diffusion(z, g);
            for n in 0..grid.steps() {
                let h = grid.times[n + 1] - grid.times[n];
                // z' = 2y - z + f(z) h + g(z) dW
                b.axpy(z_next, &[(X, 2.0), (z, -1.0), (f, h)], 0.0);
                b.add_increment(z_next, g, 1.0, n + 1);
                b.eval_raw(z_next, f_next);
                b.eval_diffusion(z_next, g_next);
                // y' = y + (f(z) + f(z')) h / 2 + (g(z) + g(z')) dW / 2
                b.axpy(X, &[(X, 1.0), (f, 0.5 * h), (f_next, 0.5 * h)], 0.0);
                b.add_increment(X, g, 0.5, n + 1);
                b.add_increment(X, g_next, 0.5, n + 1);
                for (to, from) in [(z, z_next), (f, f_next), (g, g_next)] {
                    b.axpy(to, &[(from, 1.0)], 0.0);
                }
                if observed(n + 1) {
                    b.snapshot();
                }
            }
        }
    }
    Ok(b.finish())
}

/// A latent SDE's paths as a plan run, without its inputs: the plan, the model and the
/// observation times the frames are at.
#[derive(Debug, Clone)]
pub struct PathSetup {
    pub times: Vec<f64>,
    pub plan: Plan,
    pub model: DiagonalSdeModel,
}

impl PathSetup {
    pub fn new(model: &LatentSde, method: SdeMethod, grid: &Grid) -> Result<Self, String> {
        let plan = sde_path_plan(method, grid)?;
        let model = DiagonalSdeModel::of_latent(model)?;
        let times = grid.obs_steps.iter().map(|&n| grid.times[n]).collect();
        Ok(PathSetup { times, plan, model })
    }

    /// A latent fit's evaluation paths (its method, grid and model).
    pub fn of_fit(fit: &LatentFit) -> Result<Self, String> {
        Self::new(&fit.model, fit.config.method, fit.grid())
    }

    /// Input rows per path: z0, then one increment per step.
    pub fn rows(&self) -> usize {
        self.plan.input_rows()
    }

    /// The input rows of paths `paths` (start .. end), path p driven by `draws(p)` (its z0
    /// and increments), path after path.
    pub fn inputs(
        &self,
        paths: std::ops::Range<usize>,
        draws: &(dyn Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>) + Sync),
    ) -> Vec<[f32; 2]> {
        let rows = self.rows();
        let mut inputs = vec![[0.0f32; 2]; paths.len() * rows];
        let mut per_path: Vec<&mut [[f32; 2]]> = inputs.chunks_mut(rows).collect();
        let first = paths.start;
        for_each_mut(&mut per_path, 64, |k, out| {
            let (z0, increments) = draws(first + k);
            out[0] = [z0[0] as f32, z0[1] as f32];
            for (o, dw) in out[1..].iter_mut().zip(&increments) {
                *o = [dw[0] as f32, dw[1] as f32];
            }
        });
        inputs
    }

    /// Options that run `count` paths with these inputs, every path traced.
    pub fn options(&self, count: usize, inputs: Vec<[f32; 2]>) -> RunOptions {
        RunOptions { particles: count, seed: 0, traced: (0..count).collect(), inputs }
    }
}

/// Everything a run of a latent SDE's paths needs: the setup and the options (every path
/// traced, its input rows z0 and increments).
#[derive(Debug, Clone)]
pub struct PathRun {
    pub times: Vec<f64>,
    pub plan: Plan,
    pub model: DiagonalSdeModel,
    pub options: RunOptions,
}

/// Paths 0 .. count of a latent SDE's prior on `grid` as a plan run, path p driven by
/// `draws(p)` (its z0 and increments, as [`LatentSde::prior_draws`] gives them), every path
/// traced, with a frame at each observation time.
pub fn path_run(
    model: &LatentSde,
    method: SdeMethod,
    grid: &Grid,
    count: usize,
    draws: &(dyn Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>) + Sync),
) -> Result<PathRun, String> {
    if !(1..=MAX_PATHS).contains(&count) {
        return Err(format!("paths must be 1 to {MAX_PATHS}, got {count}"));
    }
    let setup = PathSetup::new(model, method, grid)?;
    let rows = setup.rows();
    if count * rows > MAX_INPUT_ROWS {
        return Err(format!(
            "{count} paths of {} steps need {} input rows, over the {MAX_INPUT_ROWS} a run holds: take fewer paths or a larger dt",
            grid.steps(),
            count * rows
        ));
    }
    let options = setup.options(count, setup.inputs(0..count, draws));
    Ok(PathRun { times: setup.times, plan: setup.plan, model: setup.model, options })
}

/// Model paths 0 .. count of a latent fit's evaluation, as a plan run: the same draws as
/// [`LatentFit::model_latent_path`], so each executor's path p is the f64 solver's path p
/// up to f32 rounding.
pub fn fit_path_run(fit: &LatentFit, count: usize) -> Result<PathRun, String> {
    path_run(&fit.model, fit.config.method, fit.grid(), count, &|p| fit.model_path_draws(fit.grid(), p))
}

/// The decoded paths of a run: paths[p][k] = L z_p(t_k) + b.
pub fn decoded_paths(model: &LatentSde, run: &RunResult) -> Vec<Vec<f64>> {
    let count = run.frames.first().map_or(0, |f| f.len());
    (0..count)
        .map(|p| run.frames.iter().map(|f| model.decode(&[f64::from(f[p][0]), f64::from(f[p][1])])).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::dynamics::field_model::FieldModel;
    use crate::core::dynamics::fit::LearnedField;
    use crate::core::dynamics::neural::NeuralField;
    use crate::core::nsde::fit::NsdeFitConfig;
    use crate::exec::cpu::run_plan;

    fn fit(method: SdeMethod) -> LatentFit {
        let config = NsdeFitConfig { method, train_paths: 64, batch: 8, ..NsdeFitConfig::cli_default() };
        let mut fit = LatentFit::new(config).unwrap();
        // A few steps, so the weights are not the initial ones.
        for _ in 0..3 {
            fit.step().unwrap();
        }
        fit
    }

    /// The f32 model evaluates the latent SDE's prior networks.
    #[test]
    fn the_model_is_the_prior() {
        let fit = fit(SdeMethod::EulerMaruyama);
        let mut model = DiagonalSdeModel::of_latent(&fit.model).unwrap();
        let points = [[0.3f32, -0.7], [1.5, 0.2], [-2.0, 2.5]];
        let mut drift = [[0.0; 2]; 3];
        let mut diffusion = [[0.0; 2]; 3];
        model.eval_batch(&points, 0.0, &mut drift);
        model.diffusion_batch(&points, &mut diffusion).unwrap();
        let (net, params, _, _) = fit.model.prior_nets();
        for (k, z) in points.iter().enumerate() {
            let z64 = [f64::from(z[0]), f64::from(z[1])];
            let h = net.forward(params, &z64);
            let g = fit.model.diffusion_at(&z64);
            for d in 0..2 {
                assert!((f64::from(drift[k][d]) - h[d]).abs() < 1e-5 * (1.0 + h[d].abs()), "drift {k}");
                assert!((f64::from(diffusion[k][d]) - g[d]).abs() < 1e-6, "diffusion {k}");
                assert!((drift[k][d] - model.drift_at(*z)[d]).abs() < 1e-5, "batched drift {k}");
            }
        }
    }

    /// Both methods: the CPU executor's paths are the f64 solver's paths (the same z0 and
    /// increments), frame by frame, to f32 rounding, with two evaluations per step.
    #[test]
    fn the_plan_follows_the_solver_path_for_path() {
        for method in SdeMethod::ALL {
            let fit = fit(method);
            let run = fit_path_run(&fit, 24).unwrap();
            let mut model = run.model.clone();
            let result = run_plan(&run.plan, &mut model, &run.options).unwrap();
            let grid = fit.grid();
            let heun_start = usize::from(method == SdeMethod::ReversibleHeun) * 2;
            assert_eq!(result.nfe, (2 * grid.steps() + heun_start) as f64, "{method:?}");
            assert_eq!(result.frames.len(), fit.train.times.len());
            let mut largest = 0.0f64;
            for p in 0..24 {
                let want = fit.model_latent_path(p).unwrap();
                for (k, w) in want.iter().enumerate() {
                    let got = result.frames[k][p];
                    for d in 0..2 {
                        let err = (f64::from(got[d]) - w[d]).abs();
                        largest = largest.max(err);
                        assert!(err < 1e-4 * (1.0 + w[d].abs()), "{method:?} path {p} time {k}: {got:?} vs {w:?}");
                    }
                }
            }
            // The paths moved off their starts (a plan that ignored the SDE passes frame 0).
            let spread =
                result.frames.last().unwrap().iter().zip(&result.frames[0]).any(|(a, b)| (a[0] - b[0]).abs() > 0.05);
            assert!(spread, "{method:?}: the paths did not move");
            let decoded = decoded_paths(&fit.model, &result);
            let reference = fit.model_path(5).unwrap();
            for (a, b) in decoded[5].iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "decoded {a} vs {b}");
            }
            println!("{method:?}: largest |plan - f64| {largest:.1e}");
        }
    }

    /// A diffusion model has no diffusion to evaluate, and a run without the increments is
    /// refused with the count it needs.
    #[test]
    fn missing_parts_are_refused() {
        let fit = fit(SdeMethod::EulerMaruyama);
        let mut run = fit_path_run(&fit, 3).unwrap();
        run.options.inputs.pop();
        let err = run_plan(&run.plan, &mut run.model.clone(), &run.options).unwrap_err();
        assert!(err.to_string().contains("input rows"), "{err}");
        assert!(fit_path_run(&fit, 0).is_err());
        let bad = Dense::mlp(1, 4, 1, 1, DenseActivation::Softplus, DenseActivation::Identity).unwrap();
        let (drift, params, _, per) = fit.model.prior_nets();
        let err = DiagonalSdeModel::new(
            drift.clone(),
            rounded(params),
            bad.clone(),
            [0, 1].map(|i| rounded(&per[i][..bad.param_count()])),
        )
        .unwrap_err();
        assert!(err.contains("sigmoid"), "{err}");
        let field = LearnedField::Neural(NeuralField::new(2, 8, 1, DenseActivation::Softplus).unwrap());
        let mut not_an_sde = FieldModel::of(&field, &field.init(1)).unwrap();
        let err = run_plan(&run.plan, &mut not_an_sde, &fit_path_run(&fit, 3).unwrap().options).unwrap_err();
        assert!(err.to_string().contains("no diffusion"), "{err}");
    }
}
