//! Guided scores as models the plan executors evaluate, so that every sampler of the zoo runs
//! each method of the controllable-generation lab unchanged (LABS.md, Lab G):
//!
//! - `Guidance::Conditional`: the exact conditional score of p_t(x | u·x₀ = a) (method E);
//! - `Guidance::Likelihood`: ∇ log p_t(x) + ∇ log p(u·x₀ = a | x_t) from the mixture's exact
//!   posterior (method L; equal to E by Bayes' identity);
//! - `Guidance::Class`: ∇ log p_t(x) + ω ∇ log p_t(k | x) with the exact classifier, the
//!   responsibilities of the marginal (G1); ω = 1 is Bayes and samples component k;
//! - `Guidance::TrainedClass`: the same with a trained noise-conditional classifier.
//!
//! They are score-parameterised and evaluated in f64 on the host; the GPU executor has no
//! kernel for them (`ModelData::HostOnly`), so it says so instead of running something else.

use super::conditional::LineConditional;
use super::likelihood::guided_score;
use super::line::LineObservation;
use super::noisy_classifier::{ClassifierWorkspace, NoisyClassifier};
use crate::core::data::gmm::GaussianMixture;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{Model, ModelData};

/// Which guided score.
#[derive(Debug, Clone, PartialEq)]
pub enum Guidance {
    Conditional(LineConditional),
    Likelihood(LineObservation),
    /// Component `class` of the prior, at guidance scale `scale`.
    Class {
        class: usize,
        scale: f64,
    },
    /// The same with a trained noise-conditional classifier in place of the exact one.
    TrainedClass {
        class: usize,
        scale: f64,
        classifier: Box<NoisyClassifier>,
    },
}

/// A mixture prior's score, guided.
#[derive(Debug, Clone)]
pub struct GuidedModel {
    prior: GaussianMixture,
    process: Process,
    guidance: Guidance,
    /// The marginal p_t and, for class guidance, its component `class` alone, at the time last
    /// prepared (plans evaluate every particle at one time in turn).
    cached: Option<(u64, GaussianMixture, Option<GaussianMixture>)>,
    classifier_ws: ClassifierWorkspace,
}

/// Step of the central differences that give the Jacobian (the likelihood plan's divergence).
const JACOBIAN_STEP: f64 = 1e-5;

impl GuidedModel {
    /// Refuses a class the prior does not have, or a scale that is not a finite number.
    pub fn new(prior: GaussianMixture, process: Process, guidance: Guidance) -> Result<Self, String> {
        if process.is_conditional() || process.is_flow() {
            return Err(format!("guided scores are built for diffusion processes, not {}", process.name()));
        }
        if let Guidance::Class { class, scale } | Guidance::TrainedClass { class, scale, .. } = &guidance {
            if *class >= prior.len() {
                return Err(format!("class {class} does not exist: the data have {} components", prior.len()));
            }
            if !scale.is_finite() {
                return Err(format!("the guidance scale must be a finite number, got {scale}"));
            }
        }
        if let Guidance::TrainedClass { classifier, .. } = &guidance {
            if classifier.classes() != prior.len() || classifier.process != process {
                return Err(format!(
                    "the classifier tells {} classes under {}; the data have {} components under {}",
                    classifier.classes(),
                    classifier.process.name(),
                    prior.len(),
                    process.name()
                ));
            }
        }
        Ok(GuidedModel { prior, process, guidance, cached: None, classifier_ws: ClassifierWorkspace::default() })
    }

    pub fn guidance(&self) -> &Guidance {
        &self.guidance
    }

    fn marginals(&mut self, t: f64) -> (&GaussianMixture, Option<&GaussianMixture>) {
        let key = t.to_bits();
        if self.cached.as_ref().is_none_or(|(k, _, _)| *k != key) {
            let marginal = self.prior.marginal(&self.process, t, [0.0; 2]);
            let component = match self.guidance {
                Guidance::Class { class, .. } => {
                    let spec = marginal.to_spec();
                    GaussianMixture::new(vec![1.0], vec![spec.means[class]], vec![spec.covs[class]]).ok()
                }
                _ => None,
            };
            self.cached = Some((key, marginal, component));
        }
        let (_, marginal, component) = self.cached.as_ref().expect("cached above");
        (marginal, component.as_ref())
    }

    /// The guided score at (x, t), in f64.
    pub fn score(&mut self, x: [f64; 2], t: f64) -> [f64; 2] {
        if let Guidance::Class { scale, .. } = self.guidance {
            let (marginal, component) = self.marginals(t);
            let s = marginal.score(x);
            let Some(component) = component else { return [f64::NAN; 2] };
            let sk = component.score(x);
            // ∇ log p_t(k | x) = ∇ log (w_k p_t,k(x)) − ∇ log p_t(x).
            return [s[0] + scale * (sk[0] - s[0]), s[1] + scale * (sk[1] - s[1])];
        }
        if let Guidance::TrainedClass { class, scale, .. } = self.guidance {
            let s = self.marginals(t).0.score(x);
            let Guidance::TrainedClass { classifier, .. } = &self.guidance else { unreachable!("matched above") };
            let g = classifier.log_posterior_gradient(x, t, class, &mut self.classifier_ws);
            return [s[0] + scale * g[0], s[1] + scale * g[1]];
        }
        match &self.guidance {
            Guidance::Conditional(conditional) => conditional.score(&self.process, t, [0.0; 2], x),
            Guidance::Likelihood(line) => guided_score(&self.prior, line, &self.process, t, [0.0; 2], x),
            Guidance::Class { .. } | Guidance::TrainedClass { .. } => unreachable!("handled above"),
        }
    }
}

