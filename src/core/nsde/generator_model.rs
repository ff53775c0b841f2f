//! The SDE-GAN's generator as a plan model, and the plan that draws its paths: how the plan
//! executors (the CPU's, and the WGSL interpreter on a GPU) integrate a neural SDE whose state
//! is not a point on the plane.
//!
//! The generator's state X lives in R^16 and its noise in R^3 (LABS.md, Lab B), while a
//! register holds two values. So its path plan is made of two ops of its own
//! (`Op::GeneratorStart`, `Op::GeneratorStep`) that read and write a run of registers: the
//! reversible-Heun pair (y, z), two values per register, beside a register for the readout
//! (Y, 0) that the snapshots record. The field at the old z is evaluated again in each step
//! instead of kept (it would need 64 more values per particle), which the step's formula
//! allows without changing a bit of the result: y += inc(t, z)/2, z = 2y - z,
//! y += inc(t + h, z)/2 is reversible Heun with the pair's algebra rearranged.
//!
//! The noise comes from input rows the caller computed, as for the latent SDE: V in the first
//! rows, then each step's Brownian increment, exactly the draws of
//! [`GanFit::model_path`], which is the f64 reference both executors are tested against.

use super::gan::GanFit;
use crate::core::nn::dense::Dense;
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::parallel::for_each_mut;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{Model, ModelData};
use crate::core::sample::plan::{registers_for, Op, Plan, PlanBuilder, Reg, MAX_REGISTERS, X};
use crate::exec::cpu::{RunOptions, RunResult};

/// What to tell a user whose plan asks a model that is not a generator to run a generator's op.
pub const NO_GENERATOR: &str =
    "this model is not an SDE-GAN generator: the generator's path plans run the neural SDE lab's SDE-GAN";

/// Most paths one run draws (as for the latent SDE's paths: every path is traced).
pub const MAX_PATHS: usize = super::sde_model::MAX_PATHS;

/// The register the generator's state starts at (register 0 holds the readout).
const STATE: Reg = 1;

/// The SDE-GAN generator in f32, as both executors run it: X0 = initial(V);
/// f = drift(t, X) and g = diffusion(t, X) (dim x noise, row-major), both ending in tanh;
/// Y = readout(X), linear.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorModel {
    pub initial: Dense,
    pub initial_params: Vec<f32>,
    pub drift: Dense,
    pub drift_params: Vec<f32>,
    pub diffusion: Dense,
    pub diffusion_params: Vec<f32>,
    pub readout: Dense,
    pub readout_params: Vec<f32>,
}

fn rounded(params: &[f64]) -> Vec<f32> {
    params.iter().map(|&p| p as f32).collect()
}

impl GeneratorModel {
    /// A fit's evaluated generator (its averaged weights once it has them), rounded to f32.
    pub fn of_fit(gan: &GanFit) -> Result<Self, String> {
        let generator = &gan.generator;
        let params = gan.evaluated_params();
        let [a, b, _] = generator.counts();
        let split = a + generator.field.drift.param_count();
        Self::new(
            (generator.initial.clone(), rounded(&params[..a])),
            (generator.field.drift.clone(), rounded(&params[a..split])),
            (generator.field.diffusion.clone(), rounded(&params[split..a + b])),
            (generator.readout.clone(), rounded(&params[a + b..])),
        )
    }

    /// Checks that the four networks fit together and that their registers fit a plan.
    pub fn new(
        initial: (Dense, Vec<f32>),
        drift: (Dense, Vec<f32>),
        diffusion: (Dense, Vec<f32>),
        readout: (Dense, Vec<f32>),
    ) -> Result<Self, String> {
        for (name, (net, params)) in
            [("initial", &initial), ("drift", &drift), ("diffusion", &diffusion), ("readout", &readout)]
        {
            if params.len() != net.param_count() {
                return Err(format!("the {name} net has {} parameters, not {}", net.param_count(), params.len()));
            }
        }
        let dim = drift.0.output_dim();
        let fields_in = drift.0.input_dim() == 1 + dim && diffusion.0.input_dim() == 1 + dim;
        if initial.0.output_dim() != dim
            || !fields_in
            || !diffusion.0.output_dim().is_multiple_of(dim)
            || readout.0.dims != [dim, 1]
        {
            return Err(format!(
                "the generator's nets do not fit one state: initial {:?}, drift {:?}, diffusion {:?}, readout {:?}",
                initial.0.dims, drift.0.dims, diffusion.0.dims, readout.0.dims
            ));
        }
        if drift.0.last != DenseActivation::Tanh || diffusion.0.last != DenseActivation::Tanh {
            return Err("the generator's fields must end in tanh (the shader applies it after the last layer)".into());
        }
        if initial.0.last != DenseActivation::Identity || readout.0.last != DenseActivation::Identity {
            return Err("the generator's initial net and readout must end linear".into());
        }
        if 1 + 2 * registers_for(dim as u32) > MAX_REGISTERS {
            return Err(format!(
                "a state of {dim} values needs {} registers; plans have {MAX_REGISTERS}",
                1 + 2 * registers_for(dim as u32)
            ));
        }
        let (initial, initial_params) = initial;
        let (drift, drift_params) = drift;
        let (diffusion, diffusion_params) = diffusion;
        let (readout, readout_params) = readout;
        Ok(GeneratorModel {
            initial,
            initial_params,
            drift,
            drift_params,
            diffusion,
            diffusion_params,
            readout,
            readout_params,
        })
    }

