//! The one list of samplers: each one's name, family, builder and the rule of which processes
//! and models it runs on. The command line's help and errors, the page's menus, its "add a
//! panel" choice and the link reader all read this list, so they cannot drift apart.
//!
//! A refusal carries a [`Reason`] in the vocabulary of the mathematics ("needs a process with
//! a variance-preserving or exploding schedule"); the command line adds flag advice through
//! [`Reason::cli_advice`], the page shows the reason beside the control.

use std::fmt;

use super::options::SamplerOptions;
use super::plan::Plan;
use super::{ddim, dlg, dpm_solver, edm, langevin, mr_sampler, pc, pf_ode, reverse_sde, unipc};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::solve::tableau::{EULER, HEUN, RK4};

/// How a sampler moves particles: the page groups its menus by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A discretised reverse-time SDE (stochastic).
    ReverseSde,
    /// A solver of the probability-flow ODE (deterministic).
    ProbabilityFlow,
    /// An exponential integrator in log-SNR (DDIM, DPM-Solver, UniPC, EDM).
    Exponential,
    /// A Markov chain on the data distribution or across noise levels.
    Mcmc,
    /// A sampler of the mean-reverting process (restoration towards a condition).
    MeanReverting,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::ReverseSde => "reverse SDE",
            Family::ProbabilityFlow => "probability-flow ODE",
            Family::Exponential => "exponential integrator",
            Family::Mcmc => "Markov chain",
            Family::MeanReverting => "mean-reverting",
        }
    }
}

/// What a model can give a sampler beyond its network output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCaps {
    pub param: Parameterisation,
    /// log p_t(x) (an exact mixture): MALA's acceptance test needs it.
    pub log_density: bool,
    /// p(noise level | x) (an exact mixture, or a trained level classifier): DLG's Gibbs step.
    pub level_posterior: bool,
}

impl ModelCaps {
    /// A trained network alone: its output, nothing more.
    pub fn network(param: Parameterisation) -> Self {
        ModelCaps { param, log_density: false, level_posterior: false }
    }
}

/// Why a sampler does not run on a process or with a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An MR sampler asked for on an unconditional process.
    MeanRevertingOnly,
    /// An unconditional sampler asked for on the mean-reverting process.
    NotMeanReverting,
    /// The sampler's update is written for some schedules only.
    Schedule { needs: &'static str },
    /// The sampler needs log p_t(x).
    LogDensity,
    /// The sampler needs p(level | x).
    LevelPosterior,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::MeanRevertingOnly => write!(f, "it samples the mean-reverting process only"),
            Reason::NotMeanReverting => {
                write!(f, "it does not sample the mean-reverting process (its prior is not centred on a condition)")
            }
            Reason::Schedule { needs } => write!(f, "its update is defined for {needs} only"),
            Reason::LogDensity => write!(f, "its acceptance test needs the model's log-density, which only an exact mixture has"),
            Reason::LevelPosterior => write!(
                f,
                "its Gibbs step needs the probability of each noise level, which only an exact mixture or a trained level classifier gives"
            ),
        }
    }
}

impl Reason {
    /// What to change on the command line.
    pub fn cli_advice(&self) -> &'static str {
        match self {
            Reason::MeanRevertingOnly => "use --process mr",
            Reason::NotMeanReverting => "use mr-em, mrs-ode, mrs-ode-noise or mrs-sde",
            Reason::Schedule { .. } => "choose another --process or --sampler",
            Reason::LogDensity => "use --model exact with a mixture target",
            Reason::LevelPosterior => {
                "use --model exact with a mixture target, or train a classifier with `nde train-levels` and pass it as --level-model FILE.json"
            }
        }
    }
}

/// A sampler that does not run here, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub sampler: &'static str,
    pub process: &'static str,
    pub reason: Reason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::LogDensity | Reason::LevelPosterior => {
                write!(f, "{} does not run with this model: {}", self.sampler, self.reason)
            }
            _ => write!(f, "{} does not run on the {} process: {}", self.sampler, self.process, self.reason),
        }
    }
}

/// Why a plan was not built: the sampler does not run here, or an option is out of its
/// range (the builders' own messages, which name the option as `nde` spells it).
#[derive(Debug, Clone, PartialEq)]
pub enum BuildError {
    Refused(Refusal),
    NoEvaluations,
    Options(String),
}

impl BuildError {
    /// The message for the command line, with the flag to change.
    pub fn cli_message(&self) -> String {
        match self {
            BuildError::Refused(r) => format!("{r}; {}", r.reason.cli_advice()),
            BuildError::NoEvaluations => "--nfe must be at least 1".into(),
            BuildError::Options(m) => m.clone(),
        }
    }
}

