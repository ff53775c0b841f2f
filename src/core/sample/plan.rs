//! A Plan: a sampler compiled to a list of generic ops over per-particle registers, with
//! every coefficient computed on the host (f64, stored as f32). Executors (`exec::cpu` and
//! the WGSL interpreter `exec::gpu::plan_run`) interpret plans; no sampler runs itself, so a
//! new sampler is Rust code only and both executors run it unchanged.
//!
//! Registers are 2-vectors. Register 0 is the particle's state x; the others are scratch
//! (model outputs, history for multistep methods). Noise is a pure function of (seed,
//! particle, counter): each noisy op carries its own counter, assigned when the plan is
//! built, so two plans that draw their prior with counter 0 start from the same noise.

use serde::{Deserialize, Serialize};

use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::ButcherTableau;

pub type Reg = u8;

/// The state register.
pub const X: Reg = 0;

/// Registers per particle: the executors keep them in fixed arrays (in WGSL's private memory
/// as on the CPU). 24 holds the SDE-GAN generator's reversible-Heun state (two 16-vectors)
/// beside its readout.
pub const MAX_REGISTERS: usize = 24;

/// What an `Eval` turns the network's output into. Every one is affine in the output and x:
/// quantity = out_scale * out + x_scale * x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    Eps,
    Score,
    X0,
    Velocity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// R[into] = mean + std * z (the prior draw), z from `counter`.
    Init { into: Reg, mean: [f32; 2], std: f32, counter: u32 },
    /// R[into] = out_scale * model(R[at], t) + x_scale * R[at] + offset. One model evaluation.
    /// (The offset carries the mean-reverting condition mu; it is zero otherwise.)
    Eval { at: Reg, t: f32, into: Reg, out_scale: f32, x_scale: f32, offset: [f32; 2] },
    /// R[into] = sum_i c_i R[r_i] + offset + noise * z, z a fresh standard normal from `counter`.
    Axpy { into: Reg, terms: Vec<(Reg, f32)>, offset: [f32; 2], noise: f32, counter: u32 },
    /// The probability-flow ODE of `process` from t0 to t1, per particle, with an embedded
    /// Runge-Kutta pair and PID control. Model evaluations vary by particle.
    /// The op carries its method and controller as data: each executor runs the tableau's
    /// numbers and the controller's constants, and looks nothing up by name.
    AdaptiveFlow { x: Reg, t0: f32, t1: f32, max_steps: u32, tableau: ButcherTableau, controller: PidController },
    /// Records R[reg] as frame `frame` of the step-by-step view.
    Snapshot { reg: Reg, frame: u32 },
    /// One Metropolis-adjusted Langevin step on p_t (models with a log-density only):
    /// propose y = x + eps s(x) + sqrt(2 eps) z, accept with probability
    /// min(1, p(y) q(x | y) / (p(x) q(y | x))). R[score] holds s(x) and R[logp][0] log p(x)
    /// (set by `MalaStart`), so each step costs one evaluation (at y).
    MalaStep { x: Reg, score: Reg, logp: Reg, t: f32, step: f32, counter: u32, accept_counter: u32 },
    /// Fills R[score] and R[logp] at x for the MALA steps that follow. One evaluation.
    MalaStart { x: Reg, score: Reg, logp: Reg, t: f32 },
    /// Like `Eval`, at the particle's own noise level k = R[level][0] (an index into
    /// `levels`, which holds each level's time and coefficients). One evaluation.
    EvalAtLevel { at: Reg, level: Reg, into: Reg, levels: Vec<LevelCoefficients> },
    /// The Gibbs step on the noise level: R[level][0] = k drawn from p(k | R[x]) over `times`
    /// (uniform prior on k), or its most likely k with `argmax`. One evaluation (the exact
    /// posterior, or the noise-level classifier).
    GibbsLevel { x: Reg, level: Reg, times: Vec<f32>, counter: u32, argmax: bool },
    /// R[into] = the caller's input point for this particle (the data of a likelihood, a
    /// path's start): row 0 of its input rows.
    LoadInput { into: Reg },
    /// R[into] = g(R[at]), the model's diagonal diffusion (a neural SDE's; one evaluation).
    EvalDiffusion { at: Reg, into: Reg },
    /// R[into] += factor * R[diffusion] * dW componentwise, dW the particle's input row `row`:
    /// a Brownian increment the caller computed (from the virtual Brownian tree), so that both
    /// executors, and the f64 solver they are checked against, are driven by one path.
    AddIncrement { into: Reg, diffusion: Reg, factor: f32, row: u32 },
    /// The probability-flow ODE and its divergence, forward from t0 to t1 per particle, with an
    /// embedded pair under PID control. Afterwards R[x] = x(t1) and R[nll][0] = -log p_{t0} of
    /// the starting point in nats, with the prior N(0, prior_std^2 I) at t1. `probe_counter`
    /// set: Hutchinson's estimate of the divergence with a Rademacher probe from that counter;
    /// unset: the exact trace. Evaluations (with the input Jacobian) vary by particle.
    AdaptiveLikelihood {
        x: Reg,
        nll: Reg,
        t0: f32,
        t1: f32,
        max_steps: u32,
        tableau: ButcherTableau,
        controller: PidController,
        prior_std: f32,
        probe_counter: Option<u32>,
    },
    /// Particles whose level R[level][0] is above `above` skip the next `ops` ops: each then
    /// integrates from its own level (DLG). Evaluations in skipped ops are not made.
    SkipIf { level: Reg, above: f32, ops: u32 },
    /// Replacement (score_sde's inpainting and colourisation): the coordinate n·R[into] is
    /// overwritten by a fresh noisy copy of its observed value, mean + sigma * z₀ (the
    /// observation pushed through the process to this step's time; z from `counter`), and the
    /// free coordinate is kept: R[into] += (mean + sigma z₀ − n·R[into]) n, n a unit vector.
    /// `core::inverse::replace_plan` inserts it after each step.
    Replace { into: Reg, normal: [f32; 2], mean: f32, sigma: f32, counter: u32 },
    /// A DPS-style correction (Chung et al. 2023) towards the observation n·x₀ = value: with
    /// x̂₀ = out_scale * model(R[x], t) + x_scale * R[x] (Tweedie's estimate) and
    /// r = value − n·x̂₀, R[x] −= zeta ∇ₓ r² / |r| (the normaliser held constant), the gradient
    /// through the model's input Jacobian. One evaluation; the CPU executor only.
    Dps { x: Reg, t: f32, out_scale: f32, x_scale: f32, normal: [f32; 2], value: f32, zeta: f32 },
    /// The SDE-GAN generator's start (`core::nsde::generator_model`): V, `noise` values two per
    /// input row from `row`, gives X0 = zeta(V). Its reversible-Heun state y = z = X0 (`dim`
    /// values each, two per register) fills the registers from `state`: y's, then z's. The
    /// readout (l(y), 0) goes into `into`. No field evaluation.
    GeneratorStart { state: Reg, dim: u32, into: Reg, noise: u32, row: u32 },
    /// One reversible-Heun step of the generator from t to t + h, dW (`noise` values) two per
    /// input row from `row`: with inc(t, z) = f(t, z) h + g(t, z) dW, y += inc(t, z) / 2,
    /// z = 2y - z, y += inc(t + h, z) / 2, then the readout into `into`. The field at the old
    /// z is evaluated again rather than stored (the registers hold y and z only): two
    /// evaluations of (f, g) per step.
    GeneratorStep { state: Reg, dim: u32, into: Reg, t: f32, h: f32, noise: u32, row: u32 },
}

