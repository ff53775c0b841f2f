//! Executors and the GPU plumbing they share.

pub mod agreement;
pub mod backend;
pub mod cpu;
pub mod cpu_blocks;
pub mod gpu;
pub mod shader_source;
pub mod split_run;
