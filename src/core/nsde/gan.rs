//! The SDE-GAN (Kidger et al. 2021; torchsde's sde_gan.py, diffrax's neural_sde example),
//! scaled to the CLI's budget:
//!
//! - generator: X0 = zeta(V), V ~ N(0, I_5); dX = mu(t, X) dt + sigma(t, X) o dW with X in R^16
//!   and W in R^3 (general noise: [`GeneratorField`]), solved by reversible Heun on the
//!   observation grid; Y = l(X), observed at every data time;
//! - discriminator: a neural CDE on the linearly interpolated path (t, Y): H0 = xi(t0, Y0),
//!   dH = F(t, H) d(t, Y), one Heun step per observation interval, D = m . H_T;
//! - Wasserstein loss: the discriminator minimises E D(fake) - E D(real), the generator
//!   maximises it; every linear layer of the discriminator is clipped to +-1/out_features
//!   after each step and its activations are LipSwish (a Lipschitz critic);
//! - one backward pass gives both gradients (the generator's through the CDE's cotangent in
//!   Y, then reversible Heun's exact adjoint); the generator's weights are averaged from the
//!   middle of training on, and the average is what is evaluated.
//!
//! Data are normalised by the mean and standard deviation of the initial observations
//! (torchsde's example); dropped values are filled linearly along each path (torchcde's rule),
//! so the discriminator sees an irregularly sampled path as its interpolation.

use super::data::{generate, NsdeDataId, PathSet};
use super::field::GeneratorField;
use super::fit::{evaluation_of, NsdeEvaluation};
use super::latent::brownian_increments;
use super::solve::{backprop, solve, Memory, SdeMethod};
use crate::core::nn::adam::AdamF64;
use crate::core::nn::dense::{Dense, DenseLayer};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::parallel::for_each_mut;
use crate::core::path::fill::fill_linear;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, PartialEq)]
pub struct GanConfig {
    pub data: NsdeDataId,
    pub drop: f64,
    /// Generator state and noise sizes, initial noise size.
    pub state: usize,
    pub noise: usize,
    pub initial_noise: usize,
    /// Width of every MLP; the discriminator's hidden state.
    pub width: usize,
    pub hidden: usize,
    pub train_paths: usize,
    pub batch: usize,
    pub lr_generator: f64,
    pub lr_discriminator: f64,
    pub steps: usize,
    pub seed: u64,
}

impl GanConfig {
    pub fn cli_default() -> Self {
        GanConfig {
            data: NsdeDataId::OuTdep,
            drop: NsdeDataId::OuTdep.default_drop(),
            state: 16,
            noise: 3,
            initial_noise: 5,
            width: 16,
            hidden: 16,
            train_paths: 8192,
            batch: 128,
            lr_generator: 2e-3,
            lr_discriminator: 4e-3,
            steps: 1000,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=0.9).contains(&self.drop) {
            return Err(format!("--drop must be in [0, 0.9], got {}", self.drop));
        }
        if !(1..=4096).contains(&self.batch) || !(16..=65_536).contains(&self.train_paths) {
            return Err(format!(
                "--batch 1 to 4096 and --paths 16 to 65536, got {} and {}",
                self.batch, self.train_paths
            ));
        }
        for lr in [self.lr_generator, self.lr_discriminator] {
            if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
                return Err(format!("--lr must be in (0, 1], got {lr}"));
            }
        }
        if !(1..=1_000_000).contains(&self.steps) {
            return Err(format!("--steps must be 1 to 1000000, got {}", self.steps));
        }
        Ok(())
    }
}

/// Where the generator's parts sit in its flat parameters: [initial net, fields, readout].
#[derive(Debug, Clone)]
pub struct Generator {
    pub initial: Dense,
    pub field: GeneratorField,
    pub readout: Dense,
}

impl Generator {
    fn new(c: &GanConfig) -> Result<Self, String> {
        let initial =
            Dense::mlp(c.initial_noise, c.width, 1, c.state, DenseActivation::LipSwish, DenseActivation::Identity)?;
        let field = GeneratorField::new(c.state, c.noise, c.width, 1)?;
        let readout = Dense::new(&[c.state, 1], DenseActivation::Identity, DenseActivation::Identity)?;
        Ok(Generator { initial, field, readout })
    }

