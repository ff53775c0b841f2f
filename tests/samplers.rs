//! Every sampler, run by the CPU executor with the exact score of a Gaussian mixture
//! (`gmm8` under VP, log-SNR steps): its samples approach the target as NFE grows, and
//! higher-order samplers beat Euler-Maruyama at equal NFE where theory says they should.
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::core::data::GaussianMixture;
use nde_playground::core::metrics::{projections, sliced_wasserstein};
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::sample::grid::Schedule;
use nde_playground::core::sample::model::ExactMixtureModel;
use nde_playground::core::sample::{build, SamplerOptions, SAMPLERS};
use nde_playground::exec::cpu::{run_plan, RunOptions};

fn swd_of(sampler: &str, process: Process, nfe: usize, particles: usize) -> (f64, f64) {
    let mixture = GaussianMixture::eight_gaussians();
    let mut options = SamplerOptions { nfe, schedule: Schedule::LogSnr, step_size: 0.01, ..SamplerOptions::default() };
    if sampler == "pf-dopri5" && nfe < 10 {
        // Adaptive: its cost follows the tolerance, so "few evaluations" means a loose one.
        (options.rtol, options.atol) = (0.2, 0.2);
    }
    let plan = build(sampler, process, Parameterisation::Score, &options).unwrap();
    let mut model = ExactMixtureModel::new(mixture.clone(), process);
    let run = run_plan(&plan, &mut model, &RunOptions { particles, seed: 1, traced: vec![], inputs: vec![] }).unwrap();
    if let Some(fixed) = plan.fixed_nfe() {
        assert_eq!(run.nfe, f64::from(fixed), "{sampler}: counted evaluations");
    }
    let samples: Vec<[f64; 2]> = run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
    (sliced_wasserstein(&mixture.sample(particles, 99), &samples, &projections(64, 3)), run.nfe)
}

/// SWD between two independent target samples: what a perfect sampler scores.
fn floor(particles: usize) -> f64 {
    let mixture = GaussianMixture::eight_gaussians();
    sliced_wasserstein(&mixture.sample(particles, 99), &mixture.sample(particles, 5), &projections(64, 3))
}

#[test]
fn every_sampler_approaches_the_target_as_nfe_grows() {
    let particles = 2000;
    let floor = floor(particles);
    for sampler in SAMPLERS {
        // Annealed Langevin walks down every noise level: it needs many more steps.
        let high = if sampler == "annealed-langevin" { 400 } else { 200 };
        let (coarse, coarse_nfe) = swd_of(sampler, Process::vp(), 4, particles);
        let (fine, fine_nfe) = swd_of(sampler, Process::vp(), high, particles);
        assert!(fine < coarse, "{sampler}: SWD {coarse} at {coarse_nfe} NFE, {fine} at {fine_nfe}");
        assert!(fine < 1.5 * floor, "{sampler}: SWD {fine} at {fine_nfe} NFE, floor {floor}");
    }
}

#[test]
fn samplers_work_under_every_diffusion_process() {
    for process in [Process::sub_vp(), Process::ve(), Process::cosine(), Process::RectifiedFlow] {
        for sampler in ["em", "pc", "pf-rk4", "pf-dopri5", "ddim", "dpmpp-2m", "unipc"] {
            let (swd, nfe) = swd_of(sampler, process, 100, 1000);
            assert!(swd < 1.5 * floor(1000), "{sampler} on {}: SWD {swd} at {nfe} NFE", process.name());
        }
    }
}

#[test]
fn higher_order_samplers_beat_euler_maruyama_at_20_nfe() {
    // 20000 particles bring the SWD noise floor to about 0.04, below the gaps measured here.
    let particles = 20_000;
    let (em, _) = swd_of("em", Process::vp(), 20, particles);
    for sampler in ["pf-rk4", "dpmpp-2m", "dpmpp-3m", "unipc"] {
        let (swd, nfe) = swd_of(sampler, Process::vp(), 20, particles);
        assert!(swd < em, "{sampler}: SWD {swd} at {nfe} NFE vs Euler-Maruyama {em}");
    }
}

