//! Samplers. Each compiles to a [`plan::Plan`]; executors in `exec` run plans. `build` maps
//! the command-line names to builders.

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
pub mod reverse_sde;
pub mod unipc;

pub use options::SamplerOptions;
pub use plan::Plan;

use crate::core::process::Process;
use crate::core::solve::tableau::{EULER, HEUN, RK4};
use crate::core::train::objective::Parameterisation;

/// Sampler names as `nde sample --sampler` takes them.
pub const SAMPLERS: [&str; 22] = [
    "em",
    "reverse-diffusion",
    "ancestral",
    "pc",
    "pf-euler",
    "pf-heun",
    "pf-rk4",
    "pf-dopri5",
    "ddim",
    "dpm-solver-1",
    "dpm-solver-2",
    "dpm-solver-3",
    "dpmpp-2m",
    "dpmpp-3m",
    "dpmpp-3m-order3",
    "dpmpp-2m-sde",
    "unipc",
    "edm-heun",
    "ula",
    "annealed-langevin",
    "mala",
    "dlg",
];

/// Samplers of the mean-reverting process (`--process mr`).
pub const MR_SAMPLERS: [&str; 4] = ["mr-em", "mrs-ode", "mrs-ode-noise", "mrs-sde"];

/// The plan of sampler `name` for a model of parameterisation `param` on `process`.
pub fn build(name: &str, process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    if options.nfe == 0 {
        return Err("--nfe must be at least 1".into());
    }
    match name {
        "mr-em" => return mr_sampler::mr_euler_maruyama(process, param, options),
        "mrs-ode" => return mr_sampler::mr_sampler(process, param, mr_sampler::MrsVariant::OdeData, options),
        "mrs-ode-noise" => return mr_sampler::mr_sampler(process, param, mr_sampler::MrsVariant::OdeNoise, options),
        "mrs-sde" => return mr_sampler::mr_sampler(process, param, mr_sampler::MrsVariant::SdeData, options),
        _ => {}
    }
    if process.is_conditional() {
        return Err(format!(
            "{name} does not sample the mean-reverting process: use mr-em, mrs-ode, mrs-ode-noise or mrs-sde"
        ));
    }
    match name {
        "em" => Ok(reverse_sde::euler_maruyama(process, param, options)),
        "reverse-diffusion" => Ok(reverse_sde::reverse_diffusion(process, param, options)),
        "ancestral" => reverse_sde::ancestral(process, param, options),
        "pc" => Ok(pc::predictor_corrector(process, param, options)),
        "pf-euler" => Ok(pf_ode::fixed_step(process, param, &EULER, options)),
        "pf-heun" => Ok(pf_ode::fixed_step(process, param, &HEUN, options)),
        "pf-rk4" => Ok(pf_ode::fixed_step(process, param, &RK4, options)),
        "pf-dopri5" => Ok(pf_ode::adaptive(process, param, options)),
        "ddim" => Ok(ddim::ddim(process, param, options)),
        "dpm-solver-1" => dpm_solver::dpm_solver_singlestep(process, param, 1, options),
        "dpm-solver-2" => dpm_solver::dpm_solver_singlestep(process, param, 2, options),
        "dpm-solver-3" => dpm_solver::dpm_solver_singlestep(process, param, 3, options),
        "dpmpp-2m" => Ok(dpm_solver::dpmpp_multistep(process, param, dpm_solver::Multistep::TwoM, options)),
        "dpmpp-3m" => Ok(dpm_solver::dpmpp_multistep(process, param, dpm_solver::Multistep::ThreeM, options)),
        "dpmpp-3m-order3" => {
            Ok(dpm_solver::dpmpp_multistep(process, param, dpm_solver::Multistep::ThreeMOrder3, options))
        }
        "dpmpp-2m-sde" => Ok(dpm_solver::dpmpp_multistep(process, param, dpm_solver::Multistep::TwoMSde, options)),
        "unipc" => unipc::unipc(process, param, options),
        "edm-heun" => edm::edm_heun(process, param, options),
        "ula" => Ok(langevin::ula(process, param, options)),
        "annealed-langevin" => Ok(langevin::annealed_langevin(process, param, options)),
        "mala" => Ok(langevin::mala(process, param, options)),
        "dlg" => dlg::dlg(process, param, options),
        other => Err(format!(
            "unknown sampler '{other}': choose one of {}, {}, or exact",
            SAMPLERS.join(", "),
            MR_SAMPLERS.join(", ")
        )),
    }
}