    /// Parameter counts of the initial net, the fields and the readout, in that order.
    pub fn counts(&self) -> [usize; 3] {
        [self.initial.param_count(), self.field.params.len(), self.readout.param_count()]
    }

    pub fn param_count(&self) -> usize {
        self.counts().iter().sum()
    }

    /// torchsde's initialisation: the initial-condition net's weights x 3, the fields' x 0.5.
    fn init(&mut self, seed: u64) -> Vec<f64> {
        let mut p: Vec<f64> = self.initial.init(seed, 21).into_iter().map(|w| 3.0 * w).collect();
        self.field = self.field.clone().initialised(seed, 22, 0.5);
        p.extend(self.field.params.iter().copied());
        p.extend(self.readout.init(seed, 24));
        p
    }

    fn load(&mut self, params: &[f64]) {
        let [a, b, _] = self.counts();
        self.field.params.copy_from_slice(&params[a..a + b]);
    }

    /// One path's Y at the grid times from its draws.
    fn path(&self, params: &[f64], times: &[f64], v: &[f64], increments: &[Vec<f64>]) -> Result<Vec<f64>, String> {
        let [a, b, _] = self.counts();
        let x0 = self.initial.forward(&params[..a], v);
        let states = solve(&self.field, SdeMethod::ReversibleHeun, times, &x0, increments)?;
        Ok(states.iter().map(|x| self.readout.forward(&params[a + b..], x)[0]).collect())
    }
}

/// The discriminator: [xi (2 -> width -> hidden), F (1 + hidden -> width -> 2 hidden), m].
#[derive(Debug, Clone)]
pub struct Discriminator {
    pub initial: Dense,
    pub field: Dense,
    pub readout: Dense,
    hidden: usize,
}

impl Discriminator {
    fn new(c: &GanConfig) -> Result<Self, String> {
        let lip = DenseActivation::LipSwish;
        Ok(Discriminator {
            initial: Dense::mlp(2, c.width, 1, c.hidden, lip, DenseActivation::Identity)?,
            field: Dense::mlp(1 + c.hidden, c.width, 1, 2 * c.hidden, lip, DenseActivation::Tanh)?,
            readout: Dense::new(&[c.hidden, 1], DenseActivation::Identity, DenseActivation::Identity)?,
            hidden: c.hidden,
        })
    }

    /// Parameter counts of the initial net, the fields and the readout, in that order.
    pub fn counts(&self) -> [usize; 3] {
        [self.initial.param_count(), self.field.param_count(), self.readout.param_count()]
    }

    pub fn param_count(&self) -> usize {
        self.counts().iter().sum()
    }

    fn init(&self, seed: u64) -> Vec<f64> {
        let mut p: Vec<f64> = self.initial.init(seed, 31);
        p.extend(self.field.init(seed, 32).into_iter().map(|w| 0.5 * w));
        p.extend(self.readout.init(seed, 33));
        p
    }

    /// Each linear layer's weights into +-1/out_features.
    fn clip(&self, params: &mut [f64]) {
        let mut offset = 0;
        for net in [&self.initial, &self.field, &self.readout] {
            for DenseLayer { inputs, outputs, weights, .. } in net.layers() {
                let lim = 1.0 / outputs as f64;
                for w in &mut params[offset + weights..offset + weights + inputs * outputs] {
                    *w = w.clamp(-lim, lim);
                }
            }
            offset += net.param_count();
        }
    }

    /// F(t, H) . (dt, dy).
    fn increment(&self, p: &[f64], t: f64, h: &[f64], dt: f64, dy: f64) -> (Vec<f64>, Vec<f64>) {
        let mut x = vec![t];
        x.extend_from_slice(h);
        let f = self.field.forward(p, &x);
        let inc = (0..self.hidden).map(|i| f[2 * i] * dt + f[2 * i + 1] * dy).collect();
        (inc, f)
    }