/// Registers that hold `dim` values, two per register.
pub fn registers_for(dim: u32) -> usize {
    dim.div_ceil(2) as usize
}

/// One noise level of `EvalAtLevel`: quantity = out_scale * out + x_scale * x at time t.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelCoefficients {
    pub t: f32,
    pub out_scale: f32,
    pub x_scale: f32,
}

/// A compiled sampler. It serialises (to post it to a Web Worker); a tableau goes by its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sampler: String,
    pub registers: usize,
    pub ops: Vec<Op>,
    /// The process whose formulas `AdaptiveFlow` needs, and the model's parameterisation.
    pub process: Process,
    pub param: Parameterisation,
    /// The mean-reverting process's condition mu (zero for the other processes).
    pub condition: [f32; 2],
    /// A per-particle result besides the position: R[reg][0] (the likelihood's nats).
    pub value_register: Option<Reg>,
}

/// An adaptive op needs an embedded pair: its error weights estimate the local error.
fn check_adaptive(tableau: &ButcherTableau) -> Result<(), String> {
    match tableau.error {
        Some(_) => Ok(()),
        None => Err(format!("{} has no error estimate for adaptive steps", tableau.name)),
    }
}

/// The controller of an adaptive op at tolerances stored as f32 (as the plan's other
/// coefficients are), so the CPU and the GPU control steps with the same numbers.
fn controller_at(rtol: f64, atol: f64) -> PidController {
    PidController::new(f64::from(rtol as f32), f64::from(atol as f32))
}

