//! Samplers on an asymmetric, non-centred mixture (`bench/targets/asym3.json`: three
//! components of weights 0.2, 0.5, 0.3 and different shapes, mean (1.1, 0.45)). gmm8 is
//! symmetric, so a sampler that gets the mode weights or the mean wrong can still pass there:
//! here the weights and the mean are checked directly.
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::core::data::GaussianMixture;
use nde_playground::core::metrics::{projections, sliced_wasserstein};
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::sample::grid::Schedule;
use nde_playground::core::sample::model::ExactMixtureModel;
use nde_playground::core::sample::{build, SamplerOptions, SAMPLERS};
use nde_playground::exec::cpu::{run_plan, RunOptions};

fn asym3() -> GaussianMixture {
    GaussianMixture::from_json(include_str!("../bench/targets/asym3.json")).unwrap()
}

/// The samples of `sampler` with the exact score of `mixture` (optionally from given starts).
fn run(
    mixture: &GaussianMixture,
    sampler: &str,
    process: Process,
    options: &SamplerOptions,
    particles: usize,
    start: Option<Vec<[f32; 2]>>,
) -> Vec<[f64; 2]> {
    let mut plan = build(sampler, process, Parameterisation::Score, options).unwrap();
    let inputs = match start {
        Some(points) => {
            plan = plan.with_loaded_start().unwrap();
            points
        }
        None => Vec::new(),
    };
    let mut model = ExactMixtureModel::new(mixture.clone(), process);
    let result = run_plan(&plan, &mut model, &RunOptions { particles, seed: 1, traced: vec![], inputs }).unwrap();
    result.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect()
}

/// The share of samples whose most likely component is k, for every k.
fn mode_weights(mixture: &GaussianMixture, samples: &[[f64; 2]]) -> Vec<f64> {
    let mut counts = vec![0.0; mixture.len()];
    for x in samples {
        let r = mixture.responsibilities(*x);
        let k = (0..r.len()).max_by(|a, b| r[*a].total_cmp(&r[*b])).unwrap();
        counts[k] += 1.0;
    }
    counts.iter().map(|c| c / samples.len() as f64).collect()
}

fn mean(samples: &[[f64; 2]]) -> [f64; 2] {
    let n = samples.len() as f64;
    [samples.iter().map(|p| p[0]).sum::<f64>() / n, samples.iter().map(|p| p[1]).sum::<f64>() / n]
}

/// The Langevin samplers that start from N(0, 1) and walk on the data density alone: they
/// cannot cross between well-separated modes, so they are judged on a target they can mix on.
const LOCAL_MCMC: [&str; 2] = ["ula", "mala"];

/// DLG's chain is biased here (docs/RESULTS.md): its Langevin step is not scaled by the level,
/// and at the lowest levels it is larger than the thinnest component's variance (0.02), where
/// unadjusted Langevin over-disperses. It is held to looser bounds, which guard against worse.
const BIASED_CHAIN: [&str; 1] = ["dlg"];

#[test]
fn every_sampler_gets_the_mode_weights_and_the_mean_of_an_asymmetric_mixture() {
    let mixture = asym3();
    let particles = 4000;
    let floor = sliced_wasserstein(&mixture.sample(particles, 99), &mixture.sample(particles, 5), &projections(64, 3));
    let (true_mean, _) = mixture.moments();
    for sampler in SAMPLERS.iter().filter(|s| !LOCAL_MCMC.contains(s)) {
        let mut options = SamplerOptions { nfe: 200, schedule: Schedule::LogSnr, ..SamplerOptions::default() };
        if *sampler == "annealed-langevin" {
            // At its defaults (snr 0.16, one step per level) it does not equilibrate at each
            // level and gets the weights wrong here (mean error 0.29 at 400 NFE); score_sde's
            // larger snr and several steps per level fix that.
            (options.nfe, options.corrector_steps, options.snr) = (1000, 5, 0.3);
        }
        let samples = run(&mixture, sampler, Process::vp(), &options, particles, None);
        let swd = sliced_wasserstein(&mixture.sample(particles, 99), &samples, &projections(64, 3));
        // Stochastic samplers keep an O(h) weak error at 200 steps: 2x the floor for all, and
        // the mode weights and the mean, which is what a symmetric target could not check.
        assert!(swd < 2.0 * floor, "{sampler}: SWD {swd}, floor {floor}");
        let (weight_tolerance, mean_tolerance) =
            if BIASED_CHAIN.contains(sampler) { (0.05, 0.15) } else { (0.035, 0.06) };
        // Binomial standard deviation of a share at 4000 particles: at most 0.008.
        let weights = mode_weights(&mixture, &samples);
        for (k, (w, truth)) in weights.iter().zip(mixture.weights()).enumerate() {
            assert!(
                (w - truth).abs() < weight_tolerance,
                "{sampler}: mode {k} holds {w:.3} of the samples, truth {truth}"
            );
        }
        let m = mean(&samples);
        for d in 0..2 {
            assert!((m[d] - true_mean[d]).abs() < mean_tolerance, "{sampler}: mean {m:?} vs {true_mean:?}");
        }
    }
}