    /// D(path) and, with `seed`, its gradient: parameters into `grad` (scaled by seed) and
    /// the path's values returned.
    pub fn score(
        &self,
        params: &[f64],
        times: &[f64],
        ys: &[f64],
        seed: Option<f64>,
        grad: &mut [f64],
    ) -> (f64, Vec<f64>) {
        let [a, b, _] = self.counts();
        let (pi, pf, pm) = (&params[..a], &params[a..a + b], &params[a + b..]);
        let hd = self.hidden;
        let mut hs = vec![self.initial.forward(pi, &[times[0], ys[0]])];
        let mut tilde = Vec::new();
        for k in 0..times.len() - 1 {
            let (dt, dy) = (times[k + 1] - times[k], ys[k + 1] - ys[k]);
            let h = &hs[k];
            let (inc_a, _) = self.increment(pf, times[k], h, dt, dy);
            let ht: Vec<f64> = h.iter().zip(&inc_a).map(|(h, a)| h + a).collect();
            let (inc_b, _) = self.increment(pf, times[k + 1], &ht, dt, dy);
            hs.push(h.iter().zip(inc_a.iter().zip(&inc_b)).map(|(h, (a, b))| h + 0.5 * (a + b)).collect());
            tilde.push(ht);
        }
        let last = hs.last().expect("a state");
        let d = self.readout.forward(pm, last)[0];
        let Some(seed) = seed else { return (d, Vec::new()) };
        let (gi, rest) = grad.split_at_mut(a);
        let (gf, gm) = rest.split_at_mut(b);
        let (_, mut h_bar) = self.readout.vjp(pm, last, &[seed], gm);
        let mut y_bar = vec![0.0; ys.len()];
        for k in (0..times.len() - 1).rev() {
            let (dt, dy) = (times[k + 1] - times[k], ys[k + 1] - ys[k]);
            let half: Vec<f64> = h_bar.iter().map(|v| 0.5 * v).collect();
            let mut dy_bar = 0.0;
            // b = F(t_{k+1}, H~) . dX.
            let (_, ft) = self.increment(pf, times[k + 1], &tilde[k], dt, dy);
            let mut fbar = vec![0.0; 2 * hd];
            for i in 0..hd {
                fbar[2 * i] = half[i] * dt;
                fbar[2 * i + 1] = half[i] * dy;
                dy_bar += ft[2 * i + 1] * half[i];
            }
            let mut x = vec![times[k + 1]];
            x.extend_from_slice(&tilde[k]);
            let (_, dx) = self.field.vjp(pf, &x, &fbar, gf);
            // H~ = H + a: a's cotangent is half + H~'s.
            let a_bar: Vec<f64> = (0..hd).map(|i| half[i] + dx[1 + i]).collect();
            let mut below: Vec<f64> = (0..hd).map(|i| h_bar[i] + dx[1 + i]).collect();
            let (_, f0) = self.increment(pf, times[k], &hs[k], dt, dy);
            for i in 0..hd {
                fbar[2 * i] = a_bar[i] * dt;
                fbar[2 * i + 1] = a_bar[i] * dy;
                dy_bar += f0[2 * i + 1] * a_bar[i];
            }
            let mut x = vec![times[k]];
            x.extend_from_slice(&hs[k]);
            let (_, dx) = self.field.vjp(pf, &x, &fbar, gf);
            for i in 0..hd {
                below[i] += dx[1 + i];
            }
            y_bar[k + 1] += dy_bar;
            y_bar[k] -= dy_bar;
            h_bar = below;
        }
        let (_, dx) = self.initial.vjp(pi, &[times[0], ys[0]], &h_bar, gi);
        y_bar[0] += dx[1];
        (d, y_bar)
    }
}

/// A slot's draws: the initial noise V and standard normals for the increments.
fn draws(seed: u64, step: usize, slot: usize, c: &GanConfig, steps: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut rng = RngStream::new(seed ^ (step as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d), slot as u64);
    let v = (0..c.initial_noise).map(|_| rng.normal()).collect();
    let incs = (0..steps).map(|_| (0..c.noise).map(|_| rng.normal()).collect()).collect();
    (v, incs)
}

/// A minibatch summed part of the way (the page's frame-sliced step).
#[derive(Debug, Clone)]
struct PendingStep {
    next: usize,
    loss: f64,
    g: Vec<f64>,
    d: Vec<f64>,
}