    pub fn dim(&self) -> usize {
        self.drift.output_dim()
    }

    pub fn noise(&self) -> usize {
        self.diffusion.output_dim() / self.dim()
    }

    pub fn initial_noise(&self) -> usize {
        self.initial.input_dim()
    }

    /// Refuses an op whose sizes are not this generator's (a plan built for another one).
    pub fn check(&self, op: &Op) -> Result<(), String> {
        let (dim, noise, want) = match op {
            Op::GeneratorStart { dim, noise, .. } => (*dim, *noise, self.initial_noise()),
            Op::GeneratorStep { dim, noise, .. } => (*dim, *noise, self.noise()),
            _ => return Ok(()),
        };
        if dim as usize != self.dim() || noise as usize != want {
            return Err(format!(
                "the plan's generator has a state of {dim} and {noise} noise values; this one has {} and {want}",
                self.dim()
            ));
        }
        Ok(())
    }

    /// X0 = initial(V).
    pub fn start(&self, v: &[f32]) -> Vec<f32> {
        self.initial.forward(&self.initial_params, v)
    }

    /// y += (f(t, z) h + g(t, z) dW) / 2, the drift's part first, then the noise's.
    fn add_half_increment(&self, t: f32, h: f32, dw: &[f32], z: &[f32], y: &mut [f32]) {
        let mut x = Vec::with_capacity(1 + z.len());
        x.push(t);
        x.extend_from_slice(z);
        let f = self.drift.forward(&self.drift_params, &x);
        for (yi, fi) in y.iter_mut().zip(&f) {
            *yi += 0.5 * (h * fi);
        }
        let g = self.diffusion.forward(&self.diffusion_params, &x);
        for (yi, row) in y.iter_mut().zip(g.chunks_exact(dw.len())) {
            let noise: f32 = row.iter().zip(dw).map(|(gik, dwk)| gik * dwk).sum();
            *yi += 0.5 * noise;
        }
    }

    /// One reversible-Heun step from t to t + h, as `Op::GeneratorStep` describes it.
    pub fn step(&self, t: f32, h: f32, dw: &[f32], y: &mut [f32], z: &mut [f32]) {
        self.add_half_increment(t, h, dw, z, y);
        for (zi, yi) in z.iter_mut().zip(y.iter()) {
            *zi = 2.0 * yi - *zi;
        }
        self.add_half_increment(t + h, h, dw, z, y);
    }

    /// Y = readout(y).
    pub fn read(&self, y: &[f32]) -> f32 {
        self.readout.forward(&self.readout_params, y)[0]
    }

    /// Runs a generator op on one particle's registers and input rows (the CPU executor's
    /// way; shaders/plan_model.wgsl does the same in the same order). Other ops are left alone,
    /// and `check` has refused ops of other sizes.
    pub fn run_op(&self, op: &Op, registers: &mut [[f32; 2]], rows: &[[f32; 2]]) {
        match *op {
            Op::GeneratorStart { state, dim, into, noise, row } => {
                let x0 = self.start(&unpack(rows, row as usize, noise as usize));
                pack_f32(&x0, &mut registers[state as usize..]);
                pack_f32(&x0, &mut registers[state as usize + registers_for(dim)..]);
                registers[into as usize] = [self.read(&x0), 0.0];
            }
            Op::GeneratorStep { state, dim, into, t, h, noise, row } => {
                let dw = unpack(rows, row as usize, noise as usize);
                let (y_at, z_at) = (state as usize, state as usize + registers_for(dim));
                let mut y = unpack(registers, y_at, dim as usize);
                let mut z = unpack(registers, z_at, dim as usize);
                self.step(t, h, &dw, &mut y, &mut z);
                pack_f32(&y, &mut registers[y_at..]);
                pack_f32(&z, &mut registers[z_at..]);
                registers[into as usize] = [self.read(&y), 0.0];
            }
            _ => {}
        }
    }
}

