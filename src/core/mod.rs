//! The numerical core: pure Rust, no web, GPU or I/O dependency.

pub mod adjoint;
pub mod autodiff;
pub mod cde;
pub mod data;
pub mod deq;
pub mod dynamics;
pub mod inverse;
pub mod limits;
pub mod metrics;
pub mod metrics_1d;
pub mod nn;
pub mod nsde;
pub mod odice;
pub mod param;
pub mod path;
pub mod process;
pub mod rng;
pub mod sample;
pub mod solve;
pub mod stats;
pub mod symreg;
pub mod train;
