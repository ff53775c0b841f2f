//! Shared by the integration tests: the native adapter (or a loud skip), and running `nde`.
//! Each test file uses part of it, so the rest is dead code there.
#![allow(dead_code)]

use std::process::Command;

use nde_playground::exec::gpu::GpuContext;

/// Runs the `nde` binary built for these tests.
pub fn nde(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).output().expect("nde runs")
}

/// Runs `nde` and parses its stdout as one JSON object, failing with its stderr otherwise.
pub fn json_of(args: &[&str]) -> serde_json::Value {
    let out = nde(args);
    assert!(out.status.success(), "nde {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("nde {args:?}: stdout is not one JSON object ({e})"))
}

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
