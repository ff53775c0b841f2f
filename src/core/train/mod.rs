//! Training: objectives (denoising score matching, flow matching, the MR objective) and the
//! minibatch trainer; the noise-level classifier of Denoising MCMC.

pub mod level_classifier;
pub mod objective;
pub mod trainer;

pub use objective::{Objective, Parameterisation, Weighting};
pub use trainer::{TrainConfig, TrainError, Trainer};
