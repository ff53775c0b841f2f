//! The latent SDE (Li et al. 2020; torchsde's latent_sde_lorenz.py, scaled down as LABS.md
//! says): a GRU reads the observations backwards in time and leaves a context c(t), held
//! constant between observations; q(z0 | c(t0)) is a diagonal Gaussian; the posterior
//! dz = f(t, z, c(t)) dt + g(z) o dW and the prior dz = h(z) dt + g(z) o dW share a diagonal
//! diffusion g_i(z_i) = sigmoid(MLP(z_i)) (diagonal noise needs g_i to depend on z_i alone);
//! x = L z + b is decoded with N(., 0.05^2) noise.
//!
//! The ELBO is E_q[sum_i log p(x_i | z_{t_i})] - KL(q(z0) || p(z0)) - E_q int |u|^2 / 2 dt with
//! u = (f - h) / g: the path term is integrated as an extra state (`f_logqp` in latent_sde.py),
//! so one solve gives both and one backward pass differentiates both. The SDE part is
//! differentiated by [`super::solve::backprop`] (reversible Heun's exact adjoint or stored
//! states); the encoder, q(z0), p(z0) and the KL between them by the tape, seeded with the
//! solve's cotangents of z0 and of each context.

use std::ops::Range;

use super::field::SdeField;
use super::solve::{backprop, solve, Memory, Observation, SdeMethod};
use crate::core::autodiff::tape::{Tape, Var};
use crate::core::nn::dense::Dense;
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::rng::RngStream;

const HALF_LOG_TAU: f64 = 0.918_938_533_204_672_8; // ln(2 pi) / 2

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentConfig {
    /// Latent dimension d.
    pub latent: usize,
    /// GRU hidden size.
    pub hidden: usize,
    /// Context size.
    pub context: usize,
    /// Width and depth of the drift networks (the diffusion nets are 1 -> width -> 1).
    pub width: usize,
    pub depth: usize,
    /// The decoder's observation noise.
    pub obs_noise: f64,
}

impl Default for LatentConfig {
    fn default() -> Self {
        LatentConfig { latent: 2, hidden: 16, context: 8, width: 32, depth: 2, obs_noise: 0.05 }
    }
}

/// Where each part sits in the flat parameters. The SDE's networks come first, so that the
/// field's parameter cotangents are a prefix of the model's.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    posterior: Range<usize>,
    prior: Range<usize>,
    diffusion: Vec<Range<usize>>,
    gru_w: Range<usize>,
    gru_u: Range<usize>,
    gru_b: Range<usize>,
    ctx_w: Range<usize>,
    ctx_b: Range<usize>,
    q_w: Range<usize>,
    q_b: Range<usize>,
    p0: Range<usize>,
    dec_w: Range<usize>,
    dec_b: Range<usize>,
    nets: usize,
    total: usize,
}

fn take(next: &mut usize, len: usize) -> Range<usize> {
    let r = *next..*next + len;
    *next += len;
    r
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatentSde {
    pub config: LatentConfig,
    posterior: Dense,
    prior: Dense,
    diffusion: Dense,
    layout: Layout,
    pub params: Vec<f64>,
}

/// The three parts of the negative ELBO of one path (KL terms unweighted).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ElboTerms {
    /// -sum_i log p(x_i | z_{t_i}).
    pub nll: f64,
    /// KL(q(z0) || p(z0)).
    pub kl0: f64,
    /// The path KL, int |u|^2 / 2 dt.
    pub kl_path: f64,
}

impl ElboTerms {
    pub fn elbo(&self) -> f64 {
        -(self.nll + self.kl0 + self.kl_path)
    }

    pub fn add(&mut self, other: &ElboTerms) {
        self.nll += other.nll;
        self.kl0 += other.kl0;
        self.kl_path += other.kl_path;
    }

    pub fn scaled(&self, k: f64) -> ElboTerms {
        ElboTerms { nll: self.nll * k, kl0: self.kl0 * k, kl_path: self.kl_path * k }
    }
}

/// A solve's grid: every observation time is a step end; each observation interval is cut
/// into ceil(gap / dt) equal steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub times: Vec<f64>,
    /// The grid index of each observation time.
    pub obs_steps: Vec<usize>,
}