/// `count` values stored two per register from register `first`.
fn unpack(registers: &[[f32; 2]], first: usize, count: usize) -> Vec<f32> {
    (0..count).map(|k| registers[first + k / 2][k % 2]).collect()
}

/// Stores values two per register from the first of `registers`.
fn pack_f32(values: &[f32], registers: &mut [[f32; 2]]) {
    for (k, v) in values.iter().enumerate() {
        registers[k / 2][k % 2] = *v;
    }
}

impl Model for GeneratorModel {
    /// Its plans read no model output through `Eval` (the executors refuse other ops for a
    /// generator); Flow is the raw reading the other neural SDE models declare.
    fn param(&self) -> Parameterisation {
        Parameterisation::Flow
    }

    /// The readout of the state (x0, x1, 0, ...): never read by the generator's plans.
    fn eval(&mut self, x: [f32; 2], _t: f64) -> [f32; 2] {
        let mut y = vec![0.0; self.dim()];
        y.iter_mut().zip(x).for_each(|(a, b)| *a = b);
        [self.read(&y), 0.0]
    }

    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        let out = self.eval(x, t);
        let w = &self.readout_params;
        (out, [[w[0], w.get(1).copied().unwrap_or(0.0)], [0.0, 0.0]])
    }

    fn generator(&self) -> Option<&GeneratorModel> {
        Some(self)
    }

    fn data(&self) -> ModelData {
        ModelData::Generator(self.clone())
    }
}

/// Which ops a generator's plan may hold: its own two and snapshots.
pub fn generator_op(op: &Op) -> bool {
    matches!(op, Op::GeneratorStart { .. } | Op::GeneratorStep { .. } | Op::Snapshot { .. })
}

/// The plan that solves the generator on `times` by reversible Heun, one snapshot of the
/// readout at every time: V in the first `registers_for(initial_noise)` input rows, then each
/// step's increment in `registers_for(noise)` rows.
pub fn generator_path_plan(model: &GeneratorModel, times: &[f64]) -> Result<Plan, String> {
    if times.len() < 2 {
        return Err("a path plan needs at least one step".into());
    }
    if times.len() > crate::core::dynamics::flow_plan::MAX_FRAMES * 64 {
        return Err(format!("{} steps are too many for a plan", times.len() - 1));
    }
    if times.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater)) {
        return Err("the path's times must increase".into());
    }
    let (dim, noise, initial) = (model.dim() as u32, model.noise() as u32, model.initial_noise() as u32);
    let mut b = PlanBuilder::new("sde-gan-reversible-heun", Process::RectifiedFlow, Parameterisation::Flow);
    for _ in 0..2 * registers_for(dim) {
        b.register();
    }
    b.emit(Op::GeneratorStart { state: STATE, dim, into: X, noise: initial, row: 0 });
    b.snapshot();
    let mut row = registers_for(initial) as u32;
    for w in times.windows(2) {
        let (t, h) = (w[0] as f32, (w[1] - w[0]) as f32);
        b.emit(Op::GeneratorStep { state: STATE, dim, into: X, t, h, noise, row });
        b.snapshot();
        row += registers_for(noise) as u32;
    }
    Ok(b.finish())
}

/// Values two per row, the last row padded with 0.
fn pack(values: &[f64], out: &mut [[f32; 2]]) {
    for (k, v) in values.iter().enumerate() {
        out[k / 2][k % 2] = *v as f32;
    }
}

/// Everything a run of the generator's paths needs: the plan, the model, the times of its
/// frames and the options (every path traced, its input rows V and increments).
#[derive(Debug, Clone)]
pub struct GeneratorPathRun {
    pub times: Vec<f64>,
    pub plan: Plan,
    pub model: GeneratorModel,
    pub options: RunOptions,
}