/// The message for the page: the refusal's reason, no flags.
impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Refused(r) => write!(f, "{r}"),
            BuildError::NoEvaluations => write!(f, "a sampler needs at least one model evaluation"),
            BuildError::Options(m) => write!(f, "{m}"),
        }
    }
}

type Builder = fn(Process, Parameterisation, &SamplerOptions) -> Result<Plan, String>;

/// What a sampler needs beyond its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    LogDensity,
    LevelPosterior,
}

/// Which processes a sampler's update is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Processes {
    /// Every unconditional process.
    Unconditional,
    /// VP, cosine and VE (ancestral sampling's closed-form steps).
    VpCosineVe,
    /// Every unconditional process but rectified flow (EDM's sigma~ parameterisation).
    NotFlow,
    /// The mean-reverting process.
    OnlyMeanReverting,
}

/// One sampler.
#[derive(Debug)]
pub struct Sampler {
    /// Its name on the command line and in links.
    pub name: &'static str,
    /// Its name for people (the page's menus and legends).
    pub title: &'static str,
    pub family: Family,
    /// A line for the help and the page's tooltips.
    pub summary: &'static str,
    processes: Processes,
    needs: Needs,
    builder: Builder,
}

/// Samplers are the registry's statics: two are the same when their names are.
impl PartialEq for Sampler {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Sampler {
    /// Whether this sampler's update is written for `process` (what `build` checks).
    pub fn supports_process(&self, process: &Process) -> Result<(), Refusal> {
        let refuse = |reason| Err(Refusal { sampler: self.name, process: process.name(), reason });
        match (self.processes, process.is_conditional()) {
            (Processes::OnlyMeanReverting, false) => return refuse(Reason::MeanRevertingOnly),
            (Processes::OnlyMeanReverting, true) => return Ok(()),
            (_, true) => return refuse(Reason::NotMeanReverting),
            _ => {}
        }
        match self.processes {
            Processes::VpCosineVe
                if !matches!(process, Process::Vp { .. } | Process::CosineVp { .. } | Process::Ve { .. }) =>
            {
                refuse(Reason::Schedule { needs: "the vp, cosine and ve processes" })
            }
            Processes::NotFlow if process.is_flow() => {
                refuse(Reason::Schedule { needs: "diffusions (vp, subvp, cosine, ve)" })
            }
            _ => Ok(()),
        }
    }

    /// Whether this sampler runs on `process` with a model that offers `model`.
    pub fn supports(&self, process: &Process, model: &ModelCaps) -> Result<(), Refusal> {
        self.supports_process(process)?;
        let refuse = |reason| Err(Refusal { sampler: self.name, process: process.name(), reason });
        match self.needs {
            Needs::LogDensity if !model.log_density => refuse(Reason::LogDensity),
            Needs::LevelPosterior if !model.level_posterior => refuse(Reason::LevelPosterior),
            _ => Ok(()),
        }
    }

