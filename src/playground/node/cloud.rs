//! The portrait's cloud: a grid of starts flowed by the learned field through a plan executor
//! (`core::dynamics::flow_plan`), shown at the scrubber's time. Where the page has a GPU
//! runner the whole grid (10^4 starts) goes to it as one job; otherwise the CPU executor runs
//! a smaller grid a slice of particles per frame, so that no frame waits on it. The cloud
//! remembers what it was computed from and is recomputed when the weights or the solver
//! change.

use crate::core::dynamics::field_model::FieldModel;
use crate::core::dynamics::fit::{NodeFit, Stepping};
use crate::core::dynamics::flow_plan::{flow_setup, FlowSetup};
use crate::core::dynamics::systems::SystemId;
use crate::core::sample::model::{Model, ModelData};
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{run_plan_from, RunOptions, RunResult};

/// Starts per side of the grid on a hardware GPU (10^4 in all), on a software adapter (the
/// CPU emulating a GPU takes minutes over 10^4 here) and on the CPU executor.
pub const GPU_SIDE: usize = 100;
pub const SOFTWARE_GPU_SIDE: usize = 32;
pub const CPU_SIDE: usize = 32;
/// Snapshots over the data's time span (the scrubber picks one).
pub const FRAMES: usize = 101;
/// The first CPU slice's particles; later slices are sized from the measured time.
const FIRST_SLICE: usize = 16;

/// Which executor computed a cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    Gpu,
    Cpu,
}

impl Executor {
    pub fn name(self) -> &'static str {
        match self {
            Executor::Gpu => "GPU",
            Executor::Cpu => "CPU",
        }
    }
}

/// A computed cloud: frames[f][k] is start k at frame f.
#[derive(Debug, Clone, PartialEq)]
pub struct Cloud {
    pub frames: Vec<Vec<[f32; 2]>>,
    pub times: Vec<f64>,
    pub executor: Executor,
    pub starts: usize,
    /// Wall time from the request to the result.
    pub ms: f64,
    /// The training step whose weights it shows.
    pub step: usize,
}

impl Cloud {
    /// The frame nearest to a fraction of the time span.
    pub fn frame_at(&self, fraction: f64) -> &[[f32; 2]] {
        let last = self.frames.len().saturating_sub(1);
        let f = ((fraction.clamp(0.0, 1.0) * last as f64).round() as usize).min(last);
        self.frames.get(f).map_or(&[], |v| v.as_slice())
    }
}

/// A GPU job the frame loop hands to the runner.
#[derive(Debug, Clone)]
pub struct FlowJob {
    pub id: u64,
    pub plan: Plan,
    pub model: ModelData,
    pub options: RunOptions,
}

/// What a cloud was computed from: a different key makes it stale.
#[derive(Debug, Clone, PartialEq)]
struct CloudKey {
    params: Vec<f64>,
    solver: String,
    stepping: Stepping,
    system: SystemId,
    gpu: bool,
    side: usize,
}

/// A run on the CPU executor in progress, a slice per frame.
struct CpuFlow {
    plan: Plan,
    model: FieldModel,
    starts: Vec<[f32; 2]>,
    next: usize,
    slice: usize,
    frames: Vec<Vec<[f32; 2]>>,
    times: Vec<f64>,
    began: f64,
    step: usize,
}

/// The cloud's state in the lab.
#[derive(Default)]
pub struct CloudState {
    pub shown: Option<Cloud>,
    /// Whether the page has a GPU runner (set by the frame loop every frame), and whether
    /// its adapter is a software one.
    pub gpu_ready: bool,
    pub gpu_software: bool,
    /// The last failure, shown under the portrait instead of the cloud.
    pub error: Option<String>,
    /// The GPU failed a cloud once: the CPU executor runs them from then on.
    gpu_refused: bool,
    key: Option<CloudKey>,
    next_id: u64,
    /// The job waiting for the frame loop, and the one in flight (id, key, times, began, step).
    queued: Option<FlowJob>,
    in_flight: Option<(u64, CloudKey, Vec<f64>, f64, usize)>,
    cpu: Option<CpuFlow>,
}

impl CloudState {
    fn key_of(&self, fit: &NodeFit) -> CloudKey {
        CloudKey {
            params: fit.params.clone(),
            solver: fit.config.solver.clone(),
            stepping: fit.config.stepping,
            system: fit.config.system,
            gpu: self.gpu_ready,
            side: self.side(),
        }
    }

    /// The page's GPU runner, if it has one (Some(software)); the frame loop says so every
    /// frame. After a GPU failure the CPU keeps the cloud.
    pub fn set_gpu(&mut self, gpu: Option<bool>) {
        self.gpu_ready = gpu.is_some() && !self.gpu_refused;
        self.gpu_software = gpu == Some(true);
    }