impl Grid {
    pub fn new(obs_times: &[f64], dt: f64) -> Result<Grid, String> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(format!("the step dt must be a positive number, got {dt}"));
        }
        let mut times = vec![obs_times[0]];
        let mut obs_steps = vec![0];
        for w in obs_times.windows(2) {
            let pieces = ((w[1] - w[0]) / dt).ceil().max(1.0) as usize;
            if times.len() + pieces > 200_000 {
                return Err(format!("dt = {dt} makes more than 200000 steps: take a larger dt"));
            }
            for k in 1..pieces {
                times.push(w[0] + (w[1] - w[0]) * k as f64 / pieces as f64);
            }
            times.push(w[1]);
            obs_steps.push(times.len() - 1);
        }
        Ok(Grid { times, obs_steps })
    }

    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }
}

/// The index of the observation interval holding t (right-continuous: at an observation
/// time, the interval it starts).
fn segment(obs_times: &[f64], t: f64) -> usize {
    let slack = 1e-12 * (1.0 + t.abs());
    obs_times.partition_point(|&s| s <= t + slack).saturating_sub(1).min(obs_times.len() - 1)
}

impl LatentSde {
    pub fn new(config: LatentConfig) -> Result<Self, String> {
        let LatentConfig { latent: d, hidden: hd, context: c, width, depth, obs_noise } = config;
        if !(1..=8).contains(&d) || !(1..=128).contains(&hd) || !(1..=64).contains(&c) {
            return Err(format!("latent 1-8, hidden 1-128 and context 1-64, got {d}, {hd}, {c}"));
        }
        if !(obs_noise.is_finite() && obs_noise > 0.0) {
            return Err(format!("the observation noise must be positive, got {obs_noise}"));
        }
        let soft = DenseActivation::Softplus;
        let posterior = Dense::mlp(1 + d + c, width, depth, d, soft, DenseActivation::Identity)?;
        let prior = Dense::mlp(d, width, depth, d, soft, DenseActivation::Identity)?;
        let diffusion = Dense::mlp(1, width, 1, 1, soft, DenseActivation::Sigmoid)?;
        let mut next = 0;
        let posterior_range = take(&mut next, posterior.param_count());
        let prior_range = take(&mut next, prior.param_count());
        let diffusion_ranges = (0..d).map(|_| take(&mut next, diffusion.param_count())).collect();
        let nets = next;
        let layout = Layout {
            posterior: posterior_range,
            prior: prior_range,
            diffusion: diffusion_ranges,
            gru_w: take(&mut next, 3 * hd),
            gru_u: take(&mut next, 3 * hd * hd),
            gru_b: take(&mut next, 3 * hd),
            ctx_w: take(&mut next, c * hd),
            ctx_b: take(&mut next, c),
            q_w: take(&mut next, 2 * d * c),
            q_b: take(&mut next, 2 * d),
            p0: take(&mut next, 2 * d),
            dec_w: take(&mut next, d),
            dec_b: take(&mut next, 1),
            nets,
            total: next,
        };
        let params = vec![0.0; layout.total];
        Ok(LatentSde { config, posterior, prior, diffusion, layout, params })
    }

    /// Fresh parameters keyed by seed: the networks by their own init, every linear map
    /// uniform in +-1/sqrt(fan in), p(z0) standard normal.
    pub fn initialised(mut self, seed: u64) -> Self {
        let l = self.layout.clone();
        let mut p = vec![0.0; l.total];
        p[l.posterior.clone()].copy_from_slice(&self.posterior.init(seed, 1));
        p[l.prior.clone()].copy_from_slice(&self.prior.init(seed, 2));
        for (i, r) in l.diffusion.iter().enumerate() {
            p[r.clone()].copy_from_slice(&self.diffusion.init(seed, 3 + i as u64));
        }
        let mut rng = RngStream::new(seed, 0x4c41_5445);
        let hd = self.config.hidden as f64;
        for (range, fan_in) in [
            (&l.gru_w, 1.0),
            (&l.gru_u, hd),
            (&l.gru_b, hd),
            (&l.ctx_w, hd),
            (&l.ctx_b, hd),
            (&l.q_w, self.config.context as f64),
            (&l.q_b, self.config.context as f64),
            (&l.dec_w, self.config.latent as f64),
        ] {
            let bound = 1.0 / fan_in.sqrt();
            for v in &mut p[range.clone()] {
                *v = bound * (2.0 * rng.uniform() - 1.0);
            }
        }
        self.params = p;
        self
    }

