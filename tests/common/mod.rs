//! Shared by the GPU test files: the native adapter, or a loud skip.

use nde_playground::exec::gpu::GpuContext;

/// The native (Vulkan) adapter. Without one the test prints `SKIPPED` on its own line (the
/// layer runner counts it as skipped, not passed), or fails when NDE_REQUIRE_GPU=1.
pub fn gpu_or_skip(test: &str) -> Option<GpuContext> {
    match pollster::block_on(GpuContext::native()) {
        Ok(ctx) => {
            println!("{test}: adapter {}", ctx.describe());
            Some(ctx)
        }
        Err(e) if std::env::var("NDE_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("{test}: NDE_REQUIRE_GPU=1 but {e}")
        }
        Err(e) => {
            // Own line, so the layer runner finds it after libtest's "test name ... ".
            println!("\nSKIPPED {test}: {e}");
            None
        }
    }
}
