//! The wgpu side: one device context, buffer readback that works in the browser and
//! natively, and the kernels. Kernels are written as pure `execute_*` functions over a
//! `(device, queue)` pair so that tests can pass their own device.

pub mod abi;
pub mod context;
pub mod draw;
pub mod error;
pub mod kernel;
pub mod mlp_gradient;
pub mod model_upload;
pub mod op_major;
pub mod path_check;
pub mod plan_code;
pub mod plan_run;
pub mod readback;
mod readout;
pub mod resident;
pub mod rng_fill;
pub mod tiled_weights;
pub mod train_rows;
pub mod trainer;
pub mod work_budget;

pub use context::{describe_adapter, GpuContext};
pub use error::GpuError;