    pub fn param_count(&self) -> usize {
        self.layout.total
    }

    /// The prior's initial distribution: (means, standard deviations).
    pub fn prior_start(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.config.latent;
        let p0 = &self.params[self.layout.p0.clone()];
        (p0[..d].to_vec(), p0[d..].iter().map(|s| s.exp()).collect())
    }

    /// x = L z + b.
    pub fn decode(&self, z: &[f64]) -> f64 {
        let w = &self.params[self.layout.dec_w.clone()];
        w.iter().zip(z).map(|(w, z)| w * z).sum::<f64>() + self.params[self.layout.dec_b.start]
    }

    /// The decoder's loading L of x = L z + b.
    pub fn decoder_loading(&self) -> &[f64] {
        &self.params[self.layout.dec_w.clone()]
    }

    /// The decoded prior drift L h(z): the model's drift in data space at a latent point.
    pub fn decoded_prior_drift(&self, z: &[f64]) -> f64 {
        let h = self.prior.forward(&self.params[self.layout.prior.clone()], z);
        let w = &self.params[self.layout.dec_w.clone()];
        w.iter().zip(&h).map(|(w, h)| w * h).sum()
    }

    /// g_i(z_i) for every coordinate.
    pub fn diffusion_at(&self, z: &[f64]) -> Vec<f64> {
        self.layout
            .diffusion
            .iter()
            .zip(z)
            .map(|(r, zi)| self.diffusion.forward(&self.params[r.clone()], &[*zi])[0])
            .collect()
    }

    /// The GRU over the observations in reverse, and one context per observation time (the
    /// context at t_i summarises x_i .. x_N). Missing values (NaN) leave the state as it is.
    fn encode(&self, tape: &mut Tape, leaves: &Leaves, values: &[f64]) -> Vec<Var> {
        let hd = self.config.hidden;
        let mut h = tape.constant(vec![0.0; hd]);
        let mut contexts = vec![None; values.len()];
        for i in (0..values.len()).rev() {
            if values[i].is_finite() {
                h = gru_step(tape, leaves, hd, h, values[i]);
            }
            contexts[i] = Some(tape.affine(leaves.ctx_w, h, leaves.ctx_b));
        }
        contexts.into_iter().map(|c| c.expect("a context")).collect()
    }