#[test]
fn samplers_share_the_prior_draw_and_are_deterministic_under_a_seed() {
    let mixture = GaussianMixture::eight_gaussians();
    let options = SamplerOptions { nfe: 5, ..SamplerOptions::default() };
    let first_frame = |sampler: &str, seed: u64| {
        let plan = build(sampler, Process::vp(), Parameterisation::Score, &options).unwrap();
        let mut model = ExactMixtureModel::new(mixture.clone(), Process::vp());
        run_plan(&plan, &mut model, &RunOptions { particles: 10, seed, traced: vec![0, 3], inputs: vec![] }).unwrap()
    };
    let (a, b) = (first_frame("em", 4), first_frame("dpmpp-2m", 4));
    assert_eq!(a.frames[0], b.frames[0], "both start from the same noise");
    assert_eq!(a.frames.len(), 6, "a frame for the prior and each step");
    assert_eq!(first_frame("em", 4), a);
    assert_ne!(first_frame("em", 5).positions, a.positions);
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let options = SamplerOptions::default();
    assert!(build("nope", Process::vp(), Parameterisation::Eps, &options).unwrap_err().contains("unknown sampler"));
    assert!(build("ancestral", Process::sub_vp(), Parameterisation::Eps, &options)
        .unwrap_err()
        .contains("vp, cosine and ve"));
    let zero = SamplerOptions { nfe: 0, ..options };
    assert!(build("em", Process::vp(), Parameterisation::Eps, &zero).unwrap_err().contains("at least 1"));
}

#[test]
fn probability_flow_likelihood_matches_the_exact_log_density() {
    use nde_playground::core::sample::grid::T_EPS_SAMPLE;
    use nde_playground::core::sample::likelihood::{negative_log_likelihood, Divergence, Prior};
    use nde_playground::core::solve::tableau::DOPRI5;
    let mixture = GaussianMixture::eight_gaussians();
    for process in [Process::vp(), Process::ve(), Process::sub_vp(), Process::cosine()] {
        let exact = mixture.marginal(&process, T_EPS_SAMPLE, [0.0; 2]);
        let at_t_max = mixture.marginal(&process, process.t_max(), [0.0; 2]);
        // VP-type priors are N(0, 1) to 1e-4; VE's N(0, 100) is not the true p_T (see Prior).
        let prior = if matches!(process, Process::Ve { .. }) { Prior::Exact(&at_t_max) } else { Prior::Gaussian };
        let mut model = ExactMixtureModel::new(mixture.clone(), process);
        let points = mixture.sample(20, 4);
        let mut total_error = 0.0;
        for x in &points {
            let (nll, _) =
                negative_log_likelihood(&mut model, &process, *x, &DOPRI5, 1e-7, 1e-7, prior, Divergence::Exact)
                    .unwrap();
            let truth = -exact.log_density(*x);
            assert!((nll - truth).abs() < 0.02, "{} at {x:?}: {nll} vs exact {truth}", process.name());
            total_error += nll - truth;
        }
        let mean_error = total_error / points.len() as f64;
        assert!(mean_error.abs() < 0.01, "{}: mean error {mean_error} nats", process.name());
    }
}

#[test]
fn mala_needs_a_log_density_and_says_so() {
    use nde_playground::core::nn::{Mlp, MlpConfig};
    use nde_playground::core::sample::model::MlpModel;
    let config = MlpConfig { width: 16, depth: 1, ..MlpConfig::default() };
    let mut model = MlpModel::new(Mlp::new(config, 1).unwrap(), Parameterisation::Eps);
    let plan =
        build("mala", Process::vp(), Parameterisation::Eps, &SamplerOptions { nfe: 5, ..SamplerOptions::default() })
            .unwrap();
    let err =
        run_plan(&plan, &mut model, &RunOptions { particles: 4, seed: 0, traced: vec![], inputs: vec![] }).unwrap_err();
    assert!(err.cli_message().contains("--model exact"), "{err}");
    assert!(err.to_string().contains("log-density") && !err.to_string().contains("--"), "{err}");
}

fn mr_swd(sampler: &str, nfe: usize, particles: usize) -> f64 {
    let mixture = GaussianMixture::eight_gaussians();
    let mu = [0.5, -0.5];
    let process = Process::mean_reverting();
    let options = SamplerOptions { nfe, schedule: Schedule::LogSnr, condition: mu, ..SamplerOptions::default() };
    let plan = build(sampler, process, Parameterisation::Score, &options).unwrap();
    let mut model = ExactMixtureModel::new(mixture.clone(), process).with_condition(mu);
    let run = run_plan(&plan, &mut model, &RunOptions { particles, seed: 1, traced: vec![], inputs: vec![] }).unwrap();
    assert_eq!(run.nfe, nfe as f64, "{sampler}");
    let samples: Vec<[f64; 2]> = run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
    sliced_wasserstein(&mixture.sample(particles, 99), &samples, &projections(64, 3))
}

