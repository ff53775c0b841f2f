//! The one rule of which sampler runs where, as the page applies it: every sampler the page
//! offers on every process it trains builds and runs, in the parameterisation the page trains
//! there, and lands near the data; every sampler it refuses says why in words a visitor reads.
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::core::data::GaussianMixture;
use nde_playground::core::metrics::{projections, sliced_wasserstein};
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::sample::model::{ExactMixtureModel, Model, ModelData};
use nde_playground::core::sample::registry::{Family, ModelCaps, REGISTRY};
use nde_playground::core::sample::SamplerOptions;
use nde_playground::exec::cpu::{run_plan, RunOptions};
use nde_playground::playground::diffusion::settings::{default_param, page_processes, samplers_for};

/// The exact mixture score, given as the output of a network of parameterisation `param`:
/// what a perfectly trained page model would say.
struct ExactAs {
    exact: ExactMixtureModel,
    process: Process,
    param: Parameterisation,
}

impl ExactAs {
    fn output(&self, x: [f32; 2], t: f64, score: [f32; 2]) -> [f32; 2] {
        let (alpha, sigma) = (self.process.alpha(t), self.process.sigma(t));
        let eps = [-sigma * f64::from(score[0]), -sigma * f64::from(score[1])];
        let out = self.param.from_eps(eps, [f64::from(x[0]), f64::from(x[1])], alpha, sigma);
        [out[0] as f32, out[1] as f32]
    }
}

impl Model for ExactAs {
    fn param(&self) -> Parameterisation {
        self.param
    }
    fn prepare(&mut self, t: f64) {
        self.exact.prepare(t);
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        let score = self.exact.eval(x, t);
        self.output(x, t, score)
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        // Finite differences of the converted output (only the likelihood needs Jacobians).
        let h = 1e-3;
        let out = self.eval(x, t);
        let mut jac = [[0.0; 2]; 2];
        for j in 0..2 {
            let mut xp = x;
            xp[j] += h;
            let up = self.eval(xp, t);
            for o in 0..2 {
                jac[o][j] = (up[o] - out[o]) / h;
            }
        }
        (out, jac)
    }
    fn data(&self) -> ModelData {
        unreachable!("the CPU executor does not ask for the model's data")
    }
}

#[test]
fn every_sampler_the_page_offers_runs_on_every_process_it_trains() {
    let mixture = GaussianMixture::eight_gaussians();
    let particles = 600;
    let reference = mixture.sample(particles, 7);
    let floor = sliced_wasserstein(&reference, &mixture.sample(particles, 8), &projections(64, 3));
    let mut ran = 0;
    let mut failures = Vec::new();
    for process in page_processes() {
        let param = default_param(&process);
        let offered = samplers_for(&process, param);
        assert!(offered.len() >= 15, "{}: only {} samplers offered", process.name(), offered.len());
        for sampler in offered {
            let options = SamplerOptions { nfe: 60, ..SamplerOptions::default() };
            let plan = sampler
                .build(process, param, &options)
                .unwrap_or_else(|e| panic!("{} on {}: offered but does not build: {e}", sampler.name, process.name()));
            let mut model = ExactAs { exact: ExactMixtureModel::new(mixture.clone(), process), process, param };
            let run = run_plan(&plan, &mut model, &RunOptions { particles, seed: 3, traced: vec![], inputs: vec![] })
                .unwrap_or_else(|e| panic!("{} on {}: offered but fails: {e}", sampler.name, process.name()));
            ran += 1;
            let finite = run.positions.iter().all(|p| p[0].is_finite() && p[1].is_finite() && p[0].abs() < 1e3);
            let samples: Vec<[f64; 2]> = run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
            let swd = if finite { sliced_wasserstein(&reference, &samples, &projections(64, 3)) } else { f64::NAN };
            println!("{:>6} {:<18} SWD {swd:.3} (floor {floor:.3})", process.name(), sampler.name);
            // Markov chains at a fixed step are judged on staying finite (docs/SAMPLERS.md:
            // ULA's bias on separated modes is documented); the rest must land on the data.
            let bound = if sampler.family == Family::Mcmc { f64::INFINITY } else { 0.5 };
            if !finite || swd.is_nan() || swd > bound {
                failures.push(format!("{} on {}: SWD {swd:.3}, finite {finite}", sampler.name, process.name()));
            }
        }
    }
    assert!(ran >= 5 * 15, "{ran} runs");
    assert!(failures.is_empty(), "offered samplers that do not sample:\n{}", failures.join("\n"));
}

#[test]
fn every_refusal_on_the_page_carries_a_reason_a_visitor_can_read() {
    let mut refusals = 0;
    for process in page_processes() {
        let caps = ModelCaps::network(default_param(&process));
        for sampler in REGISTRY.iter() {
            if let Err(refusal) = sampler.supports(&process, &caps) {
                refusals += 1;
                let reason = refusal.reason.to_string();
                let whole = refusal.to_string();
                assert!(reason.starts_with("it"), "{}: '{reason}'", sampler.name);
                assert!(!whole.contains("--") && !whole.contains('`'), "CLI words in a page message: {whole}");
                assert!(whole.contains(sampler.name) && reason.len() > 20, "{whole}");
            }
        }
    }
    // The mean-reverting samplers on five processes, mala and dlg on five, edm-heun on rf,
    // ancestral on subvp and rf: the rule refuses something everywhere.
    assert!(refusals >= 5 * 6 + 3, "{refusals} refusals");
}