pub struct GanFit {
    pub config: GanConfig,
    pub train: PathSet,
    /// Normalised, filled training paths.
    real: Vec<Vec<f64>>,
    /// Normalised times and the normalisation (mean, std) of the values.
    times: Vec<f64>,
    pub scale: (f64, f64),
    pub generator: Generator,
    pub discriminator: Discriminator,
    pub g_params: Vec<f64>,
    pub d_params: Vec<f64>,
    /// The running average of the generator's weights (from the middle of training).
    pub g_average: Option<(Vec<f64>, usize)>,
    g_opt: AdamF64,
    d_opt: AdamF64,
    steps: usize,
    /// (step, E D(fake) - E D(real)) per step.
    pub history: Vec<(usize, f64)>,
    pending: Option<PendingStep>,
}

impl GanFit {
    pub fn new(config: GanConfig) -> Result<Self, String> {
        config.validate()?;
        let train = generate(config.data, config.train_paths, config.drop, config.seed);
        let firsts: Vec<f64> = train.paths.iter().map(|p| p[0]).collect();
        let m = crate::core::metrics_1d::moments(&firsts);
        let scale = (m.mean, m.variance.sqrt().max(1e-6));
        let real = train
            .paths
            .iter()
            .map(|p| {
                let mut v: Vec<f64> = p.iter().map(|x| (x - scale.0) / scale.1).collect();
                fill_linear(&train.times, &mut v);
                v
            })
            .collect();
        let times = train.times.clone();
        let mut generator = Generator::new(&config)?;
        let g_params = generator.init(config.seed);
        let discriminator = Discriminator::new(&config)?;
        let mut d_params = discriminator.init(config.seed);
        discriminator.clip(&mut d_params);
        let mut g_opt = AdamF64::new(g_params.len(), config.lr_generator);
        let mut d_opt = AdamF64::new(d_params.len(), config.lr_discriminator);
        g_opt.beta1 = 0.5;
        d_opt.beta1 = 0.5;
        Ok(GanFit {
            config,
            train,
            real,
            times,
            scale,
            generator,
            discriminator,
            g_params,
            d_params,
            g_average: None,
            g_opt,
            d_opt,
            steps: 0,
            history: Vec::new(),
            pending: None,
        })
    }

    pub fn steps_done(&self) -> usize {
        self.steps
    }

    pub fn done(&self) -> bool {
        self.steps >= self.config.steps
    }

    /// Brownian increments on the observation grid from standard normals: z sqrt(dt).
    fn increments(&self, normals: &[Vec<f64>]) -> Vec<Vec<f64>> {
        normals
            .iter()
            .zip(self.times.windows(2))
            .map(|(z, w)| z.iter().map(|z| z * (w[1] - w[0]).sqrt()).collect())
            .collect()
    }

    /// One slot's contribution: (D(fake) - D(real), the generator's gradient of -D(fake)...
    /// as the shared loss's gradient, the discriminator's gradient).
    fn slot(&self, step: usize, slot: usize) -> Result<(f64, Vec<f64>, Vec<f64>), String> {
        let c = &self.config;
        let n = self.times.len() - 1;
        let (v, normals) = draws(c.seed, step, slot, c, n);
        let increments = self.increments(&normals);
        let mut rng = RngStream::new(c.seed ^ 0x7265_616c, (step as u64) << 16 | slot as u64);
        let real = &self.real[rng.below(self.real.len())];
        let mut generator = self.generator.clone();
        generator.load(&self.g_params);
        let fake = generator.path(&self.g_params, &self.times, &v, &increments)?;
        let mut d_grad = vec![0.0; self.d_params.len()];
        let (d_fake, y_bar) = self.discriminator.score(&self.d_params, &self.times, &fake, Some(1.0), &mut d_grad);
        let (d_real, _) = self.discriminator.score(&self.d_params, &self.times, real, Some(-1.0), &mut d_grad);
        // The generator's gradient of the same loss D(fake) - D(real), to be ascended.
        let [a, b, _] = generator.counts();
        let mut g_grad = vec![0.0; self.g_params.len()];
        let x0 = generator.initial.forward(&self.g_params[..a], &v);
        let readout = &self.g_params[a + b..];
        let mut readout_grad = vec![0.0; readout.len()];
        let result = backprop(
            &generator.field,
            SdeMethod::ReversibleHeun,
            Memory::Reversible,
            &self.times,
            &x0,
            &increments,
            |k, x| {
                let (_, dx) = generator.readout.vjp(readout, x, &[y_bar[k]], &mut readout_grad);
                Some((0.0, dx))
            },
        )?;
        g_grad[a..a + b].copy_from_slice(&result.p_bar);
        g_grad[a + b..].copy_from_slice(&readout_grad);
        let mut gi = vec![0.0; a];
        generator.initial.vjp(&self.g_params[..a], &v, &result.y0_bar, &mut gi);
        g_grad[..a].copy_from_slice(&gi);
        Ok((d_fake - d_real, g_grad, d_grad))
    }