    /// The negative ELBO of one path (the KL terms weighted by `beta`) with its gradient added
    /// into `grad`. `eps` draws z0 from q; `increments` are the Brownian increments on
    /// `grid` (d values each).
    #[allow(clippy::too_many_arguments)]
    pub fn path_gradient(
        &self,
        obs_times: &[f64],
        values: &[f64],
        grid: &Grid,
        increments: &[Vec<f64>],
        eps: &[f64],
        beta: f64,
        method: SdeMethod,
        memory: Memory,
        grad: &mut [f64],
    ) -> Result<ElboTerms, String> {
        let (d, l) = (self.config.latent, &self.layout);
        let mut tape = Tape::new();
        let leaves = Leaves::new(&mut tape, &self.params, l);
        let contexts = self.encode(&mut tape, &leaves, values);
        let (z0, kl0) = self.start(&mut tape, &leaves, contexts[0], eps);
        let context_values: Vec<f64> = contexts.iter().flat_map(|c| tape.value(*c).to_vec()).collect();
        let field = PosteriorField { model: self, obs_times, contexts: &context_values };
        let mut y0 = tape.value(z0).to_vec();
        y0.push(0.0);
        let mut dec_grad = vec![0.0; d + 1];
        let mut obs_index = 0;
        let last = grid.steps();
        let sigma = self.config.obs_noise;
        let observe = |n: usize, y: &[f64]| -> Observation {
            let mut value = 0.0;
            let mut g = vec![0.0; d + 1];
            let mut any = false;
            if obs_index < grid.obs_steps.len() && grid.obs_steps[obs_index] == n {
                let x = values[obs_index];
                obs_index += 1;
                if x.is_finite() {
                    let r = (self.decode(&y[..d]) - x) / sigma;
                    value += 0.5 * r * r + sigma.ln() + HALF_LOG_TAU;
                    let w = &self.params[l.dec_w.clone()];
                    for k in 0..d {
                        g[k] += r / sigma * w[k];
                        dec_grad[k] += r / sigma * y[k];
                    }
                    dec_grad[d] += r / sigma;
                    any = true;
                }
            }
            if n == last {
                value += beta * y[d];
                g[d] += beta;
                any = true;
            }
            any.then_some((value, g))
        };
        let result = backprop(&field, method, memory, &grid.times, &y0, increments, observe)?;
        let kl_path = result.final_state[d];
        let nll = result.loss - beta * kl_path;
        let kl0_value = tape.scalar(kl0);
        // The SDE's nets and the decoder directly; the rest through the tape.
        for (g, p) in grad[..l.nets].iter_mut().zip(&result.p_bar[..l.nets]) {
            *g += p;
        }
        for k in 0..d {
            grad[l.dec_w.start + k] += dec_grad[k];
        }
        grad[l.dec_b.start] += dec_grad[d];
        let mut total = tape.scale_by(kl0, beta);
        let z0_bar = tape.constant(result.y0_bar[..d].to_vec());
        let pull = tape.dot(z0, z0_bar);
        total = tape.add(total, pull);
        let c = self.config.context;
        for (i, ctx) in contexts.iter().enumerate() {
            let bar = &result.p_bar[l.nets + i * c..l.nets + (i + 1) * c];
            if bar.iter().any(|v| *v != 0.0) {
                let bar = tape.constant(bar.to_vec());
                let pull = tape.dot(*ctx, bar);
                total = tape.add(total, pull);
            }
        }
        let cot = tape.gradient(total);
        leaves.add_gradient(&cot, l, grad);
        Ok(ElboTerms { nll, kl0: kl0_value, kl_path })
    }

    /// z0 = mu_q + sigma_q eps from the first context, and KL(q(z0) || p(z0)).
    fn start(&self, tape: &mut Tape, leaves: &Leaves, context0: Var, eps: &[f64]) -> (Var, Var) {
        let d = self.config.latent;
        let q = tape.affine(leaves.q_w, context0, leaves.q_b);
        let q_mean = tape.slice(q, 0, d);
        let q_log_std = tape.slice(q, d, d);
        let q_std = tape.exp(q_log_std);
        let eps = tape.constant(eps.to_vec());
        let noise = tape.mul(q_std, eps);
        let z0 = tape.add(q_mean, noise);
        let p_mean = tape.slice(leaves.p0, 0, d);
        let p_log_std = tape.slice(leaves.p0, d, d);
        // KL = sum log sp - log sq + (sq^2 + (mq - mp)^2) / (2 sp^2) - 1/2.
        let log_ratio = tape.sub(p_log_std, q_log_std);
        let q_var = tape.mul(q_std, q_std);
        let gap = tape.sub(q_mean, p_mean);
        let gap2 = tape.mul(gap, gap);
        let numerator = tape.add(q_var, gap2);
        let two_log_p = tape.scale_by(p_log_std, -2.0);
        let inv_p_var = tape.exp(two_log_p);
        let ratio = tape.mul(numerator, inv_p_var);
        let half = tape.scale_by(ratio, 0.5);
        let per = tape.add(log_ratio, half);
        let per = tape.shift(per, -0.5);
        let kl0 = tape.sum(per);
        (z0, kl0)
    }

