//! Why the GPU path could not run, in words a user can act on.

/// Everything that can go wrong on the GPU path. Each message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter: no WebGPU in this browser, or no Vulkan driver natively.
    NoAdapter(String),
    /// An adapter was found but refused to give a device.
    NoDevice(String),
    /// A kernel did not compile or validate, or a command failed validation.
    Validation(String),
    /// Reading results back failed (the device was lost, say).
    Readback(String),
    /// The device ran out of memory for the buffers a run needs.
    OutOfMemory(String),
    /// The GPU executor cannot run this plan or model (the CPU executor may).
    Unsupported(String),
    /// A particle left the finite numbers.
    Diverged(String),
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::NoAdapter(why) => write!(f, "no GPU adapter: {why}"),
            GpuError::NoDevice(why) => write!(f, "the GPU adapter refused a device: {why}"),
            GpuError::Validation(why) => write!(f, "GPU validation error (a bug: please report it): {why}"),
            GpuError::Readback(why) => write!(f, "reading GPU results failed: {why}; the CPU path still works"),
            GpuError::OutOfMemory(why) => write!(f, "the GPU ran out of memory: {why}"),
            GpuError::Unsupported(why) => write!(f, "{why}"),
            GpuError::Diverged(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for GpuError {}