/// alpha, sigma at t and the affine map from the network output to `want`.
pub fn quantity_coefficients(param: Parameterisation, want: Quantity, alpha: f64, sigma: f64) -> (f64, f64) {
    // Everything goes through eps: eps = slope * out + shift * x.
    let slope = param.eps_slope(alpha, sigma);
    let shift = match param {
        Parameterisation::Eps | Parameterisation::Score => 0.0,
        Parameterisation::X0 => 1.0 / sigma,
        Parameterisation::V => sigma / (alpha * alpha + sigma * sigma),
        Parameterisation::Flow => 1.0 / (alpha + sigma),
    };
    match want {
        Quantity::Eps => (slope, shift),
        Quantity::Score => (-slope / sigma, -shift / sigma),
        // x0 = (x - sigma eps) / alpha.
        Quantity::X0 => (-sigma * slope / alpha, (1.0 - sigma * shift) / alpha),
        // v = alpha eps - sigma x0.
        Quantity::Velocity => {
            let (x0_out, x0_x) = (-sigma * slope / alpha, (1.0 - sigma * shift) / alpha);
            (alpha * slope - sigma * x0_out, alpha * shift - sigma * x0_x)
        }
    }
}

impl Plan {
    /// The same plan starting from given points (one input per particle) instead of its
    /// prior draw: how a run starts from the exact marginal at t_max (`--exact-prior`).
    pub fn with_loaded_start(mut self) -> Result<Plan, String> {
        match self.ops.iter().position(|op| matches!(op, Op::Init { into: X, .. })) {
            Some(i) => {
                self.ops[i] = Op::LoadInput { into: X };
                Ok(self)
            }
            None => Err(format!("{} does not start from a prior draw", self.sampler)),
        }
    }

    /// Model evaluations per particle, where the plan fixes them (None with adaptive ops).
    pub fn fixed_nfe(&self) -> Option<u32> {
        let mut nfe = 0;
        for op in &self.ops {
            match op {
                Op::Eval { .. }
                | Op::MalaStep { .. }
                | Op::MalaStart { .. }
                | Op::EvalAtLevel { .. }
                | Op::GibbsLevel { .. }
                | Op::EvalDiffusion { .. }
                | Op::Dps { .. } => nfe += 1,
                Op::AdaptiveFlow { .. } | Op::SkipIf { .. } | Op::AdaptiveLikelihood { .. } => return None,
                _ => {}
            }
        }
        Some(nfe)
    }