#[test]
fn mean_reverting_samplers_recover_the_data_given_the_condition() {
    let floor = floor(2000);
    for sampler in ["mr-em", "mrs-ode", "mrs-ode-noise", "mrs-sde"] {
        let (coarse, fine) = (mr_swd(sampler, 4, 2000), mr_swd(sampler, 200, 2000));
        assert!(fine < coarse, "{sampler}: {coarse} at 4 NFE, {fine} at 200");
        assert!(fine < 1.5 * floor, "{sampler}: SWD {fine} at 200 NFE, floor {floor}");
    }
    // The MR Sampler's claim: at 20 NFE it matches Euler-Maruyama at 10x the NFE or better.
    let (mrs, em) = (mr_swd("mrs-ode", 20, 2000), mr_swd("mr-em", 200, 2000));
    assert!(mrs < 1.5 * em.max(floor), "mrs-ode at 20: {mrs}, mr-em at 200: {em}");
}

fn run_exact(
    plan: &nde_playground::core::sample::Plan,
    particles: usize,
    traced: Vec<usize>,
) -> nde_playground::exec::cpu::RunResult {
    let mut model = ExactMixtureModel::new(GaussianMixture::eight_gaussians(), Process::vp());
    run_plan(plan, &mut model, &RunOptions { particles, seed: 3, traced, inputs: vec![] }).unwrap()
}

/// With no sweeps every particle stays at the top level, so DLG is its integrator alone,
/// particle for particle.
#[test]
fn dlg_without_sweeps_is_its_integrator() {
    use nde_playground::core::sample::options::DlgIntegrator;
    for (integrator, name) in [(DlgIntegrator::EdmHeun, "edm-heun"), (DlgIntegrator::Ddim, "ddim")] {
        let options = SamplerOptions { nfe: 9, sweeps: 0, integrator, ..SamplerOptions::default() };
        let dlg = run_exact(&build("dlg", Process::vp(), Parameterisation::Score, &options).unwrap(), 200, vec![]);
        let alone = run_exact(&build(name, Process::vp(), Parameterisation::Score, &options).unwrap(), 200, vec![]);
        assert_eq!(dlg.positions, alone.positions, "dlg with {name}");
        assert_eq!(dlg.nfe, alone.nfe, "dlg with {name}: evaluations");
    }
}

