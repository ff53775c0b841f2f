//! The numerical core: pure Rust, no web, GPU or I/O dependency.

pub mod rng;
pub mod stats;
