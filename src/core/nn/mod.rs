//! The small MLP and its training machinery, written by hand over one parameter layout.

pub mod activation;
pub mod adam;
pub mod batch;
pub mod mlp;
pub mod scalar;
pub mod weights;

pub use activation::Activation;
pub use mlp::{Mlp, MlpConfig, Workspace};