    /// Input rows per particle the plan reads (`LoadInput` reads row 0, `AddIncrement` its
    /// own): a run passes particles x rows inputs, particle by particle.
    pub fn input_rows(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::LoadInput { .. } => 1,
                Op::AddIncrement { row, .. } => *row as usize + 1,
                Op::GeneratorStart { noise, row, .. } | Op::GeneratorStep { noise, row, .. } => {
                    *row as usize + registers_for(*noise)
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// The largest noise counter any op draws from (0 where none draws): a transform that adds
    /// noisy ops numbers them after it, so that they draw fresh noise.
    pub fn last_counter(&self) -> u32 {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Init { counter, .. }
                | Op::Axpy { counter, .. }
                | Op::GibbsLevel { counter, .. }
                | Op::Replace { counter, .. } => *counter,
                Op::MalaStep { counter, accept_counter, .. } => (*counter).max(*accept_counter),
                Op::AdaptiveLikelihood { probe_counter, .. } => probe_counter.unwrap_or(0),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    pub fn frames(&self) -> u32 {
        self.ops.iter().filter(|op| matches!(op, Op::Snapshot { .. })).count() as u32
    }

    /// Rejects plans an executor could not run: registers out of range, unknown tableaus.
    pub fn validate(&self) -> Result<(), String> {
        let check = |r: Reg| {
            if (r as usize) < self.registers {
                Ok(())
            } else {
                Err(format!("{}: register {r} used but only {} declared", self.sampler, self.registers))
            }
        };
        for op in &self.ops {
            match op {
                Op::Init { into, .. } => check(*into)?,
                Op::Eval { at, into, .. } => {
                    check(*at)?;
                    check(*into)?
                }
                Op::Axpy { into, terms, .. } => {
                    check(*into)?;
                    for (r, _) in terms {
                        check(*r)?;
                    }
                }
                Op::AdaptiveFlow { x, tableau, .. } => {
                    check(*x)?;
                    check_adaptive(tableau)?;
                }
                Op::Snapshot { reg, .. } => check(*reg)?,
                Op::MalaStep { x, score, logp, .. } | Op::MalaStart { x, score, logp, .. } => {
                    check(*x)?;
                    check(*score)?;
                    check(*logp)?
                }
                Op::EvalAtLevel { at, level, into, levels } => {
                    check(*at)?;
                    check(*level)?;
                    check(*into)?;
                    if levels.is_empty() {
                        return Err(format!("{}: EvalAtLevel lists no levels", self.sampler));
                    }
                }
                Op::GibbsLevel { x, level, times, .. } => {
                    check(*x)?;
                    check(*level)?;
                    if times.is_empty() {
                        return Err(format!("{}: GibbsLevel lists no levels", self.sampler));
                    }
                }
                Op::SkipIf { level, .. } => check(*level)?,
                Op::LoadInput { into } | Op::Replace { into, .. } | Op::Dps { x: into, .. } => check(*into)?,
                Op::EvalDiffusion { at, into } => {
                    check(*at)?;
                    check(*into)?
                }
                Op::AddIncrement { into, diffusion, .. } => {
                    check(*into)?;
                    check(*diffusion)?
                }
                Op::AdaptiveLikelihood { x, nll, tableau, .. } => {
                    check(*x)?;
                    check(*nll)?;
                    check_adaptive(tableau)?;
                }
                Op::GeneratorStart { state, dim, into, .. } | Op::GeneratorStep { state, dim, into, .. } => {
                    check(*into)?;
                    if *dim == 0 {
                        return Err(format!("{}: a generator's state has no values", self.sampler));
                    }
                    let last = *state as usize + 2 * registers_for(*dim) - 1;
                    check(Reg::try_from(last).unwrap_or(Reg::MAX))?;
                    if (*state..=last as Reg).contains(into) {
                        return Err(format!("{}: the generator's readout overwrites its state", self.sampler));
                    }
                }
            }
        }
        if let Some(r) = self.value_register {
            check(r)?;
        }
        Ok(())
    }
}

/// Builds plans: hands out registers and noise counters, emits ops.
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    plan: Plan,
    next_counter: u32,
    frame: u32,
}

impl PlanBuilder {
    pub fn new(sampler: &str, process: Process, param: Parameterisation) -> Self {
        PlanBuilder {
            plan: Plan {
                sampler: sampler.to_string(),
                registers: 1,
                ops: Vec::new(),
                process,
                param,
                condition: [0.0; 2],
                value_register: None,
            },
            next_counter: 1, // counter 0 is the prior draw, shared by every sampler
            frame: 0,
        }
    }

    pub fn process(&self) -> Process {
        self.plan.process
    }

    /// Sets the condition mu (used by the mean-reverting process only).
    pub fn set_condition(&mut self, mu: [f64; 2]) {
        let mu = self.plan.process.condition(mu);
        self.plan.condition = [mu[0] as f32, mu[1] as f32];
    }

    pub fn condition(&self) -> [f64; 2] {
        [f64::from(self.plan.condition[0]), f64::from(self.plan.condition[1])]
    }

    /// A new scratch register.
    pub fn register(&mut self) -> Reg {
        self.plan.registers += 1;
        assert!(self.plan.registers <= MAX_REGISTERS, "plans use at most {MAX_REGISTERS} registers");
        (self.plan.registers - 1) as Reg
    }

    fn counter(&mut self) -> u32 {
        self.next_counter += 1;
        self.next_counter - 1
    }

    /// x = the prior N(mean, std^2 I), from counter 0.
    pub fn init_prior(&mut self, mean: [f64; 2], std: f64) {
        self.plan.ops.push(Op::Init { into: X, mean: [mean[0] as f32, mean[1] as f32], std: std as f32, counter: 0 });
        self.snapshot();
    }

    /// R[into] = `want` predicted at (R[at], t).
    pub fn eval(&mut self, at: Reg, t: f64, into: Reg, want: Quantity) {
        let p = self.plan.process;
        let (alpha, sigma) = (p.alpha(t), p.sigma(t));
        let (a, b) = quantity_coefficients(self.plan.param, want, alpha, sigma);
        // The conversions act on the centred c = x - (1 - alpha) mu = alpha x0 + sigma z
        // (mu = 0 except for the mean-reverting process): Q = a out + b x - b (1 - alpha) mu.
        let mu = self.condition();
        let offset = [0, 1].map(|d| (-b * (1.0 - alpha) * mu[d]) as f32);
        self.plan.ops.push(Op::Eval { at, t: t as f32, into, out_scale: a as f32, x_scale: b as f32, offset });
    }

    /// R[into] = model(R[at]): the raw output, for models whose output is itself what the
    /// plan integrates (a learned vector field, `core::dynamics::field_model`).
    pub fn eval_raw(&mut self, at: Reg, into: Reg) {
        self.plan.ops.push(Op::Eval { at, t: 0.0, into, out_scale: 1.0, x_scale: 0.0, offset: [0.0; 2] });
    }

    /// R[into] = sum c_i R[r_i] + noise z.
    pub fn axpy(&mut self, into: Reg, terms: &[(Reg, f64)], noise: f64) {
        self.axpy_offset(into, terms, [0.0; 2], noise);
    }

    /// R[into] = sum c_i R[r_i] + offset + noise z.
    pub fn axpy_offset(&mut self, into: Reg, terms: &[(Reg, f64)], offset: [f64; 2], noise: f64) {
        let counter = if noise != 0.0 { self.counter() } else { 0 };
        self.plan.ops.push(Op::Axpy {
            into,
            terms: terms.iter().filter(|(_, c)| *c != 0.0).map(|(r, c)| (*r, *c as f32)).collect(),
            offset: [offset[0] as f32, offset[1] as f32],
            noise: noise as f32,
            counter,
        });
    }

    pub fn adaptive_flow(&mut self, t0: f64, t1: f64, rtol: f64, atol: f64, tableau: &ButcherTableau) {
        self.plan.ops.push(Op::AdaptiveFlow {
            x: X,
            t0: t0 as f32,
            t1: t1 as f32,
            max_steps: 10_000,
            tableau: *tableau,
            controller: controller_at(rtol, atol),
        });
    }

    /// MALA on p_t: one start evaluation, then `steps` Metropolis-adjusted Langevin steps.
    pub fn mala(&mut self, t: f64, step: f64, steps: usize) {
        let (score, logp) = (self.register(), self.register());
        self.plan.ops.push(Op::MalaStart { x: X, score, logp, t: t as f32 });
        for _ in 0..steps {
            let (counter, accept_counter) = (self.counter(), self.counter());
            self.plan.ops.push(Op::MalaStep {
                x: X,
                score,
                logp,
                t: t as f32,
                step: step as f32,
                counter,
                accept_counter,
            });
            self.snapshot();
        }
    }

    /// R[into] = `want` at (R[at], t_k), k = R[level][0], for the noise levels `times`.
    pub fn eval_at_level(&mut self, at: Reg, level: Reg, times: &[f64], into: Reg, want: Quantity) {
        let p = self.plan.process;
        assert!(!p.is_conditional(), "per-particle levels are not defined for the mean-reverting process");
        let levels = times
            .iter()
            .map(|&t| {
                let (a, b) = quantity_coefficients(self.plan.param, want, p.alpha(t), p.sigma(t));
                LevelCoefficients { t: t as f32, out_scale: a as f32, x_scale: b as f32 }
            })
            .collect();
        self.plan.ops.push(Op::EvalAtLevel { at, level, into, levels });
    }

    /// The Gibbs step on R[level] given R[x], over the noise levels `times`.
    pub fn gibbs_level(&mut self, x: Reg, level: Reg, times: &[f64], argmax: bool) {
        let counter = self.counter();
        let times = times.iter().map(|t| *t as f32).collect();
        self.plan.ops.push(Op::GibbsLevel { x, level, times, counter, argmax });
    }

    /// Emits `body`'s ops so that only particles whose level index is at most `index` run them.
    pub fn only_from_level(&mut self, level: Reg, index: usize, body: impl FnOnce(&mut Self)) {
        let at = self.plan.ops.len();
        self.plan.ops.push(Op::SkipIf { level, above: index as f32, ops: 0 });
        body(self);
        let emitted = (self.plan.ops.len() - at - 1) as u32;
        if let Op::SkipIf { ops, .. } = &mut self.plan.ops[at] {
            *ops = emitted;
        }
    }

    /// Emits an op a model's own plan builder made (the SDE-GAN generator's).
    pub fn emit(&mut self, op: Op) {
        self.plan.ops.push(op);
    }

    /// R[into] = the caller's input point.
    pub fn load_input(&mut self, into: Reg) {
        self.plan.ops.push(Op::LoadInput { into });
    }

    /// R[into] = g(R[at]): the model's diagonal diffusion.
    pub fn eval_diffusion(&mut self, at: Reg, into: Reg) {
        self.plan.ops.push(Op::EvalDiffusion { at, into });
    }

    /// R[into] += factor * R[diffusion] * (input row `row`), componentwise.
    pub fn add_increment(&mut self, into: Reg, diffusion: Reg, factor: f64, row: usize) {
        self.plan.ops.push(Op::AddIncrement { into, diffusion, factor: factor as f32, row: row as u32 });
    }

    /// The likelihood integration of x from t0 to t1 (see `Op::AdaptiveLikelihood`).
    #[allow(clippy::too_many_arguments)]
    pub fn adaptive_likelihood(
        &mut self,
        nll: Reg,
        t0: f64,
        t1: f64,
        rtol: f64,
        atol: f64,
        tableau: &ButcherTableau,
        prior_std: f64,
        hutchinson: bool,
    ) {
        let probe_counter = if hutchinson { Some(self.counter()) } else { None };
        self.plan.ops.push(Op::AdaptiveLikelihood {
            x: X,
            nll,
            t0: t0 as f32,
            t1: t1 as f32,
            max_steps: 100_000,
            tableau: *tableau,
            controller: controller_at(rtol, atol),
            prior_std: prior_std as f32,
            probe_counter,
        });
    }

    /// Marks R[reg][0] as the plan's per-particle value.
    pub fn set_value_register(&mut self, reg: Reg) {
        self.plan.value_register = Some(reg);
    }

    /// Records x as the next frame.
    pub fn snapshot(&mut self) {
        self.plan.ops.push(Op::Snapshot { reg: X, frame: self.frame });
        self.frame += 1;
    }

    pub fn finish(self) -> Plan {
        self.plan.validate().expect("samplers build valid plans");
        self.plan
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Every (parameterisation, quantity) map agrees with the direct formulas.
    #[test]
    fn quantity_maps_agree_with_the_definitions() {
        let (alpha, sigma) = (0.6, 0.7);
        let (x0, eps) = ([0.3, -0.5], [1.2, 0.4]);
        let x = [alpha * x0[0] + sigma * eps[0], alpha * x0[1] + sigma * eps[1]];
        let truth = |q: Quantity, d: usize| match q {
            Quantity::Eps => eps[d],
            Quantity::Score => -eps[d] / sigma,
            Quantity::X0 => x0[d],
            Quantity::Velocity => alpha * eps[d] - sigma * x0[d],
        };
        for param in Parameterisation::ALL {
            let out = [0, 1].map(|d| match param {
                Parameterisation::Eps => eps[d],
                Parameterisation::Score => -eps[d] / sigma,
                Parameterisation::X0 => x0[d],
                Parameterisation::V => alpha * eps[d] - sigma * x0[d],
                Parameterisation::Flow => eps[d] - x0[d],
            });
            for want in [Quantity::Eps, Quantity::Score, Quantity::X0, Quantity::Velocity] {
                let (a, b) = quantity_coefficients(param, want, alpha, sigma);
                for d in 0..2 {
                    let got = a * out[d] + b * x[d];
                    assert!((got - truth(want, d)).abs() < 1e-12, "{param:?} -> {want:?}: {got} vs {}", truth(want, d));
                }
            }
        }
    }

    #[test]
    fn validation_catches_undeclared_registers() {
        let mut plan = PlanBuilder::new("test", Process::vp(), Parameterisation::Eps).finish();
        plan.ops.push(Op::Axpy { into: 3, terms: vec![], offset: [0.0; 2], noise: 0.0, counter: 0 });
        assert!(plan.validate().unwrap_err().contains("register 3"));
    }

    /// A generator op's state spans 2 * ceil(dim / 2) registers: all must be declared, the
    /// readout must lie outside them, and its noise rows count towards the input rows.
    #[test]
    fn generator_ops_are_validated_over_their_whole_state() {
        let mut b = PlanBuilder::new("gen", Process::RectifiedFlow, Parameterisation::Flow);
        for _ in 0..8 {
            b.register();
        }
        let mut plan = b.finish();
        assert_eq!(plan.registers, 9);
        let start = |dim, into| Op::GeneratorStart { state: 1, dim, into, noise: 5, row: 0 };
        plan.ops = vec![start(8, 0)];
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.input_rows(), 3);
        plan.ops = vec![start(9, 0)];
        assert!(plan.validate().unwrap_err().contains("register 10"));
        plan.ops = vec![start(8, 4)];
        assert!(plan.validate().unwrap_err().contains("overwrites"));
        plan.ops = vec![start(0, 0)];
        assert!(plan.validate().is_err());
        plan.ops = vec![Op::GeneratorStep { state: 1, dim: 7, into: 0, t: 0.0, h: 1.0, noise: 3, row: 9 }];
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.input_rows(), 11);
    }
}
