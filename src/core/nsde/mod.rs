//! The neural SDE lab's core (LABS.md, Lab B): data with exact answers, SDE fields with
//! derivatives, reversible Heun with its exact adjoint, the latent SDE, the Ito/Stratonovich
//! check and the Brownian panel.

pub mod calculus;
pub mod data;
pub mod field;
pub mod fit;
pub mod gan;
pub mod latent;
pub mod solve;
