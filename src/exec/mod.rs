//! Executors and the GPU plumbing they share.

pub mod backend;
pub mod cpu;
pub mod gpu;
pub mod shader_source;