impl Model for GuidedModel {
    fn param(&self) -> Parameterisation {
        Parameterisation::Score
    }
    fn prepare(&mut self, t: f64) {
        self.marginals(t);
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        self.score([f64::from(x[0]), f64::from(x[1])], t).map(|v| v as f32)
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        let p = [f64::from(x[0]), f64::from(x[1])];
        let mut jacobian = [[0.0f32; 2]; 2];
        for j in 0..2 {
            let (mut hi, mut lo) = (p, p);
            hi[j] += JACOBIAN_STEP;
            lo[j] -= JACOBIAN_STEP;
            let (a, b) = (self.score(hi, t), self.score(lo, t));
            for o in 0..2 {
                jacobian[o][j] = ((a[o] - b[o]) / (2.0 * JACOBIAN_STEP)) as f32;
            }
        }
        (self.eval(x, t), jacobian)
    }
    fn data(&self) -> ModelData {
        ModelData::HostOnly { what: "guided scores of the controllable-generation lab".into() }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::metrics::{projections, sliced_wasserstein};
    use crate::core::sample::{build, SamplerOptions};
    use crate::exec::cpu::{run_plan, RunOptions};

    fn run(model: &mut GuidedModel, sampler: &str, nfe: usize, n: usize) -> Vec<[f64; 2]> {
        let options = SamplerOptions { nfe, ..SamplerOptions::default() };
        let plan = build(sampler, Process::vp(), Parameterisation::Score, &options).unwrap();
        let run = RunOptions { particles: n, seed: 4, traced: vec![], inputs: vec![] };
        let out = run_plan(&plan, model, &run).unwrap();
        out.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect()
    }

    /// G1: with ω = 1 and the exact classifier, guidance samples component k alone (SWD at
    /// the floor of two exact samples of that size), for an ODE and an SDE sampler.
    #[test]
    fn class_guidance_at_scale_one_samples_the_component() {
        let prior = GaussianMixture::eight_gaussians();
        let spec = prior.to_spec();
        let k = 3;
        let component = GaussianMixture::new(vec![1.0], vec![spec.means[k]], vec![spec.covs[k]]).unwrap();
        let n = 2000;
        let dirs = projections(64, 1);
        let floor = sliced_wasserstein(&component.sample(n, 1), &component.sample(n, 2), &dirs);
        for sampler in ["dpmpp-2m", "em"] {
            let nfe = if sampler == "em" { 400 } else { 40 };
            let mut model =
                GuidedModel::new(prior.clone(), Process::vp(), Guidance::Class { class: k, scale: 1.0 }).unwrap();
            let xs = run(&mut model, sampler, nfe, n);
            let swd = sliced_wasserstein(&xs, &component.sample(n, 3), &dirs);
            assert!(swd < 3.0 * floor + 0.01, "{sampler}: SWD {swd} against the floor {floor}");
        }
        assert!(GuidedModel::new(prior, Process::vp(), Guidance::Class { class: 8, scale: 1.0 }).is_err());
    }

    /// With a briefly trained classifier in place of the exact one, guidance at ω = 1 still
    /// puts most samples in the class (the shipped classifier's figures are in RESULTS.md).
    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn trained_class_guidance_samples_mostly_the_class() {
        let prior = GaussianMixture::eight_gaussians();
        let classifier = crate::core::inverse::noisy_classifier::train_gmm8_classifier(400, 0).unwrap();
        let guidance = Guidance::TrainedClass { class: 5, scale: 1.0, classifier: Box::new(classifier) };
        let mut model = GuidedModel::new(prior.clone(), Process::vp(), guidance).unwrap();
        let xs = run(&mut model, "dpmpp-2m", 40, 1000);
        let in_class = xs
            .iter()
            .filter(|x| {
                let r = prior.responsibilities(**x);
                r.iter().all(|v| *v <= r[5])
            })
            .count();
        assert!(in_class > 800, "{in_class} of 1000 in class 5");
    }

    /// Methods E and L through a plan sampler: the free coordinate's mean matches the exact
    /// conditional's, and every particle lands near the line.
    #[test]
    fn exact_and_likelihood_guidance_sample_the_conditional_with_any_sampler() {
        let prior = GaussianMixture::eight_gaussians();
        let line = LineObservation::at_angle(45.0, 1.0).unwrap();
        let exact = LineConditional::new(&prior, line).unwrap();
        let (mean, var) = exact.free_moments();
        let n = 2000;
        for guidance in [Guidance::Conditional(exact.clone()), Guidance::Likelihood(line)] {
            let mut model = GuidedModel::new(prior.clone(), Process::vp(), guidance.clone()).unwrap();
            let xs = run(&mut model, "dpmpp-2m", 40, n);
            let free: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[1]).collect();
            let m = free.iter().sum::<f64>() / n as f64;
            assert!((m - mean).abs() < 5.0 * (var / n as f64).sqrt(), "{guidance:?}: {m} against {mean}");
            let off: f64 = xs.iter().map(|x| (line.rotate(*x)[0] - 1.0).abs()).fold(0.0, f64::max);
            assert!(off < 0.2, "{off}");
        }
    }
}