    /// Starts per side of the grid on the executor that will run it.
    fn side(&self) -> usize {
        match (self.gpu_ready, self.gpu_software) {
            (true, false) => GPU_SIDE,
            (true, true) => SOFTWARE_GPU_SIDE,
            (false, _) => CPU_SIDE,
        }
    }

    /// Whether the shown cloud (or the one being computed) is for other weights or settings.
    pub fn stale(&self, fit: &NodeFit) -> bool {
        self.key.as_ref() != Some(&self.key_of(fit))
    }

    /// Whether a computation is under way.
    pub fn busy(&self) -> bool {
        self.queued.is_some() || self.in_flight.is_some() || self.cpu.is_some()
    }

    /// Drops the cloud and anything in progress (the lab changed its data or model).
    pub fn clear(&mut self) {
        self.shown = None;
        self.key = None;
        self.queued = None;
        self.in_flight = None;
        self.cpu = None;
        self.error = None;
    }

    /// Starts a new cloud for the fit when it is stale and nothing is in progress: a job
    /// for the GPU runner, or a CPU run. `allow_cpu` is false while training (the CPU's frame
    /// time goes to the training then).
    pub fn request(&mut self, fit: &NodeFit, bounds: [f64; 4], now: f64, allow_cpu: bool) {
        if self.busy() || !self.stale(fit) || (!self.gpu_ready && !allow_cpu) {
            return;
        }
        let key = self.key_of(fit);
        let side = self.side();
        let FlowSetup { times, starts, plan, model } = match flow_setup(fit, bounds, side, FRAMES) {
            Ok(setup) => setup,
            Err(e) => {
                self.key = Some(key);
                self.error = Some(e);
                return;
            }
        };
        let step = fit.steps_done();
        self.key = Some(key.clone());
        if self.gpu_ready {
            self.next_id += 1;
            let options =
                RunOptions { particles: starts.len(), seed: 0, traced: (0..starts.len()).collect(), inputs: starts };
            self.queued = Some(FlowJob { id: self.next_id, plan, model: model.data(), options });
            self.in_flight = Some((self.next_id, key, times, now, step));
        } else {
            self.cpu = Some(CpuFlow {
                plan,
                model,
                frames: vec![Vec::with_capacity(starts.len()); FRAMES],
                starts,
                next: 0,
                slice: FIRST_SLICE,
                times,
                began: now,
                step,
            });
        }
    }

    /// The queued GPU job, for the frame loop.
    pub fn take_job(&mut self) -> Option<FlowJob> {
        self.queued.take()
    }

    /// A GPU job's result. Results of superseded jobs are dropped. Returns whether the cloud
    /// changed.
    pub fn finish_job(&mut self, id: u64, result: Result<RunResult, String>, now: f64) -> bool {
        if !matches!(&self.in_flight, Some((expected, ..)) if *expected == id) {
            return false;
        }
        let Some((_, key, times, began, step)) = self.in_flight.take() else { return false };
        if self.key.as_ref() != Some(&key) {
            return false;
        }
        match result {
            Ok(run) => {
                let starts = run.frames.first().map_or(0, |f| f.len());
                self.shown =
                    Some(Cloud { frames: run.frames, times, executor: Executor::Gpu, starts, ms: now - began, step });
                self.error = None;
            }
            Err(e) => {
                // The GPU could not run it: the CPU executor takes over from the next frame.
                self.error = Some(format!("the GPU could not flow the cloud ({e}); the CPU executor runs it"));
                self.gpu_ready = false;
                self.gpu_refused = true;
                self.key = None;
            }
        }
        true
    }