    /// One step: both gradients from one minibatch; the discriminator descends, the
    /// generator ascends; the critic is clipped; the generator's average updated.
    pub fn step(&mut self) -> Result<f64, String> {
        let step = self.steps;
        let mut parts: Vec<Option<Result<(f64, Vec<f64>, Vec<f64>), String>>> = vec![None; self.config.batch];
        let this = &*self;
        for_each_mut(&mut parts, 1, |slot, part| *part = Some(this.slot(step, slot)));
        let mut pending = self.empty_pending();
        for part in parts.into_iter().flatten() {
            pending.add(part?);
        }
        self.apply(pending)
    }

    fn empty_pending(&self) -> PendingStep {
        PendingStep { next: 0, loss: 0.0, g: vec![0.0; self.g_params.len()], d: vec![0.0; self.d_params.len()] }
    }

    /// Like `step`, one path at a time until `out_of_time` says stop: Some(loss) when a step
    /// completed, None when the minibatch is not summed yet.
    pub fn advance(&mut self, out_of_time: &mut dyn FnMut() -> bool) -> Result<Option<f64>, String> {
        let mut pending = self.pending.take().unwrap_or_else(|| self.empty_pending());
        while pending.next < self.config.batch {
            let part = self.slot(self.steps, pending.next)?;
            pending.add(part);
            if pending.next < self.config.batch && out_of_time() {
                self.pending = Some(pending);
                return Ok(None);
            }
        }
        self.apply(pending).map(Some)
    }

    fn apply(&mut self, pending: PendingStep) -> Result<f64, String> {
        let step = self.steps;
        let PendingStep { loss, mut g, mut d, .. } = pending;
        let n = self.config.batch as f64;
        let loss = loss / n;
        g.iter_mut().chain(d.iter_mut()).for_each(|v| *v /= n);
        if !loss.is_finite() || g.iter().chain(&d).any(|v| !v.is_finite()) {
            return Err(format!("step {step}: the loss or a gradient is not finite; lower --lr"));
        }
        self.g_opt.step(&mut self.g_params, &g);
        self.d_opt.step(&mut self.d_params, &d);
        self.discriminator.clip(&mut self.d_params);
        if self.steps >= self.config.steps / 2 {
            let (avg, count) = self.g_average.get_or_insert_with(|| (vec![0.0; self.g_params.len()], 0));
            *count += 1;
            let k = 1.0 / *count as f64;
            avg.iter_mut().zip(&self.g_params).for_each(|(a, p)| *a += k * (p - *a));
        }
        self.history.push((step, loss));
        self.steps += 1;
        Ok(loss)
    }

    /// Evaluation path p of the generator (the averaged weights when there are any), in data
    /// units: its own draws, so a path is the same whichever slice computes it.
    pub fn model_path(&self, p: usize) -> Result<Vec<f64>, String> {
        let params = self.evaluated_params();
        let mut generator = self.generator.clone();
        generator.load(params);
        let (v, increments) = self.model_path_draws(p);
        let ys = generator.path(params, &self.times, &v, &increments)?;
        Ok(ys.iter().map(|y| y * self.scale.1 + self.scale.0).collect())
    }

    /// The generator's weights that are evaluated: the average once there is one.
    pub fn evaluated_params(&self) -> &[f64] {
        match &self.g_average {
            Some((avg, _)) => avg,
            None => &self.g_params,
        }
    }

