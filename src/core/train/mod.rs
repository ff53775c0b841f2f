//! Training: objectives (denoising score matching, flow matching, the MR objective), the
//! minibatch trainer with counter-keyed draws, the driver that owns the loop (history,
//! schedule, checkpoint and rollback); the noise-level classifier of Denoising MCMC; the
//! training benchmark (`speed`).

pub mod level_classifier;
pub mod objective;
pub mod session;
pub mod speed;
pub mod trainer;

pub use objective::{Objective, Parameterisation, Weighting};
pub use session::{RateChange, TrainingSession};
pub use trainer::{MinibatchDraw, TrainConfig, TrainError, Trainer};