    /// Runs CPU slices for about `budget_ms`. Returns whether the cloud changed.
    pub fn tick_cpu(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> bool {
        let Some(mut run) = self.cpu.take() else { return false };
        let start = clock();
        while run.next < run.starts.len() && clock() - start < budget_ms {
            let end = (run.next + run.slice).min(run.starts.len());
            let slice_start = clock();
            let options = RunOptions {
                particles: end - run.next,
                seed: 0,
                traced: (run.next..end).collect(),
                inputs: run.starts[run.next..end].to_vec(),
            };
            match run_plan_from(&run.plan, &mut run.model, &options, run.next) {
                Ok(result) => {
                    for (frame, part) in run.frames.iter_mut().zip(result.frames) {
                        frame.extend(part);
                    }
                }
                Err(e) => {
                    self.error = Some(format!("the cloud's flow stopped: {e}"));
                    return true;
                }
            }
            // Size the next slice to about half the budget from this one's time.
            let per_particle = (clock() - slice_start).max(1e-3) / (end - run.next) as f64;
            run.slice = ((0.5 * budget_ms / per_particle) as usize).clamp(1, 4096);
            run.next = end;
        }
        if run.next < run.starts.len() {
            self.cpu = Some(run);
            return false;
        }
        let starts = run.starts.len();
        self.shown = Some(Cloud {
            frames: run.frames,
            times: run.times,
            executor: Executor::Cpu,
            starts,
            ms: clock() - run.began,
            step: run.step,
        });
        self.error = None;
        true
    }

    /// A line for the page: what the cloud is and what computed it.
    pub fn caption(&self, playing: bool) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let working = if self.busy() { " (recomputing…)" } else { "" };
        match &self.shown {
            Some(c) => format!(
                "cloud: {} starts flowed by the learned field on the {} executor in {:.0} ms, weights of step {}{working}",
                c.starts,
                c.executor.name(),
                c.ms,
                c.step
            ),
            None if playing && !self.gpu_ready => "cloud: computed when training pauses".into(),
            None => format!("cloud: computing{working}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::dynamics::fit::FitConfig;

    fn fit() -> NodeFit {
        let config = FitConfig {
            width: 8,
            series: 4,
            batch: 4,
            ..FitConfig::page_default(SystemId::Oscillator, crate::core::dynamics::fit::ModelKind::Neural)
        };
        NodeFit::new(config).unwrap()
    }

    fn clock() -> impl Fn() -> f64 {
        let t = std::cell::Cell::new(0.0);
        move || {
            t.set(t.get() + 3.0);
            t.get()
        }
    }

    /// The CPU path flows every start in slices, and frame 0 holds the grid itself; a new
    /// weight makes the cloud stale.
    #[test]
    fn the_cpu_flows_the_grid_in_slices_and_goes_stale_with_the_weights() {
        let mut fit = fit();
        let mut cloud = CloudState::default();
        let bounds = [-1.0, 1.5, -1.0, 1.5];
        cloud.request(&fit, bounds, 0.0, false);
        assert!(!cloud.busy(), "no CPU run while training");
        cloud.request(&fit, bounds, 0.0, true);
        assert!(cloud.busy());
        let tick = clock();
        let mut frames = 0;
        while cloud.busy() {
            cloud.tick_cpu(8.0, &tick);
            frames += 1;
        }
        assert!(frames > 1, "the run took more than one slice");
        let shown = cloud.shown.as_ref().expect("a cloud");
        assert_eq!((shown.executor, shown.starts, shown.frames.len()), (Executor::Cpu, CPU_SIDE * CPU_SIDE, FRAMES));
        assert_eq!(shown.frames[0], crate::core::dynamics::flow_plan::start_grid(bounds, CPU_SIDE));
        assert!(shown.frames.iter().all(|f| f.len() == shown.starts));
        assert!(!cloud.stale(&fit));
        fit.params[0] += 0.1;
        assert!(cloud.stale(&fit));
        assert!(cloud.caption(false).contains("1024 starts") && cloud.caption(false).contains("CPU"));
    }

    /// With a GPU runner the request is one job for the whole grid; its result is shown, an
    /// old job's result is dropped, and a failure hands the cloud to the CPU.
    #[test]
    fn gpu_jobs_are_matched_to_their_requests() {
        let fit = fit();
        let mut cloud = CloudState::default();
        cloud.set_gpu(Some(false));
        cloud.request(&fit, [-1.0, 1.5, -1.0, 1.5], 10.0, false);
        let job = cloud.take_job().expect("a job while training, on the GPU");
        assert_eq!(job.options.particles, GPU_SIDE * GPU_SIDE);
        assert!(!cloud.finish_job(job.id + 1, Err("stale".into()), 20.0), "another id is ignored");
        assert!(cloud.busy(), "the job is still awaited");
        let run = RunResult { positions: vec![], frames: vec![vec![[0.0; 2]; 3]; FRAMES], nfe: 1.0, values: vec![] };
        assert!(cloud.finish_job(job.id, Ok(run), 30.0));
        let shown = cloud.shown.as_ref().unwrap();
        assert_eq!((shown.executor, shown.ms, shown.starts), (Executor::Gpu, 20.0, 3));
        assert!(!cloud.stale(&fit));
        let mut fit2 = fit;
        fit2.params[1] -= 0.2;
        cloud.request(&fit2, [-1.0, 1.5, -1.0, 1.5], 40.0, false);
        let job = cloud.take_job().unwrap();
        assert!(cloud.finish_job(job.id, Err("device lost".into()), 50.0));
        assert!(!cloud.gpu_ready && cloud.error.as_ref().unwrap().contains("device lost"));
        cloud.set_gpu(Some(false));
        assert!(!cloud.gpu_ready, "a GPU that failed once is not asked again");
    }

    #[test]
    fn frames_are_picked_by_fraction() {
        let cloud = Cloud {
            frames: (0..FRAMES).map(|f| vec![[f as f32, 0.0]]).collect(),
            times: vec![],
            executor: Executor::Cpu,
            starts: 1,
            ms: 0.0,
            step: 0,
        };
        assert_eq!(cloud.frame_at(0.0)[0][0], 0.0);
        assert_eq!(cloud.frame_at(0.5)[0][0], 50.0);
        assert_eq!(cloud.frame_at(7.0)[0][0], 100.0);
    }
}