    /// Evaluation path p's draws: the initial noise V, and the Brownian increments over the
    /// observation grid from the virtual Brownian tree keyed by (seed, p), as the latent SDE's
    /// paths take theirs (the same path at any grid). Training draws its minibatches' noise
    /// directly (`draws`): each is used once, on one grid.
    pub fn model_path_draws(&self, p: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let seed = self.config.seed ^ 0x6576_616c;
        let (v, _) = draws(seed, usize::MAX - 1, p, &self.config, 0);
        (v, brownian_increments(&self.times, self.config.noise, seed, p as u64))
    }

    /// The observation times the generator is solved on.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// `count` held-out data paths, none dropped.
    pub fn held_out(&self, count: usize) -> Vec<Vec<f64>> {
        generate(self.config.data, count, 0.0, self.config.seed ^ 0x6576_616c).paths
    }

    /// Marginals of the generator against held-out data (the averaged weights when there are).
    pub fn evaluate(&self, count: usize) -> Result<NsdeEvaluation, String> {
        let mut model: Vec<Result<Vec<f64>, String>> = vec![Ok(Vec::new()); count];
        for_each_mut(&mut model, 16, |p, slot| *slot = self.model_path(p));
        let model = model.into_iter().collect::<Result<Vec<_>, _>>()?;
        evaluation_of(self.config.data, &self.train.times, model, self.held_out(count))
    }
}

