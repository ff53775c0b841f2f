//! Samplers. Each compiles to a [`plan::Plan`]; executors in `exec` run plans. The
//! [`registry`] lists them with the rule of which process and model each runs on; `build`
//! looks a name up there.

pub mod ddim;
pub mod dlg;
pub mod dpm_solver;
pub mod edm;
pub mod grid;
pub mod langevin;
pub mod likelihood;
pub mod model;
pub mod mr_sampler;
pub mod options;
pub mod pc;
pub mod pf_ode;
pub mod plan;
pub mod registry;
pub mod reverse_sde;
pub mod unipc;

pub use options::SamplerOptions;
pub use plan::Plan;
pub use registry::{BuildError, ModelCaps, Reason, Refusal, MR_SAMPLERS, REGISTRY, SAMPLERS};

use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// The plan of sampler `name` for a model of parameterisation `param` on `process`, with
/// the command line's advice in its errors (the page builds through the registry, whose
/// errors name no flag).
pub fn build(name: &str, process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    registry::find(name)?.build(process, param, options).map_err(|e| e.cli_message())
}
