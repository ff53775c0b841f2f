//! The neural SDE lab's core (LABS.md, Lab B): data with exact answers, SDE fields with
//! derivatives, reversible Heun with its exact adjoint, the latent SDE, the Ito/Stratonovich
//! check and the Brownian panel; data paths paired with the model's by their Brownian motion; the latent prior as a plan model, so that the plan executors
//! (the CPU's and the GPU's) draw its paths.

pub mod calculus;
pub mod data;
pub mod field;
pub mod fit;
pub mod gan;
pub mod generator_model;
pub mod latent;
pub mod paired;
pub mod sde_model;
pub mod solve;