/// The Gibbs sweeps target p(x, k) = p_{t_k}(x) / K: after enough sweeps the chain's levels
/// are uniform over the K levels, and a particle integrated from a low level costs fewer
/// evaluations than one from the top.
#[test]
fn dlg_chain_levels_become_uniform_and_save_integration_steps() {
    use nde_playground::core::sample::plan::Op;
    let (particles, sweeps) = (4000, 60);
    let options = SamplerOptions { nfe: 11, sweeps, dlg_step: 0.02, ..SamplerOptions::default() };
    let mut plan = build("dlg", Process::vp(), Parameterisation::Score, &options).unwrap();
    // Keep the chain only, and record the level register (1) as the last frame.
    let end = plan.ops.iter().position(|op| matches!(op, Op::SkipIf { .. })).unwrap();
    plan.ops.truncate(end);
    plan.ops.push(Op::Snapshot { reg: 1, frame: 9999 });
    // (the frame before it is the chain's last x)
    let levels = plan
        .ops
        .iter()
        .find_map(|op| match op {
            Op::GibbsLevel { times, .. } => Some(times.len()),
            _ => None,
        })
        .unwrap();
    let run = run_exact(&plan, particles, (0..particles).collect());
    let last = run.frames.last().unwrap();
    let mut counts = vec![0usize; levels];
    for level in last {
        counts[level[0] as usize] += 1;
    }
    let expected = particles as f64 / levels as f64;
    for (k, c) in counts.iter().enumerate() {
        // Binomial standard deviation about 26: allow 5 and some discretisation bias.
        assert!(
            (*c as f64 - expected).abs() < 0.3 * expected,
            "level {k}: {c} particles, expected {expected:.0} ({counts:?})"
        );
    }
    // The level is drawn given x: particles at the lowest level sit on the modes (data std 0.2),
    // those at the top are spread like the prior.
    let positions = &run.frames[run.frames.len() - 2];
    let means: Vec<[f64; 2]> = (0..8)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / 8.0;
            [2.0 * a.cos(), 2.0 * a.sin()]
        })
        .collect();
    let distance_at = |k: usize| {
        let near: Vec<f64> = (0..particles)
            .filter(|p| last[*p][0] as usize == k)
            .map(|p| {
                let x = positions[p];
                means
                    .iter()
                    .map(|m| ((f64::from(x[0]) - m[0]).powi(2) + (f64::from(x[1]) - m[1]).powi(2)).sqrt())
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        near.iter().sum::<f64>() / near.len() as f64
    };
    let (low, top) = (distance_at(levels - 1), distance_at(0));
    assert!(low < 0.35 && top > 2.0 * low, "mean distance to the nearest mode: lowest level {low}, top {top}");
    let full = build("dlg", Process::vp(), Parameterisation::Score, &options).unwrap();
    let run = run_exact(&full, 1000, vec![]);
    let integrator_alone = (2 * levels - 1) as f64;
    let chain = (2 * sweeps) as f64;
    assert!(run.nfe - chain < 0.75 * integrator_alone, "integration cost {} of {integrator_alone}", run.nfe - chain);
}

/// Hutchinson's estimate is unbiased: over many points, each with its own Rademacher probe, the
/// mean error against the exact density is within three standard errors of zero, while single
/// points are off by much more than the exact trace's 0.02 nats.
#[test]
fn hutchinson_likelihood_is_unbiased_but_noisy() {
    use nde_playground::core::rng::random_u32x4;
    use nde_playground::core::sample::grid::T_EPS_SAMPLE;
    use nde_playground::core::sample::likelihood::{negative_log_likelihood, Divergence, Prior};
    use nde_playground::core::solve::tableau::DOPRI5;
    let mixture = GaussianMixture::eight_gaussians();
    let process = Process::vp();
    let exact = mixture.marginal(&process, T_EPS_SAMPLE, [0.0; 2]);
    let mut model = ExactMixtureModel::new(mixture.clone(), process);
    let points = mixture.sample(300, 8);
    let errors: Vec<f64> = points
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let divergence = Divergence::rademacher(random_u32x4(5, i as u64, 0)[0]);
            let (nll, _) =
                negative_log_likelihood(&mut model, &process, *x, &DOPRI5, 1e-6, 1e-6, Prior::Gaussian, divergence)
                    .unwrap();
            nll + exact.log_density(*x)
        })
        .collect();
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let std = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(std > 0.1, "the estimate should vary from point to point: std {std}");
    assert!(mean.abs() < 3.0 * std / n.sqrt(), "mean error {mean}, standard error {}", std / n.sqrt());
}

/// The likelihood as a plan (what both executors run) gives the reference function's nats
/// point by point, and its evaluations.
#[test]
fn likelihood_plan_matches_the_reference_function() {
    use nde_playground::core::sample::likelihood::{likelihood_plan, negative_log_likelihood, Divergence, Prior};
    use nde_playground::core::solve::tableau::DOPRI5;
    let mixture = GaussianMixture::eight_gaussians();
    for process in [Process::vp(), Process::ve()] {
        let mut model = ExactMixtureModel::new(mixture.clone(), process);
        let points = mixture.sample(30, 12);
        let plan = likelihood_plan(process, Parameterisation::Score, "dopri5", 1e-6, 1e-6, false).unwrap();
        let inputs = points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
        let run = run_plan(&plan, &mut model, &RunOptions { particles: points.len(), seed: 0, traced: vec![], inputs })
            .unwrap();
        let mut evaluations = 0;
        for (x, got) in points.iter().zip(&run.values) {
            // The plan starts from the f32 point, as the GPU will.
            let x32 = [f64::from(x[0] as f32), f64::from(x[1] as f32)];
            let (nll, stats) = negative_log_likelihood(
                &mut model,
                &process,
                x32,
                &DOPRI5,
                1e-6,
                1e-6,
                Prior::Gaussian,
                Divergence::Exact,
            )
            .unwrap();
            assert!((f64::from(*got) - nll).abs() < 1e-4, "{}: plan {got} vs function {nll}", process.name());
            evaluations += stats.evaluations;
        }
        assert_eq!(run.nfe, evaluations as f64 / points.len() as f64);
    }
    let missing = likelihood_plan(Process::vp(), Parameterisation::Score, "dopri5", 1e-6, 1e-6, false).unwrap();
    let mut model = ExactMixtureModel::new(mixture, Process::vp());
    let err = run_plan(&missing, &mut model, &RunOptions { particles: 3, seed: 0, traced: vec![], inputs: vec![] })
        .unwrap_err();
    assert!(err.to_string().contains("input point"), "{err}");
}