impl GeneratorPathRun {
    /// Paths `paths` of `model` on `times`, path p driven by `draws(p)` (its V and increments).
    pub fn new(
        model: GeneratorModel,
        times: &[f64],
        paths: std::ops::Range<usize>,
        draws: &(dyn Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>) + Sync),
    ) -> Result<Self, String> {
        if paths.is_empty() || paths.len() > MAX_PATHS {
            return Err(format!("paths must be 1 to {MAX_PATHS}, got {}", paths.len()));
        }
        let plan = generator_path_plan(&model, times)?;
        let rows = plan.input_rows();
        if paths.len() * rows > super::sde_model::MAX_INPUT_ROWS {
            return Err(format!("{} paths need {} input rows: take fewer paths", paths.len(), paths.len() * rows));
        }
        let (v_rows, dw_rows) = (registers_for(model.initial_noise() as u32), registers_for(model.noise() as u32));
        let mut inputs = vec![[0.0f32; 2]; paths.len() * rows];
        let mut per_path: Vec<(&mut [[f32; 2]], bool)> = inputs.chunks_mut(rows).map(|rows| (rows, false)).collect();
        let first = paths.start;
        let (want_v, want_dw) = (model.initial_noise(), model.noise());
        for_each_mut(&mut per_path, 64, |k, (out, fits)| {
            let (v, increments) = draws(first + k);
            *fits = v.len() == want_v
                && increments.len() + 1 == times.len()
                && increments.iter().all(|d| d.len() == want_dw);
            if *fits {
                pack(&v, &mut out[..v_rows]);
                for (n, dw) in increments.iter().enumerate() {
                    pack(dw, &mut out[v_rows + n * dw_rows..v_rows + (n + 1) * dw_rows]);
                }
            }
        });
        if per_path.iter().any(|(_, fits)| !fits) {
            return Err(format!(
                "each path needs {want_v} initial values and {} increments of {want_dw}",
                times.len() - 1
            ));
        }
        let options = RunOptions { particles: paths.len(), seed: 0, traced: (0..paths.len()).collect(), inputs };
        Ok(GeneratorPathRun { times: times.to_vec(), plan, model, options })
    }

    /// Evaluation paths `paths` of a GAN fit: the draws of [`GanFit::model_path`].
    pub fn of_fit(gan: &GanFit, paths: std::ops::Range<usize>) -> Result<Self, String> {
        Self::new(GeneratorModel::of_fit(gan)?, gan.times(), paths, &|p| gan.model_path_draws(p))
    }
}

