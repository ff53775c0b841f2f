//! Sampler runs that the page advances a slice at a time: a run is split by particles, and
//! since every particle draws its noise by its own index (`run_plan_from`), the slices add
//! up to exactly one whole run. Each slice is sized from the last one's speed so that a
//! frame's budget is kept whatever the sampler, NFE or network.

use crate::core::data::Point;
use crate::core::metrics::{mmd, projections, sliced_wasserstein, sliced_wasserstein_term, DEFAULT_BANDWIDTHS};
use crate::core::sample::model::Model;
use crate::core::sample::plan::{Op, Plan};
use crate::exec::cpu::{run_plan, run_plan_from, RunOptions, RunResult};

/// Trajectories drawn per panel.
pub const TRAJECTORIES: usize = 12;
/// MMD is quadratic in the sample sizes: it is taken on this many particles and data
/// points, so that it fits in one frame.
pub const MMD_POINTS: usize = 250;
/// Sliced Wasserstein compares against at most this many data points (a strided subset).
pub const SWD_REFERENCE_POINTS: usize = 1000;
/// Particles of a run kept on the GPU that come back to the page: the metrics, the trajectories,
/// the main view's samples and the CSV use these first ones; the panel draws every particle
/// from the GPU's own buffer.
pub const GPU_READ_BACK: usize = 5000;
/// Directions of the sliced Wasserstein distance (the CLI uses 128; 32 keeps it inside a frame).
pub const SWD_DIRECTIONS: usize = 32;

/// Quality against the data, sized to fit in one frame: sliced Wasserstein of every
/// particle against up to `SWD_REFERENCE_POINTS` data points along `SWD_DIRECTIONS`
/// directions, and MMD on `MMD_POINTS` of each (strided subsets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    pub swd: f64,
    pub mmd: f64,
}

fn strided(v: &[Point], count: usize) -> Vec<Point> {
    let stride = v.len().div_ceil(count).max(1);
    v.iter().step_by(stride).copied().collect()
}

fn as_points(sample: &[[f32; 2]]) -> Vec<Point> {
    sample.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect()
}

/// The sliced Wasserstein part of [`quality`].
pub fn quality_swd(reference: &[Point], sample: &[[f32; 2]], seed: u64) -> f64 {
    sliced_wasserstein(
        &strided(reference, SWD_REFERENCE_POINTS),
        &as_points(sample),
        &projections(SWD_DIRECTIONS, seed),
    )
}

/// [`quality_swd`] a few directions at a time: the running total and the directions done.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct SwdProgress {
    total: f64,
    done: usize,
}

/// How long one frame's share of a panel's SWD may take: at 5 000 particles the whole of it
/// took 30 ms here, and 55 to 71 ms with a software GPU busy on both cores.
const SWD_SLICE_MS: f64 = 4.0;

/// The MMD part of [`quality`].
pub fn quality_mmd(reference: &[Point], sample: &[[f32; 2]]) -> f64 {
    mmd(&strided(reference, MMD_POINTS), &strided(&as_points(sample), MMD_POINTS), &DEFAULT_BANDWIDTHS)
}

pub fn quality(reference: &[Point], sample: &[[f32; 2]], seed: u64) -> Quality {
    Quality { swd: quality_swd(reference, sample, seed), mmd: quality_mmd(reference, sample) }
}

/// Which executor runs a panel: the page's own thread, a slice per frame, or another one that
/// takes the whole run and gives it back (`PanelRun::external`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    Page,
    Gpu,
    /// The page's Web Workers, on the CPU's other cores.
    Workers,
}