    /// One path of the prior at the observation times, in the latent space: z0 ~ p(z0),
    /// dz = h dt + g o dW (Stratonovich for reversible Heun, Ito for EM); its draws depend on
    /// (seed, path) only. `decode` gives the data-space path.
    pub fn sample_latent(
        &self,
        obs_times: &[f64],
        dt: f64,
        method: SdeMethod,
        path: u64,
        seed: u64,
    ) -> Result<Vec<Vec<f64>>, String> {
        let grid = Grid::new(obs_times, dt)?;
        let (z0, increments) = self.prior_draws(&grid, path, seed);
        let states = solve(&PriorField { model: self }, method, &grid.times, &z0, &increments)?;
        Ok(grid.obs_steps.iter().map(|&n| states[n].clone()).collect())
    }

    /// What drives one prior path on `grid`: z0 ~ p(z0) and the Brownian increments of each
    /// step, keyed by (seed, path). The plan executors run the same path from these
    /// (`super::sde_model`).
    pub fn prior_draws(&self, grid: &Grid, path: u64, seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
        let (mean, std) = self.prior_start();
        let mut rng = RngStream::new(seed ^ 0x5a4d_504c, path);
        let z0: Vec<f64> = (0..self.config.latent).map(|k| mean[k] + std[k] * rng.normal()).collect();
        (z0, brownian_increments(&grid.times, self.config.latent, seed, path))
    }

    /// The prior's networks with their parameters: the drift h, then the diffusion net and
    /// each coordinate's parameters for it.
    pub fn prior_nets(&self) -> (&Dense, &[f64], &Dense, Vec<&[f64]>) {
        let l = &self.layout;
        let diffusion = l.diffusion.iter().map(|r| &self.params[r.clone()]).collect();
        (&self.prior, &self.params[l.prior.clone()], &self.diffusion, diffusion)
    }
}

/// Brownian increments on a grid from the virtual Brownian tree keyed by (seed, path): the
/// same seed gives the same path whatever the grid.
pub fn brownian_increments(times: &[f64], dim: usize, seed: u64, path: u64) -> Vec<Vec<f64>> {
    let (t0, t1) = (times[0], *times.last().expect("a grid"));
    let tree = crate::core::solve::brownian::VirtualBrownianTree::new(seed, path, t0, t1, dim);
    let values = tree.values(times);
    values.windows(2).map(|w| w[1].iter().zip(&w[0]).map(|(b, a)| b - a).collect()).collect()
}

fn gru_step(tape: &mut Tape, leaves: &Leaves, hd: usize, h: Var, x: f64) -> Var {
    // PyTorch's gates: r = s(W_r x + U_r h + b_r), z = s(W_z x + U_z h + b_z),
    // n = tanh(W_n x + b_n + r * (U_n h)), h' = n + z (h - n).
    let x = tape.constant(vec![x]);
    let wx = tape.matvec(leaves.gru_w, x, 3 * hd);
    let uh = tape.matvec(leaves.gru_u, h, 3 * hd);
    let input = tape.add(wx, leaves.gru_b);
    let (in_r, in_z, in_n) = (tape.slice(input, 0, hd), tape.slice(input, hd, hd), tape.slice(input, 2 * hd, hd));
    let (uh_r, uh_z, uh_n) = (tape.slice(uh, 0, hd), tape.slice(uh, hd, hd), tape.slice(uh, 2 * hd, hd));
    let r = tape.add(in_r, uh_r);
    let r = tape.activation(r, DenseActivation::Sigmoid);
    let z = tape.add(in_z, uh_z);
    let z = tape.activation(z, DenseActivation::Sigmoid);
    let gated = tape.mul(r, uh_n);
    let n = tape.add(in_n, gated);
    let n = tape.activation(n, DenseActivation::Tanh);
    let diff = tape.sub(h, n);
    let kept = tape.mul(z, diff);
    tape.add(n, kept)
}

/// The encoder's and the start's parameters as tape leaves.
struct Leaves {
    gru_w: Var,
    gru_u: Var,
    gru_b: Var,
    ctx_w: Var,
    ctx_b: Var,
    q_w: Var,
    q_b: Var,
    p0: Var,
}

impl Leaves {
    fn new(tape: &mut Tape, p: &[f64], l: &Layout) -> Self {
        let mut leaf = |r: &Range<usize>| tape.leaf(p[r.clone()].to_vec());
        Leaves {
            gru_w: leaf(&l.gru_w),
            gru_u: leaf(&l.gru_u),
            gru_b: leaf(&l.gru_b),
            ctx_w: leaf(&l.ctx_w),
            ctx_b: leaf(&l.ctx_b),
            q_w: leaf(&l.q_w),
            q_b: leaf(&l.q_b),
            p0: leaf(&l.p0),
        }
    }