    /// The plan of this sampler (after checking the process).
    pub fn build(
        &self,
        process: Process,
        param: Parameterisation,
        options: &SamplerOptions,
    ) -> Result<Plan, BuildError> {
        self.supports_process(&process).map_err(BuildError::Refused)?;
        if options.nfe == 0 {
            return Err(BuildError::NoEvaluations);
        }
        (self.builder)(process, param, options).map_err(BuildError::Options)
    }
}

const fn sampler(
    name: &'static str,
    title: &'static str,
    family: Family,
    summary: &'static str,
    processes: Processes,
    needs: Needs,
    builder: Builder,
) -> Sampler {
    Sampler { name, title, family, summary, processes, needs, builder }
}

use Family::*;
use Processes::*;

/// Every sampler, in the order menus and help list them.
pub static REGISTRY: [Sampler; 26] = [
    sampler(
        "em",
        "Euler–Maruyama",
        ReverseSde,
        "Euler-Maruyama on the reverse SDE",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(reverse_sde::euler_maruyama(p, m, o)),
    ),
    sampler(
        "reverse-diffusion",
        "Reverse diffusion",
        ReverseSde,
        "the reverse-diffusion predictor of score_sde",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(reverse_sde::reverse_diffusion(p, m, o)),
    ),
    sampler(
        "ancestral",
        "Ancestral (DDPM)",
        ReverseSde,
        "ancestral sampling (DDPM / SMLD steps)",
        VpCosineVe,
        Needs::Nothing,
        reverse_sde::ancestral,
    ),
    sampler(
        "pc",
        "Predictor–corrector",
        ReverseSde,
        "predictor-corrector: reverse diffusion plus Langevin corrector steps",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(pc::predictor_corrector(p, m, o)),
    ),
    sampler(
        "pf-euler",
        "PF-ODE Euler",
        ProbabilityFlow,
        "Euler on the probability-flow ODE",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(pf_ode::fixed_step(p, m, &EULER, o)),
    ),
    sampler(
        "pf-heun",
        "PF-ODE Heun",
        ProbabilityFlow,
        "Heun on the probability-flow ODE",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(pf_ode::fixed_step(p, m, &HEUN, o)),
    ),
    sampler(
        "pf-rk4",
        "PF-ODE RK4",
        ProbabilityFlow,
        "classical Runge-Kutta 4 on the probability-flow ODE",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(pf_ode::fixed_step(p, m, &RK4, o)),
    ),
    sampler(
        "pf-dopri5",
        "PF-ODE Dopri5 (adaptive)",
        ProbabilityFlow,
        "adaptive Dormand-Prince 5(4) on the probability-flow ODE",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(pf_ode::adaptive(p, m, o)),
    ),
    sampler(
        "ddim",
        "DDIM",
        Exponential,
        "DDIM (eta 0: the first-order exponential integrator)",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(ddim::ddim(p, m, o)),
    ),
    sampler(
        "dpm-solver-1",
        "DPM-Solver-1",
        Exponential,
        "DPM-Solver, first order",
        Unconditional,
        Needs::Nothing,
        |p, m, o| dpm_solver::dpm_solver_singlestep(p, m, 1, o),
    ),
    sampler(
        "dpm-solver-2",
        "DPM-Solver-2",
        Exponential,
        "DPM-Solver, second order singlestep",
        Unconditional,
        Needs::Nothing,
        |p, m, o| dpm_solver::dpm_solver_singlestep(p, m, 2, o),
    ),
    sampler(
        "dpm-solver-3",
        "DPM-Solver-3",
        Exponential,
        "DPM-Solver, third order singlestep",
        Unconditional,
        Needs::Nothing,
        |p, m, o| dpm_solver::dpm_solver_singlestep(p, m, 3, o),
    ),
    sampler(
        "dpmpp-2m",
        "DPM-Solver++ 2M",
        Exponential,
        "DPM-Solver++ 2M (multistep, data prediction)",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(dpm_solver::dpmpp_multistep(p, m, dpm_solver::Multistep::TwoM, o)),
    ),
    sampler(
        "dpmpp-3m",
        "DPM-Solver++ 3M",
        Exponential,
        "DPM-Solver++ 3M as the reference writes it (order 2 in practice)",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(dpm_solver::dpmpp_multistep(p, m, dpm_solver::Multistep::ThreeM, o)),
    ),
    sampler(
        "dpmpp-3m-order3",
        "DPM-Solver++ 3M (order 3)",
        Exponential,
        "DPM-Solver++ 3M with the full second difference (order 3)",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(dpm_solver::dpmpp_multistep(p, m, dpm_solver::Multistep::ThreeMOrder3, o)),
    ),
    sampler(
        "dpmpp-2m-sde",
        "DPM-Solver++ 2M SDE",
        ReverseSde,
        "DPM-Solver++ 2M SDE (stochastic multistep)",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(dpm_solver::dpmpp_multistep(p, m, dpm_solver::Multistep::TwoMSde, o)),
    ),
    sampler(
        "unipc",
        "UniPC",
        Exponential,
        "UniPC predictor-corrector, orders 1-3",
        Unconditional,
        Needs::Nothing,
        unipc::unipc,
    ),
    sampler(
        "edm-heun",
        "EDM Heun",
        Exponential,
        "EDM Heun (Karras levels, optional churn)",
        NotFlow,
        Needs::Nothing,
        edm::edm_heun,
    ),
    sampler(
        "ula",
        "Unadjusted Langevin",
        Mcmc,
        "unadjusted Langevin at the smallest noise level",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(langevin::ula(p, m, o)),
    ),
    sampler(
        "annealed-langevin",
        "Annealed Langevin",
        Mcmc,
        "annealed Langevin dynamics across the noise levels",
        Unconditional,
        Needs::Nothing,
        |p, m, o| Ok(langevin::annealed_langevin(p, m, o)),
    ),
    sampler(
        "mala",
        "MALA",
        Mcmc,
        "Metropolis-adjusted Langevin on the data density",
        Unconditional,
        Needs::LogDensity,
        |p, m, o| Ok(langevin::mala(p, m, o)),
    ),
    sampler(
        "dlg",
        "Denoising Langevin Gibbs",
        Mcmc,
        "Denoising Langevin Gibbs, then an integrator from each particle's level",
        NotFlow,
        Needs::LevelPosterior,
        dlg::dlg,
    ),
    sampler(
        "mr-em",
        "MR Euler–Maruyama",
        Family::MeanReverting,
        "Euler-Maruyama on the mean-reverting reverse SDE",
        Processes::OnlyMeanReverting,
        Needs::Nothing,
        mr_sampler::mr_euler_maruyama,
    ),
    sampler(
        "mrs-ode",
        "MR Sampler ODE",
        Family::MeanReverting,
        "MR Sampler, ODE with data prediction",
        Processes::OnlyMeanReverting,
        Needs::Nothing,
        |p, m, o| mr_sampler::mr_sampler(p, m, mr_sampler::MrsVariant::OdeData, o),
    ),
    sampler(
        "mrs-ode-noise",
        "MR Sampler ODE (noise)",
        Family::MeanReverting,
        "MR Sampler, ODE with noise prediction",
        Processes::OnlyMeanReverting,
        Needs::Nothing,
        |p, m, o| mr_sampler::mr_sampler(p, m, mr_sampler::MrsVariant::OdeNoise, o),
    ),
    sampler(
        "mrs-sde",
        "MR Sampler SDE",
        Family::MeanReverting,
        "MR Sampler, SDE with data prediction",
        Processes::OnlyMeanReverting,
        Needs::Nothing,
        |p, m, o| mr_sampler::mr_sampler(p, m, mr_sampler::MrsVariant::SdeData, o),
    ),
];

/// The sampler called `name`.
pub fn find(name: &str) -> Result<&'static Sampler, String> {
    REGISTRY.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
        format!("unknown sampler '{name}': choose one of {}", names.join(", "))
    })
}

