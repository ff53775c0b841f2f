//! Controllable generation with an unconditional model (LABS.md, Lab G; Song et al. 2021 §5):
//! the exact answers the inverse-problem lab is measured against, on Gaussian mixtures.
//!
//! - `line`: the observation u·x₀ = a, and the rotation that makes it a coordinate
//!   (inpainting observes x₀,₁; "colourisation" a rotated coordinate);
//! - `conditional`: the exact conditional p(x₀ | u·x₀ = a) of a mixture, and its law at every
//!   time of a process, whose score is the exact conditional score;
//! - `likelihood`: ∇ log p(u·x₀ = a | x_t) from the mixture's posterior p(x₀ | x_t), so that
//!   the guided score ∇ log p_t(x) + ∇ log p(a | x_t) can be checked against the exact
//!   conditional score (Bayes' identity);
//! - `degradation`: linear-Gaussian degradations (shrink, drop-y) and a mixture's exact
//!   posterior under them;
//! - `dps_plan`: the DPS-style correction through the model's input Jacobian (`Op::Dps`) after
//!   every step of any fixed-step sampler;
//! - `guided_model`: the exact conditional, likelihood-guided and class-guided scores as
//!   models, so every sampler of the zoo runs them;
//! - `method_plan`: one inpainting method as a plan and a model for any fixed-step sampler
//!   (the CLI's and the page's);
//! - `noisy_classifier`: a trained time-dependent classifier p̂_t(k | x) for class guidance;
//! - `replace_plan`: replacement as a plan transform (`Op::Replace` after every step), so any
//!   fixed-step sampler runs it on either executor;
//! - `replacement`: score_sde's replacement trick with an exact score, and the law it converges
//!   to (not the conditional: its bias, computed from the moment equations);
//! - `restore`: restoration with the mean-reverting samplers, by the exact conditional score
//!   or a network trained on degraded pairs, measured against the exact posterior.

pub mod conditional;
pub mod degradation;
pub mod dps_plan;
pub mod guided_model;
pub mod likelihood;
pub mod line;
pub mod method_plan;
pub mod noisy_classifier;
pub mod replace_plan;
pub mod replacement;
pub mod restore;