impl PendingStep {
    /// Adds one slot: the loss, the critic's gradient, and the generator's negated (it ascends).
    fn add(&mut self, (loss, g, d): (f64, Vec<f64>, Vec<f64>)) {
        self.loss += loss;
        self.g.iter_mut().zip(&g).for_each(|(a, b)| *a -= b);
        self.d.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn tiny() -> GanConfig {
        GanConfig {
            state: 3,
            noise: 2,
            initial_noise: 2,
            width: 5,
            hidden: 3,
            train_paths: 32,
            batch: 4,
            steps: 4,
            ..GanConfig::cli_default()
        }
    }

    /// The discriminator's gradient in its parameters and in the path equals central
    /// differences of D.
    #[test]
    fn discriminator_gradients_match_finite_differences() {
        let fit = GanFit::new(tiny()).unwrap();
        let times: Vec<f64> = fit.times[..10].to_vec();
        let ys: Vec<f64> = fit.real[3][..10].to_vec();
        let disc = &fit.discriminator;
        let mut grad = vec![0.0; fit.d_params.len()];
        let (_, y_bar) = disc.score(&fit.d_params, &times, &ys, Some(1.0), &mut grad);
        let eps = 1e-6;
        let d_of = |p: &[f64], y: &[f64]| disc.score(p, &times, y, None, &mut []).0;
        for i in (0..fit.d_params.len()).step_by(3) {
            let (mut up, mut down) = (fit.d_params.clone(), fit.d_params.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (d_of(&up, &ys) - d_of(&down, &ys)) / (2.0 * eps);
            assert!((fd - grad[i]).abs() <= 1e-6 * (1.0 + fd.abs()), "param {i}: {} vs {fd}", grad[i]);
        }
        for k in 0..ys.len() {
            let (mut up, mut down) = (ys.clone(), ys.clone());
            up[k] += eps;
            down[k] -= eps;
            let fd = (d_of(&fit.d_params, &up) - d_of(&fit.d_params, &down)) / (2.0 * eps);
            assert!((fd - y_bar[k]).abs() <= 1e-6 * (1.0 + fd.abs()), "y {k}: {} vs {fd}", y_bar[k]);
        }
    }

    /// The generator's gradient of D(fake) through the SDE equals central differences.
    #[test]
    fn generator_gradient_matches_finite_differences() {
        let mut fit = GanFit::new(tiny()).unwrap();
        fit.times.truncate(12);
        fit.real.iter_mut().for_each(|p| p.truncate(12));
        let (loss, g_grad, _) = fit.slot(0, 1).unwrap();
        let eps = 1e-6;
        for i in (0..fit.g_params.len()).step_by(4) {
            let (mut up, mut down) = (fit.g_params.clone(), fit.g_params.clone());
            up[i] += eps;
            down[i] -= eps;
            let saved = fit.g_params.clone();
            fit.g_params = up;
            let lu = fit.slot(0, 1).unwrap().0;
            fit.g_params = down;
            let ld = fit.slot(0, 1).unwrap().0;
            fit.g_params = saved;
            let fd = (lu - ld) / (2.0 * eps);
            assert!(
                (fd - g_grad[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "param {i}: {} vs {fd} (loss {loss})",
                g_grad[i]
            );
        }
    }

    /// The evaluation's increments come from one virtual Brownian tree per path: the same
    /// tree queried on the grid with every interval halved sums to them, different paths
    /// differ, and over many paths each increment has variance h.
    #[test]
    fn evaluation_increments_are_the_virtual_brownian_trees() {
        let gan = GanFit::new(GanConfig { train_paths: 16, ..GanConfig::cli_default() }).unwrap();
        let times = gan.times().to_vec();
        let fine: Vec<f64> =
            times.windows(2).flat_map(|w| [w[0], 0.5 * (w[0] + w[1])]).chain([times[times.len() - 1]]).collect();
        let seed = gan.config.seed ^ 0x6576_616c;
        for p in [0usize, 7] {
            let (_, coarse) = gan.model_path_draws(p);
            let halves = brownian_increments(&fine, gan.config.noise, seed, p as u64);
            for (n, dw) in coarse.iter().enumerate() {
                for k in 0..gan.config.noise {
                    let sum = halves[2 * n][k] + halves[2 * n + 1][k];
                    assert!((sum - dw[k]).abs() < 1e-12, "path {p} step {n}: {sum} vs {}", dw[k]);
                }
            }
        }
        assert_ne!(gan.model_path_draws(0).1[3], gan.model_path_draws(1).1[3]);
        let n = 4000;
        let h = times[1] - times[0];
        let mean_square = (0..n).map(|p| gan.model_path_draws(p).1[0][0].powi(2)).sum::<f64>() / n as f64;
        // Within 4 standard errors (the variance of dW^2 is 2h^2).
        assert!((mean_square - h).abs() < 4.0 * (2.0f64).sqrt() * h / (n as f64).sqrt(), "{mean_square} vs {h}");
    }

    /// LABS.md's learning claim at a test's budget: on ou-tdep (30% dropped) a short run at
    /// the CLI's sizes at least halves the mean marginal W1 from initialisation (the CLI's
    /// 1500 steps at batch 128: docs/RESULTS.md).
    #[test]
    fn a_short_run_halves_the_marginal_distance() {
        let mut fit = GanFit::new(GanConfig { batch: 64, steps: 300, ..GanConfig::cli_default() }).unwrap();
        let start = fit.evaluate(512).unwrap().mean_w1;
        while !fit.done() {
            fit.step().unwrap();
        }
        let end = fit.evaluate(512).unwrap().mean_w1;
        assert!(end <= 0.5 * start, "mean W1 {start} -> {end}");
    }

    #[test]
    fn steps_clip_the_critic_and_average_the_generator() {
        let mut fit = GanFit::new(tiny()).unwrap();
        let mut sliced = GanFit::new(tiny()).unwrap();
        while !fit.done() {
            fit.step().unwrap();
            let mut calls = 0;
            while sliced
                .advance(&mut || {
                    calls += 1;
                    calls % 3 == 0
                })
                .unwrap()
                .is_none()
            {}
        }
        assert_eq!(fit.g_params, sliced.g_params, "sliced and threaded steps agree");
        assert_eq!(fit.d_params, sliced.d_params);
        assert_eq!(fit.g_average.as_ref().unwrap().1, 2);
        let mut offset = 0;
        for net in [&fit.discriminator.initial, &fit.discriminator.field, &fit.discriminator.readout] {
            for layer in net.layers() {
                let lim = 1.0 / layer.outputs as f64;
                let w = &fit.d_params[offset + layer.weights..offset + layer.weights + layer.inputs * layer.outputs];
                assert!(w.iter().all(|w| w.abs() <= lim));
            }
            offset += net.param_count();
        }
        let e = fit.evaluate(64).unwrap();
        assert!(e.mean_w1.is_finite());
        assert!(GanFit::new(GanConfig { batch: 0, ..tiny() }).is_err());
    }
}