impl Executor {
    /// How the panel names it.
    pub fn label(self) -> &'static str {
        match self {
            Executor::Page => "CPU",
            Executor::Gpu => "GPU",
            Executor::Workers => "CPU workers",
        }
    }

    /// Its name in the panel's `data-executor` (for tests).
    pub fn key(self) -> &'static str {
        match self {
            Executor::Page => "cpu",
            Executor::Gpu => "webgpu",
            Executor::Workers => "workers",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PanelRun {
    pub plan: Plan,
    pub particles: usize,
    pub seed: u64,
    /// Whether every particle's every step is kept (for the scrubber).
    pub keep_frames: bool,
    /// Particles done so far (they are 0..next).
    next: usize,
    /// Particles in the next slice.
    chunk: usize,
    pub positions: Vec<[f32; 2]>,
    /// frames[f][p]: particle p at the plan's snapshot f (when `keep_frames`).
    pub frames: Vec<Vec<[f32; 2]>>,
    evaluations: f64,
    /// Compute time spent, in milliseconds.
    pub elapsed_ms: f64,
    pub quality: Option<Quality>,
    /// The SWD, measured a frame before the MMD (each takes a good part of a frame).
    swd: Option<f64>,
    swd_progress: SwdProgress,
    pub error: Option<String>,
    /// The job id while another executor (the GPU, the workers) runs this; `advance` then
    /// waits for `complete` and only measures the quality.
    pub external: Option<u64>,
    /// Who runs it.
    pub executor: Executor,
    /// The GPU's path (`exec::gpu::op_major::GpuPath::name`), once the GPU has run it.
    pub gpu_path: Option<&'static str>,
    /// Whether the particles stay on the GPU, which draws them in place: `positions` and
    /// `frames` then hold the first `GPU_READ_BACK` only.
    pub resident: bool,
}

impl PanelRun {
    pub fn new(plan: Plan, particles: usize, seed: u64, keep_frames: bool) -> Self {
        PanelRun {
            plan,
            particles,
            seed,
            keep_frames,
            next: 0,
            chunk: 8,
            positions: Vec::with_capacity(particles),
            frames: Vec::new(),
            evaluations: 0.0,
            elapsed_ms: 0.0,
            quality: None,
            swd: None,
            swd_progress: SwdProgress::default(),
            error: None,
            external: None,
            executor: Executor::Page,
            gpu_path: None,
            resident: false,
        }
    }

    /// How many particles came back to the host (all of them unless the run is `resident`).
    pub fn host_particles(&self) -> usize {
        if self.resident {
            self.particles.min(GPU_READ_BACK)
        } else {
            self.particles
        }
    }

    /// Who ran it, as the panel says it: the executor, and the GPU's path when it has one.
    pub fn executor_label(&self) -> String {
        match (self.executor, self.gpu_path) {
            (Executor::Gpu, Some(path)) => format!("GPU, {path}"),
            (executor, _) => executor.label().to_string(),
        }
    }

    /// Whether every particle is done and only the quality is left to measure.
    pub fn awaits_quality(&self) -> bool {
        self.next == self.particles && !self.is_done()
    }

    /// Whether the run waits for another executor's result.
    pub fn is_waiting(&self) -> bool {
        self.external.is_some() && self.next < self.particles && self.error.is_none()
    }

    /// The options of the whole run, for an executor that runs it at once.
    pub fn whole_run_options(&self) -> RunOptions {
        let traced = if self.keep_frames { (0..self.particles).collect() } else { Vec::new() };
        RunOptions { particles: self.particles, seed: self.seed, traced, inputs: Vec::new() }
    }

    /// Takes the whole run's result from another executor (the quality follows in `advance`).
    pub fn complete(&mut self, result: RunResult, elapsed_ms: f64) -> Result<(), String> {
        if result.positions.len() != self.host_particles() {
            return Err(format!(
                "{} particles came back, {} were asked for",
                result.positions.len(),
                self.host_particles()
            ));
        }
        if let Some(p) = result.positions.iter().position(|x| !crate::core::limits::is_settled(*x)) {
            return Err(format!("particle {p} left the finite numbers (the sampler diverged): try more steps"));
        }
        self.positions.clear();
        self.frames.clear();
        self.swd = None;
        self.swd_progress = SwdProgress::default();
        self.next = 0;
        self.evaluations = 0.0;
        self.absorb(result, self.particles);
        self.elapsed_ms = elapsed_ms;
        Ok(())
    }

    pub fn is_done(&self) -> bool {
        self.error.is_some() || self.quality.is_some()
    }

    /// Fraction of the particles done.
    pub fn progress(&self) -> f64 {
        if self.is_done() {
            1.0
        } else {
            // The quality is still to come when every particle is done.
            (self.next as f64 / self.particles.max(1) as f64).min(0.99)
        }
    }

    /// Model evaluations per particle so far.
    pub fn nfe(&self) -> f64 {
        self.evaluations / self.next.max(1) as f64
    }

    /// Runs slices of particles until `budget_ms` has passed (at least one slice). Once every
    /// particle is done the run `awaits_quality`, which `measure` provides.
    pub fn advance(&mut self, model: &mut dyn Model, budget_ms: f64, clock: &dyn Fn() -> f64) {
        if self.is_waiting() {
            return;
        }
        let start = clock();
        while !self.is_done() && self.next < self.particles {
            let count = self.chunk.min(self.particles - self.next);
            let traced = if self.keep_frames { (self.next..self.next + count).collect() } else { Vec::new() };
            let options = RunOptions { particles: count, seed: self.seed, traced, inputs: Vec::new() };
            let slice_start = clock();
            match run_plan_from(&self.plan, model, &options, self.next) {
                Ok(result) if !result.positions.iter().all(|x| crate::core::limits::is_settled(*x)) => {
                    self.error =
                        Some("a particle diverged (not finite or far outside the data): try more steps".into());
                    break;
                }
                Ok(result) => self.absorb(result, count),
                Err(e) => {
                    self.error = Some(e.to_string());
                    break;
                }
            }
            let now = clock();
            // Size the next slice to take about a third of the budget.
            let per_particle = ((now - slice_start) / count as f64).max(1e-4);
            self.chunk = ((budget_ms / 3.0 / per_particle) as usize).clamp(1, 4096);
            if now - start >= budget_ms {
                break;
            }
        }
        self.elapsed_ms += clock() - start;
    }

    /// One stage of the quality against `reference` once every particle is done: the SWD on
    /// the first call, the MMD on the second (each takes a good part of a frame).
    pub fn measure(&mut self, reference: &[Point], clock: &dyn Fn() -> f64) {
        if !self.awaits_quality() {
            return;
        }
        let start = clock();
        match self.swd {
            None => {
                // Directions until the slice's time is up (at least one a frame); the terms are
                // added in order, so the result is `quality_swd`'s bit for bit.
                let (reference, sample) = (strided(reference, SWD_REFERENCE_POINTS), as_points(&self.positions));
                let directions = projections(SWD_DIRECTIONS, self.seed);
                let progress = &mut self.swd_progress;
                while progress.done < directions.len() {
                    progress.total += sliced_wasserstein_term(&reference, &sample, directions[progress.done]);
                    progress.done += 1;
                    if clock() - start > SWD_SLICE_MS {
                        break;
                    }
                }
                if progress.done == directions.len() {
                    self.swd = Some((progress.total / directions.len() as f64).sqrt());
                }
            }
            Some(swd) => {
                let mmd = quality_mmd(reference, &self.positions);
                // NaN or infinity never reaches the screen: say what happened.
                if swd.is_finite() && mmd.is_finite() {
                    self.quality = Some(Quality { swd, mmd });
                } else {
                    self.error = Some(format!(
                        "the quality is not a number (SWD {swd}, MMD {mmd}): the data or the samples are too far out"
                    ));
                }
            }
        }
        self.elapsed_ms += clock() - start;
    }

    fn absorb(&mut self, result: RunResult, count: usize) {
        self.positions.extend_from_slice(&result.positions);
        if self.keep_frames {
            if self.frames.is_empty() {
                self.frames = vec![Vec::with_capacity(self.host_particles()); result.frames.len()];
            }
            for (all, slice) in self.frames.iter_mut().zip(result.frames) {
                all.extend(slice);
            }
        }
        self.evaluations += result.nfe * count as f64;
        self.next += count;
    }

    /// The particles at the scrubber's position (a fraction of the run's steps).
    pub fn frame_at(&self, fraction: f64) -> &[[f32; 2]] {
        if self.frames.is_empty() {
            return &self.positions;
        }
        let f = (fraction.clamp(0.0, 1.0) * (self.frames.len() - 1) as f64).round() as usize;
        // While a run is in progress its frames hold only the particles done so far.
        &self.frames[f]
    }

    /// The step the scrubber shows and the number of steps.
    pub fn step_at(&self, fraction: f64) -> (usize, usize) {
        let steps = self.frames.len().saturating_sub(1);
        ((fraction.clamp(0.0, 1.0) * steps as f64).round() as usize, steps)
    }

    /// The first `TRAJECTORIES` particles' paths up to the scrubber's position.
    pub fn trajectories(&self, fraction: f64) -> Vec<Vec<[f32; 2]>> {
        let (upto, _) = self.step_at(fraction);
        let count = TRAJECTORIES.min(self.frames.first().map_or(0, Vec::len));
        (0..count)
            .map(|p| self.frames[..=upto.min(self.frames.len().saturating_sub(1))].iter().map(|f| f[p]).collect())
            .collect()
    }
}

/// The path of one particle that starts at `start` (at the sampler's first time) instead of
/// a draw from the prior: what clicking the canvas shows.
pub fn seeded_trajectory(
    plan: &Plan,
    model: &mut dyn Model,
    start: [f32; 2],
    seed: u64,
) -> Result<Vec<[f32; 2]>, String> {
    let mut plan = plan.clone();
    let first_init =
        plan.ops.iter().position(|op| matches!(op, Op::Init { .. })).ok_or("this sampler has no starting draw")?;
    let Op::Init { into, .. } = plan.ops[first_init] else { unreachable!() };
    plan.ops[first_init] = Op::LoadInput { into };
    let options = RunOptions { particles: 1, seed, traced: vec![0], inputs: vec![start] };
    let run = run_plan(&plan, model, &options).map_err(|e| e.to_string())?;
    let mut path: Vec<[f32; 2]> = run.frames.into_iter().map(|f| f[0]).collect();
    if path.first() != Some(&start) {
        path.insert(0, start);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::GaussianMixture;
    use crate::core::param::Parameterisation;
    use crate::core::process::Process;
    use crate::core::sample::model::ExactMixtureModel;
    use crate::core::sample::{build, SamplerOptions};

    fn exact() -> ExactMixtureModel {
        ExactMixtureModel::new(GaussianMixture::eight_gaussians(), Process::vp())
    }

    fn plan(sampler: &str, nfe: usize) -> Plan {
        build(sampler, Process::vp(), Parameterisation::Score, &SamplerOptions { nfe, ..SamplerOptions::default() })
            .unwrap()
    }

    /// A clock that advances `step` ms per read.
    fn ticking(step: f64) -> impl Fn() -> f64 {
        let t = std::cell::Cell::new(0.0);
        move || {
            t.set(t.get() + step);
            t.get()
        }
    }

    #[test]
    fn slices_add_up_to_one_whole_run() {
        for sampler in ["em", "dpmpp-2m", "pf-dopri5"] {
            let plan = plan(sampler, 12);
            let whole = run_plan(
                &plan,
                &mut exact(),
                &RunOptions { particles: 100, seed: 4, traced: (0..100).collect(), inputs: vec![] },
            )
            .unwrap();
            let mut sliced = PanelRun::new(plan, 100, 4, true);
            let reference = GaussianMixture::eight_gaussians().sample(300, 0);
            let clock = ticking(1.0);
            let mut calls = 0;
            while !sliced.is_done() {
                sliced.advance(&mut exact(), 3.0, &clock);
                sliced.measure(&reference, &clock);
                calls += 1;
            }
            assert!(calls > 3, "{sampler}: the run was not sliced ({calls} calls)");
            assert_eq!(sliced.positions, whole.positions, "{sampler}");
            assert_eq!(sliced.frames, whole.frames, "{sampler}");
            assert!((sliced.nfe() - whole.nfe).abs() < 1e-9, "{sampler}");
            assert_eq!(sliced.quality.unwrap(), quality(&reference, &whole.positions, 4), "{sampler}");
        }
    }

    /// A panel's SWD is spread over frames, a few directions each, and ends equal to the whole
    /// computation bit for bit.
    #[test]
    fn the_swd_is_measured_a_few_directions_a_frame() {
        let mut run = PanelRun::new(plan("ddim", 10), 500, 3, false);
        let reference = GaussianMixture::eight_gaussians().sample(2000, 0);
        run.advance(&mut exact(), 1e9, &ticking(0.0));
        // Every clock read passes the slice's time: one direction a call.
        let slow = ticking(SWD_SLICE_MS + 1.0);
        let mut calls = 0;
        while run.awaits_quality() {
            run.measure(&reference, &slow);
            calls += 1;
        }
        assert_eq!(calls, SWD_DIRECTIONS + 1, "one direction a call, then the MMD");
        assert_eq!(run.quality.unwrap(), quality(&reference, &run.positions, 3));
    }

    #[test]
    fn the_scrubber_walks_from_noise_to_data() {
        let mut run = PanelRun::new(plan("ddim", 20), 400, 1, true);
        let reference = GaussianMixture::eight_gaussians().sample(400, 0);
        while !run.is_done() {
            run.advance(&mut exact(), 1e9, &ticking(1.0));
            run.measure(&reference, &ticking(1.0));
        }
        assert_eq!(run.step_at(1.0), (20, 20));
        assert_eq!(run.frame_at(1.0), &run.positions[..]);
        let start = quality(&reference, run.frame_at(0.0), 0).swd;
        let middle = quality(&reference, run.frame_at(0.5), 0).swd;
        let end = quality(&reference, run.frame_at(1.0), 0).swd;
        assert!(start > middle && middle > end, "{start} {middle} {end}");
        let paths = run.trajectories(0.5);
        assert_eq!(paths.len(), TRAJECTORIES);
        assert_eq!(paths[0].len(), 11);
    }

    #[test]
    fn a_seeded_particle_starts_where_clicked_and_lands_on_a_mode() {
        let path = seeded_trajectory(&plan("pf-rk4", 40), &mut exact(), [3.0, -1.0], 0).unwrap();
        assert_eq!(path[0], [3.0, -1.0]);
        let end = path.last().unwrap();
        let modes = GaussianMixture::eight_gaussians().to_spec().means;
        let nearest = modes
            .iter()
            .map(|m| ((m[0] - end[0] as f64).powi(2) + (m[1] - end[1] as f64).powi(2)).sqrt())
            .fold(f64::MAX, f64::min);
        assert!(nearest < 0.6, "ends at {end:?}, {nearest} from the nearest mode");
    }

    #[test]
    fn a_diverging_run_reports_instead_of_drawing_nan() {
        // EM with 1 step on VE (sigma_max 50) flies off: the run keeps the message.
        let plan = build(
            "em",
            Process::ve(),
            Parameterisation::Score,
            &SamplerOptions { nfe: 1, ..SamplerOptions::default() },
        )
        .unwrap();
        let mut model = ExactMixtureModel::new(GaussianMixture::eight_gaussians(), Process::ve());
        let mut run = PanelRun::new(plan, 50, 0, true);
        let reference = GaussianMixture::eight_gaussians().sample(100, 0);
        run.advance(&mut model, 1e9, &ticking(1.0));
        run.measure(&reference, &ticking(1.0));
        if let Some(e) = &run.error {
            assert!(e.contains("diverged"), "{e}");
        } else {
            assert!(run.positions.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
        }
    }
}
