//! One inpainting method as a plan and a model, for any fixed-step sampler: what the CLI
//! (`nde lab inverse inpaint`) and the page both run. Replacement and DPS wrap the sampler's
//! plan around the unconditional model (the exact score, or a network); the exact conditional
//! and likelihood-guided scores are models the plain plan runs.

use super::conditional::LineConditional;
use super::dps_plan::with_dps;
use super::guided_model::{Guidance, GuidedModel};
use super::line::LineObservation;
use super::replace_plan::with_replacement;
use super::replacement::InverseMethod;
use crate::core::data::gmm::GaussianMixture;
use crate::core::nn::mlp::Mlp;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::grid::T_EPS_SAMPLE;
use crate::core::sample::model::{ExactMixtureModel, MlpModel, Model};
use crate::core::sample::plan::Plan;
use crate::core::sample::{build, SamplerOptions};

/// The unconditional model replacement and DPS use.
#[derive(Debug, Clone)]
pub enum Unconditional {
    /// The data's exact score.
    Exact,
    /// A network trained on the data under VP, with its parameterisation.
    Network(Mlp, Parameterisation),
}

/// What an inpainting run needs besides the method.
pub struct Inpainting<'a> {
    pub prior: &'a GaussianMixture,
    pub line: LineObservation,
    pub sampler: &'a str,
    pub nfe: usize,
    /// DPS's step size ζ.
    pub zeta: f64,
    pub unconditional: &'a Unconditional,
}

impl Inpainting<'_> {
    /// `method`'s plan and model under VP, ending at `T_EPS_SAMPLE`.
    pub fn method_plan(&self, method: InverseMethod) -> Result<(Plan, Box<dyn Model>), String> {
        let process = Process::vp();
        let options = SamplerOptions { nfe: self.nfe, ..SamplerOptions::default() };
        let unconditional = || -> Result<(Plan, Box<dyn Model>), String> {
            Ok(match self.unconditional {
                Unconditional::Exact => (
                    build(self.sampler, process, Parameterisation::Score, &options)?,
                    Box::new(ExactMixtureModel::new(self.prior.clone(), process)),
                ),
                Unconditional::Network(mlp, param) => {
                    (build(self.sampler, process, *param, &options)?, Box::new(MlpModel::new(mlp.clone(), *param)))
                }
            })
        };
        let guided = |guidance: Guidance| -> Result<(Plan, Box<dyn Model>), String> {
            let plan = build(self.sampler, process, Parameterisation::Score, &options)?;
            Ok((plan, Box::new(GuidedModel::new(self.prior.clone(), process, guidance)?)))
        };
        match method {
            InverseMethod::Replacement => {
                let (plan, model) = unconditional()?;
                Ok((with_replacement(&plan, &self.line, T_EPS_SAMPLE)?, model))
            }
            InverseMethod::Dps => {
                let (plan, model) = unconditional()?;
                Ok((with_dps(&plan, &self.line, self.zeta, T_EPS_SAMPLE)?, model))
            }
            InverseMethod::Exact => guided(Guidance::Conditional(LineConditional::new(self.prior, self.line)?)),
            InverseMethod::Likelihood => guided(Guidance::Likelihood(self.line)),
        }
    }
}
