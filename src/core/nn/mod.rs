//! The small MLP and its training machinery, written by hand over one parameter layout.
//!
//! `mlp.rs` is the definition (scalar forward, VJP and JVP, generic over f32 and f64);
//! `gemm.rs` is the one batched kernel layer (`narrow.rs` its path for layers of a few outputs); `batch.rs` (forward and Jacobian) and
//! `backprop.rs` (forward with a tape, backward, the minibatch gradient) run the same
//! functions over blocks of rows on it.

pub mod activation;
pub mod activation_batch;
pub mod adam;
pub mod backprop;
pub mod batch;
pub mod dense;
pub mod dense_activation;
pub mod dense_backprop;
pub mod gemm;
#[cfg(target_arch = "x86_64")]
pub mod gemm_avx512;
pub mod mlp;
pub mod narrow;
pub mod parallel;
pub mod scalar;
pub mod weights;

pub use activation::Activation;
pub use mlp::{Mlp, MlpConfig, Workspace};