    fn add_gradient(&self, cot: &crate::core::autodiff::tape::Cotangents, l: &Layout, grad: &mut [f64]) {
        for (var, range) in [
            (self.gru_w, &l.gru_w),
            (self.gru_u, &l.gru_u),
            (self.gru_b, &l.gru_b),
            (self.ctx_w, &l.ctx_w),
            (self.ctx_b, &l.ctx_b),
            (self.q_w, &l.q_w),
            (self.q_b, &l.q_b),
            (self.p0, &l.p0),
        ] {
            for (g, c) in grad[range.clone()].iter_mut().zip(cot.of(var)) {
                *g += c;
            }
        }
    }
}

/// The posterior SDE of one path with the path-KL integrand as an extra state:
/// y = (z, l), dz = f(t, z, c(t)) dt + diag(g(z)) o dW, dl = |u|^2 / 2 dt, u = (f - h) / g.
/// Its parameters (for the solver) are the SDE's nets followed by the path's contexts.
pub struct PosteriorField<'a> {
    pub model: &'a LatentSde,
    pub obs_times: &'a [f64],
    /// One context per observation time, flattened.
    pub contexts: &'a [f64],
}

impl PosteriorField<'_> {
    fn input(&self, t: f64, z: &[f64]) -> (Vec<f64>, usize) {
        let c = self.model.config.context;
        let seg = segment(self.obs_times, t);
        let mut x = Vec::with_capacity(1 + z.len() + c);
        x.push(t);
        x.extend_from_slice(z);
        x.extend_from_slice(&self.contexts[seg * c..(seg + 1) * c]);
        (x, seg)
    }
}

impl SdeField for PosteriorField<'_> {
    fn dim(&self) -> usize {
        self.model.config.latent + 1
    }

    fn noise_dim(&self) -> usize {
        self.model.config.latent
    }

    fn param_count(&self) -> usize {
        self.model.layout.nets + self.contexts.len()
    }

    fn eval(&self, t: f64, y: &[f64], f: &mut [f64], g: &mut [f64]) {
        let m = self.model;
        let d = m.config.latent;
        let z = &y[..d];
        let (x, _) = self.input(t, z);
        let post = m.posterior.forward(&m.params[m.layout.posterior.clone()], &x);
        let prior = m.prior.forward(&m.params[m.layout.prior.clone()], z);
        let diff = m.diffusion_at(z);
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut kl = 0.0;
        for i in 0..d {
            f[i] = post[i];
            g[i * d + i] = diff[i];
            let u = (post[i] - prior[i]) / diff[i];
            kl += 0.5 * u * u;
        }
        f[d] = kl;
    }

    fn vjp(&self, t: f64, y: &[f64], f_bar: &[f64], g_bar: &[f64], y_bar: &mut [f64], p_bar: &mut [f64]) {
        let m = self.model;
        let (d, c, l) = (m.config.latent, m.config.context, &m.layout);
        let z = &y[..d];
        let (x, seg) = self.input(t, z);
        let post = m.posterior.forward(&m.params[l.posterior.clone()], &x);
        let prior = m.prior.forward(&m.params[l.prior.clone()], z);
        let diff = m.diffusion_at(z);
        let kl_bar = f_bar[d];
        let (mut post_bar, mut prior_bar, mut diff_bar) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
        for i in 0..d {
            let u = (post[i] - prior[i]) / diff[i];
            post_bar[i] = f_bar[i] + kl_bar * u / diff[i];
            prior_bar[i] = -kl_bar * u / diff[i];
            diff_bar[i] = g_bar[i * d + i] - kl_bar * u * u / diff[i];
        }
        let (_, dx) = m.posterior.vjp(&m.params[l.posterior.clone()], &x, &post_bar, &mut p_bar[l.posterior.clone()]);
        for i in 0..d {
            y_bar[i] += dx[1 + i];
        }
        let ctx_start = l.nets + seg * c;
        for k in 0..c {
            p_bar[ctx_start + k] += dx[1 + d + k];
        }
        let (_, dz) = m.prior.vjp(&m.params[l.prior.clone()], z, &prior_bar, &mut p_bar[l.prior.clone()]);
        for i in 0..d {
            y_bar[i] += dz[i];
        }
        for (i, r) in l.diffusion.iter().enumerate() {
            let (_, dzi) = m.diffusion.vjp(&m.params[r.clone()], &[z[i]], &[diff_bar[i]], &mut p_bar[r.clone()]);
            y_bar[i] += dzi[0];
        }
    }
}