/// The samplers that run on `process` with a model offering `model`.
pub fn supported(process: &Process, model: &ModelCaps) -> impl Iterator<Item = &'static Sampler> + use<> {
    let (process, model) = (*process, *model);
    REGISTRY.iter().filter(move |s| s.supports(&process, &model).is_ok())
}

/// The names of the samplers of one side of the registry (unconditional or mean-reverting),
/// in registry order: `SAMPLERS` and `MR_SAMPLERS` are these.
const fn names<const N: usize>(mean_reverting: bool) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut k) = (0, 0);
    while i < REGISTRY.len() {
        if matches!(REGISTRY[i].family, Family::MeanReverting) == mean_reverting {
            out[k] = REGISTRY[i].name;
            k += 1;
        }
        i += 1;
    }
    assert!(k == N, "the count of SAMPLERS or MR_SAMPLERS does not match the registry");
    out
}

/// Sampler names as `nde sample --sampler` takes them (the unconditional ones).
pub const SAMPLERS: [&str; 22] = names(false);
/// Samplers of the mean-reverting process (`--process mr`).
pub const MR_SAMPLERS: [&str; 4] = names(true);

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn every_process() -> Vec<Process> {
        Process::NAMES.iter().map(|n| Process::from_name(n).unwrap()).collect()
    }

    /// The builders' own checks and the registry's rule agree: a plan is built exactly where
    /// the registry says the process is supported.
    #[test]
    fn build_succeeds_exactly_where_the_registry_says() {
        for process in every_process() {
            let param = if process.is_flow() { Parameterisation::Flow } else { Parameterisation::Eps };
            for sampler in &REGISTRY {
                let options = SamplerOptions { nfe: 10, ..SamplerOptions::default() };
                let built = sampler.build(process, param, &options);
                let rule = sampler.supports_process(&process);
                assert_eq!(
                    built.is_ok(),
                    rule.is_ok(),
                    "{} on {}: build {:?} but rule {:?}",
                    sampler.name,
                    process.name(),
                    built.err(),
                    rule
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_the_name_lists_follow_the_registry() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        assert_eq!(SAMPLERS.len() + MR_SAMPLERS.len(), REGISTRY.len());
        assert!(SAMPLERS.iter().all(|s| find(s).is_ok_and(|e| e.family != Family::MeanReverting)));
        assert!(MR_SAMPLERS.iter().all(|s| find(s).is_ok_and(|e| e.family == Family::MeanReverting)));
        assert!(find("nosuch").unwrap_err().contains("mrs-sde"));
    }

    #[test]
    fn models_without_a_density_or_level_posterior_are_refused_with_a_reason() {
        let vp = Process::vp();
        let network = ModelCaps::network(Parameterisation::Eps);
        let exact = ModelCaps { log_density: true, level_posterior: true, ..network };
        for (name, reason) in [("mala", Reason::LogDensity), ("dlg", Reason::LevelPosterior)] {
            let s = find(name).unwrap();
            assert_eq!(s.supports(&vp, &network).unwrap_err().reason, reason);
            assert!(s.supports(&vp, &exact).is_ok());
        }
    }
}
