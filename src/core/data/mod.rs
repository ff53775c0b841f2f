//! Data: toy 2D sets, points from CSV files, and Gaussian mixtures (the exact oracle).

pub mod csv;
pub mod gmm;
pub mod toy;

pub use gmm::{GaussianMixture, MixtureSpec};
pub use toy::ToyDataset;

/// A 2D point. f64 in the core; the GPU path converts to f32 at its boundary.
pub type Point = [f64; 2];