/// The paths of a run in data units: paths[p][k] = Y_p(t_k) * std + mean.
pub fn generator_paths(run: &RunResult, scale: (f64, f64)) -> Vec<Vec<f64>> {
    let count = run.frames.first().map_or(0, |f| f.len());
    (0..count).map(|p| run.frames.iter().map(|f| f64::from(f[p][0]) * scale.1 + scale.0).collect()).collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nsde::gan::GanConfig;
    use crate::exec::cpu::run_plan;

    fn gan() -> GanFit {
        let config = GanConfig { train_paths: 64, batch: 4, steps: 4, ..GanConfig::cli_default() };
        let mut gan = GanFit::new(config).unwrap();
        // Past the middle, so the evaluated weights are an average of trained ones.
        for _ in 0..3 {
            gan.step().unwrap();
        }
        assert!(gan.g_average.is_some());
        gan
    }

    /// The CPU executor's paths are the f64 solver's paths (the same V and increments), time by
    /// time, to f32 rounding, with one evaluation to start and two per step.
    #[test]
    fn the_plan_follows_the_solver_path_for_path() {
        let gan = gan();
        let run = GeneratorPathRun::of_fit(&gan, 0..20).unwrap();
        let mut model = run.model.clone();
        let result = run_plan(&run.plan, &mut model, &run.options).unwrap();
        let steps = gan.times().len() - 1;
        assert_eq!(result.nfe, (1 + 2 * steps) as f64);
        assert_eq!(result.frames.len(), gan.times().len());
        let paths = generator_paths(&result, gan.scale);
        let mut largest = 0.0f64;
        for (p, path) in paths.iter().enumerate() {
            let want = gan.model_path(p).unwrap();
            for (k, (a, b)) in path.iter().zip(&want).enumerate() {
                let err = (a - b).abs();
                largest = largest.max(err);
                assert!(err < 1e-4 * (1.0 + b.abs()), "path {p} time {k}: {a} vs {b}");
            }
        }
        // The paths moved, and differ from each other (a plan that ignored the noise would not).
        let ends: Vec<f64> = paths.iter().map(|p| p[p.len() - 1] - p[0]).collect();
        assert!(ends.iter().any(|e| e.abs() > 1e-3), "the paths did not move: {ends:?}");
        assert!(ends.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-3), "every path moved alike: {ends:?}");
        println!("largest |plan - f64| {largest:.1e} over {} paths of {steps} steps", paths.len());
    }

    /// A slice of paths run from its own first index gives the whole run's paths.
    #[test]
    fn slices_are_the_whole_runs_paths() {
        let gan = gan();
        let whole = GeneratorPathRun::of_fit(&gan, 0..12).unwrap();
        let part = GeneratorPathRun::of_fit(&gan, 5..12).unwrap();
        let a = run_plan(&whole.plan, &mut whole.model.clone(), &whole.options).unwrap();
        let b = run_plan(&part.plan, &mut part.model.clone(), &part.options).unwrap();
        for (fa, fb) in a.frames.iter().zip(&b.frames) {
            assert_eq!(&fa[5..], &fb[..]);
        }
    }

    /// Wrong sizes, other models and other ops are refused with a message, never a panic.
    #[test]
    fn mismatches_are_refused() {
        let gan = gan();
        let mut run = GeneratorPathRun::of_fit(&gan, 0..3).unwrap();
        run.options.inputs.pop();
        let err = run_plan(&run.plan, &mut run.model.clone(), &run.options).unwrap_err();
        assert!(err.to_string().contains("input rows"), "{err}");

        // A plan for a smaller state, on this generator.
        let run = GeneratorPathRun::of_fit(&gan, 0..3).unwrap();
        let mut other = run.plan.clone();
        for op in &mut other.ops {
            if let Op::GeneratorStep { dim, .. } | Op::GeneratorStart { dim, .. } = op {
                *dim = 8;
            }
        }
        let err = run_plan(&other, &mut run.model.clone(), &run.options).unwrap_err();
        assert!(err.to_string().contains("state of 8"), "{err}");

        // A diffusion sampler's plan on the generator, and the generator's plan on an MLP.
        let ddim = crate::core::sample::build(
            "ddim",
            Process::vp(),
            Parameterisation::Flow,
            &crate::core::sample::SamplerOptions::default(),
        )
        .unwrap();
        let opts = RunOptions { particles: 2, seed: 0, traced: vec![], inputs: vec![] };
        let err = run_plan(&ddim, &mut run.model.clone(), &opts).unwrap_err();
        assert!(err.to_string().contains("generator"), "{err}");
        let mlp = crate::core::nn::Mlp::new(crate::core::nn::MlpConfig::default(), 1).unwrap();
        let mut net = crate::core::sample::model::MlpModel::new(mlp, Parameterisation::Flow);
        let err = run_plan(&run.plan, &mut net, &run.options).unwrap_err();
        assert!(err.to_string().contains("not an SDE-GAN generator"), "{err}");

        // Draws of the wrong size.
        let model = run.model.clone();
        let err = GeneratorPathRun::new(model.clone(), gan.times(), 0..2, &|_| (vec![0.0; 2], vec![])).unwrap_err();
        assert!(err.contains("initial values"), "{err}");
        assert!(GeneratorPathRun::new(model.clone(), gan.times(), 0..0, &|p| gan.model_path_draws(p)).is_err());
        assert!(generator_path_plan(&model, &[0.0]).is_err());
        assert!(generator_path_plan(&model, &[0.0, 1.0, 1.0]).is_err());
    }

    /// Nets that do not fit one state are refused.
    #[test]
    fn nets_that_do_not_fit_are_refused() {
        let gan = gan();
        let m = GeneratorModel::of_fit(&gan).unwrap();
        let wrong = Dense::new(&[m.dim() + 1, 1], DenseActivation::Identity, DenseActivation::Identity).unwrap();
        let params = vec![0.0; wrong.param_count()];
        let err = GeneratorModel::new(
            (m.initial.clone(), m.initial_params.clone()),
            (m.drift.clone(), m.drift_params.clone()),
            (m.diffusion.clone(), m.diffusion_params.clone()),
            (wrong, params),
        )
        .unwrap_err();
        assert!(err.contains("do not fit"), "{err}");
        let err = GeneratorModel::new(
            (m.initial.clone(), vec![]),
            (m.drift.clone(), m.drift_params.clone()),
            (m.diffusion.clone(), m.diffusion_params.clone()),
            (m.readout.clone(), m.readout_params.clone()),
        )
        .unwrap_err();
        assert!(err.contains("parameters"), "{err}");
    }
}