#[test]
fn local_langevin_samplers_reach_a_target_they_can_mix_on() {
    // One correlated, off-centre Gaussian: no barrier to cross.
    let target = GaussianMixture::new(vec![1.0], vec![[0.8, -0.4]], vec![[[0.5, 0.2], [0.2, 0.3]]]).unwrap();
    let particles = 4000;
    let floor = sliced_wasserstein(&target.sample(particles, 99), &target.sample(particles, 5), &projections(64, 3));
    for sampler in LOCAL_MCMC {
        let options = SamplerOptions { nfe: 600, step_size: 0.01, ..SamplerOptions::default() };
        let samples = run(&target, sampler, Process::vp(), &options, particles, None);
        let swd = sliced_wasserstein(&target.sample(particles, 99), &samples, &projections(64, 3));
        assert!(swd < 1.5 * floor, "{sampler}: SWD {swd}, floor {floor}");
    }
}

/// The documented failure (docs/SAMPLERS.md): from N(0, 1) with step 0.01, ULA and MALA keep
/// roughly the mode weights of where the prior put the particles, not the target's.
#[test]
fn local_langevin_samplers_do_not_mix_between_separated_modes() {
    let mixture = asym3();
    for sampler in LOCAL_MCMC {
        let options = SamplerOptions { nfe: 200, step_size: 0.01, ..SamplerOptions::default() };
        let samples = run(&mixture, sampler, Process::vp(), &options, 4000, None);
        let weights = mode_weights(&mixture, &samples);
        let worst = weights.iter().zip(mixture.weights()).map(|(w, t)| (w - t).abs()).fold(0.0, f64::max);
        assert!(worst > 0.08, "{sampler}: mode weights {weights:?} are close to the truth; update docs/SAMPLERS.md");
    }
}

/// pf-dopri5 once panicked at 20 000 particles here: its first-step probe evaluated the
/// score at t < 0, where VP's sigma is NaN. Now no evaluation leaves [t_eps, t_max].
#[test]
fn pf_dopri5_runs_twenty_thousand_particles_on_the_asymmetric_mixture() {
    let mixture = asym3();
    let options = SamplerOptions::default();
    let samples = run(&mixture, "pf-dopri5", Process::vp(), &options, 20_000, None);
    assert!(samples.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    let weights = mode_weights(&mixture, &samples);
    for (w, truth) in weights.iter().zip(mixture.weights()) {
        assert!((w - truth).abs() < 0.02, "{weights:?}");
    }
}

/// VE's prior N(0, sigma_max^2 I) ignores the data's mean, so a deterministic sampler carries
/// the offset to the end; starting from the exact marginal at t_max removes it.
#[test]
fn the_exact_prior_removes_the_ve_mean_bias() {
    let mixture = asym3();
    let process = Process::ve();
    let particles = 20_000;
    let options = SamplerOptions { nfe: 50, schedule: Schedule::LogSnr, ..SamplerOptions::default() };
    let (truth, _) = mixture.moments();
    let error = |samples: &[[f64; 2]]| {
        let m = mean(samples);
        ((m[0] - truth[0]).powi(2) + (m[1] - truth[1]).powi(2)).sqrt()
    };
    let start: Vec<[f32; 2]> = mixture
        .marginal(&process, process.t_max(), [0.0; 2])
        .sample(particles, 29)
        .iter()
        .map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let plain = error(&run(&mixture, "dpmpp-2m", process, &options, particles, None));
    let exact = error(&run(&mixture, "dpmpp-2m", process, &options, particles, Some(start)));
    // The sample mean's own noise at 20 000 particles is about 0.01.
    assert!(plain > 0.06, "the prior's bias should show: mean error {plain}");
    assert!(exact < 0.035 && exact < plain / 3.0, "exact prior {exact} vs plain {plain}");
}