/// The prior SDE: dz = h(z) dt + diag(g(z)) o dW. Its parameters are the model's nets.
pub struct PriorField<'a> {
    pub model: &'a LatentSde,
}

impl SdeField for PriorField<'_> {
    fn dim(&self) -> usize {
        self.model.config.latent
    }

    fn noise_dim(&self) -> usize {
        self.model.config.latent
    }

    fn param_count(&self) -> usize {
        self.model.layout.nets
    }

    fn eval(&self, _t: f64, y: &[f64], f: &mut [f64], g: &mut [f64]) {
        let m = self.model;
        let d = m.config.latent;
        f.copy_from_slice(&m.prior.forward(&m.params[m.layout.prior.clone()], y));
        g.iter_mut().for_each(|v| *v = 0.0);
        for (i, s) in m.diffusion_at(y).into_iter().enumerate() {
            g[i * d + i] = s;
        }
    }

    fn vjp(&self, _t: f64, y: &[f64], f_bar: &[f64], g_bar: &[f64], y_bar: &mut [f64], p_bar: &mut [f64]) {
        let m = self.model;
        let (d, l) = (m.config.latent, &m.layout);
        let (_, dz) = m.prior.vjp(&m.params[l.prior.clone()], y, f_bar, &mut p_bar[l.prior.clone()]);
        for i in 0..d {
            y_bar[i] += dz[i];
        }
        for (i, r) in l.diffusion.iter().enumerate() {
            let (_, dzi) = m.diffusion.vjp(&m.params[r.clone()], &[y[i]], &[g_bar[i * d + i]], &mut p_bar[r.clone()]);
            y_bar[i] += dzi[0];
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nsde::data::{generate, NsdeDataId};

    fn small() -> LatentSde {
        let config = LatentConfig { latent: 2, hidden: 4, context: 3, width: 6, depth: 1, obs_noise: 0.2 };
        LatentSde::new(config).unwrap().initialised(3)
    }

    /// Sets a network's last layer to weights 0 and bias `b`: a constant output.
    fn make_constant(net: &Dense, params: &mut [f64], b: &[f64]) {
        let last = *net.layers().last().unwrap();
        params[last.weights..last.weights + last.inputs * last.outputs].iter_mut().for_each(|w| *w = 0.0);
        params[last.bias..last.bias + last.outputs].copy_from_slice(b);
    }

    fn terms(model: &LatentSde, method: SdeMethod, dt: f64) -> ElboTerms {
        let set = generate(NsdeDataId::Ou, 1, 0.0, 5);
        let grid = Grid::new(&set.times, dt).unwrap();
        let incs = brownian_increments(&grid.times, 2, 8, 0);
        let mut grad = vec![0.0; model.param_count()];
        let memory = if method == SdeMethod::EulerMaruyama { Memory::Stored } else { Memory::Reversible };
        model
            .path_gradient(&set.times, &set.paths[0], &grid, &incs, &[0.3, -0.7], 1.0, method, memory, &mut grad)
            .unwrap()
    }

    /// The path KL's exact cases (LABS.md): with f = h it is 0; with f - h = c and g = s
    /// constant it is c^2 T / (2 s^2) per coordinate, for any step size and either solver.
    #[test]
    fn path_kl_has_its_exact_values() {
        for method in SdeMethod::ALL {
            for dt in [0.02, 0.3] {
                let mut model = small();
                let l = model.layout.clone();
                let (post, prior, diff) = (model.posterior.clone(), model.prior.clone(), model.diffusion.clone());
                make_constant(&post, &mut model.params[l.posterior.clone()], &[0.4, -0.1]);
                make_constant(&prior, &mut model.params[l.prior.clone()], &[0.4, -0.1]);
                assert_eq!(terms(&model, method, dt).kl_path, 0.0, "{} f = h", method.name());
                make_constant(&prior, &mut model.params[l.prior.clone()], &[0.1, 0.5]);
                let s: [f64; 2] = [0.3, 0.8];
                for (i, r) in l.diffusion.iter().enumerate() {
                    make_constant(&diff, &mut model.params[r.clone()], &[(s[i] / (1.0 - s[i])).ln()]);
                }
                let exact: f64 = [(0.3, s[0]), (-0.6, s[1])].iter().map(|(c, s)| c * c * 2.0 / (2.0 * s * s)).sum();
                let got = terms(&model, method, dt).kl_path;
                assert!((got - exact).abs() < 1e-12 * exact, "{} dt {dt}: {got} vs {exact}", method.name());
            }
        }
    }

    /// The ELBO's gradient: reversible Heun's adjoint equals stored back-propagation to 1e-9,
    /// and both (and EM's) equal central differences of the discrete loss on one fixed
    /// Brownian path to 1e-6, through the encoder, q(z0), p(z0), the SDE and the decoder.
    #[test]
    fn elbo_gradient_matches_stored_backprop_and_finite_differences() {
        let model = small();
        let set = generate(NsdeDataId::Ou, 1, 0.2, 6);
        let times = &set.times[..12];
        let values = &set.paths[0][..12];
        let grid = Grid::new(times, 0.05).unwrap();
        let incs = brownian_increments(&grid.times, 2, 8, 0);
        let eps = [0.3, -0.7];
        let run = |m: &LatentSde, method: SdeMethod, memory: Memory| {
            let mut grad = vec![0.0; m.param_count()];
            let t = m.path_gradient(times, values, &grid, &incs, &eps, 0.7, method, memory, &mut grad).unwrap();
            (t.nll + 0.7 * (t.kl0 + t.kl_path), grad)
        };
        let (_, stored) = run(&model, SdeMethod::ReversibleHeun, Memory::Stored);
        let (_, reversible) = run(&model, SdeMethod::ReversibleHeun, Memory::Reversible);
        let scale = stored.iter().map(|v| v.abs()).fold(1.0, f64::max);
        for (a, b) in stored.iter().zip(&reversible) {
            assert!((a - b).abs() <= 1e-9 * scale, "reversible {b} vs stored {a}");
        }
        for (method, memory) in
            [(SdeMethod::ReversibleHeun, Memory::Reversible), (SdeMethod::EulerMaruyama, Memory::Stored)]
        {
            let (_, grad) = run(&model, method, memory);
            let eps = 1e-6;
            let mut checked = 0;
            for i in (0..model.param_count()).step_by(5) {
                let (mut up, mut down) = (model.clone(), model.clone());
                up.params[i] += eps;
                down.params[i] -= eps;
                let fd = (run(&up, method, memory).0 - run(&down, method, memory).0) / (2.0 * eps);
                assert!(
                    (fd - grad[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{} param {i}: {} vs FD {fd}",
                    method.name(),
                    grad[i]
                );
                checked += usize::from(grad[i] != 0.0);
            }
            assert!(checked > model.param_count() / 10, "too few nonzero gradients checked: {checked}");
        }
    }

    #[test]
    fn grids_hold_every_observation_time() {
        let times = NsdeDataId::Ou.times();
        let grid = Grid::new(&times, 0.02).unwrap();
        for (i, &n) in grid.obs_steps.iter().enumerate() {
            assert_eq!(grid.times[n], times[i]);
        }
        assert_eq!(grid.steps(), 39 * 3);
        assert!(Grid::new(&times, 0.0).unwrap_err().contains("positive"));
        assert!(Grid::new(&times, 1e-7).unwrap_err().contains("larger dt"));
        assert_eq!(segment(&times, times[5]), 5);
        assert_eq!(segment(&times, times[5] - 1e-9), 4);
        assert_eq!(segment(&times, 9.0), 39);
    }
}
