//! Test layer (c): the GPU smoke test through wgpu on Vulkan (Mesa's lavapipe in CI).
//! The Philox kernel runs on the GPU and its output must equal the CPU's bit for bit for
//! 2^20 u32 draws, and its normals must match to the named tolerance.
//!
//! Without an adapter the test prints `SKIPPED` and the layer's runner counts it as skipped,
//! not passed; with `NDE_REQUIRE_GPU=1` (set by `make test`, which installs lavapipe) a
//! missing adapter is a failure.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::exec::gpu::rng_fill::{compare_with_cpu, execute_rng_fill, RngFillRequest, NORMAL_TOLERANCE};

#[test]
fn gpu_philox_matches_cpu_bit_for_bit() {
    let Some(ctx) = gpu_or_skip("gpu_philox_matches_cpu_bit_for_bit") else { return };
    // Seeds, streams and counters with high bits set exercise the 64-bit carries.
    let requests = [
        RngFillRequest { seed: 0, stream: 0, first_counter: 0, count: 1 << 18 },
        RngFillRequest {
            seed: 0xDEAD_BEEF_0123_4567,
            stream: (7 << 32) | 3,
            first_counter: u32::MAX as u64 - 100,
            count: 4096,
        },
        RngFillRequest { seed: 42, stream: 999_999, first_counter: 1 << 40, count: 1000 },
    ];
    let mut draws = 0;
    for request in requests {
        let output = pollster::block_on(execute_rng_fill(&ctx.device, &ctx.queue, request)).expect("kernel runs");
        let agreement = compare_with_cpu(request, &output);
        assert_eq!(agreement.first_bit_mismatch, None, "GPU and CPU Philox differ for {request:?}");
        assert!(
            agreement.max_normal_error <= NORMAL_TOLERANCE,
            "normals differ by {} > {NORMAL_TOLERANCE} for {request:?}",
            agreement.max_normal_error
        );
        draws += agreement.u32_draws;
        println!("{request:?}: bits identical, max normal difference {:e}", agreement.max_normal_error);
    }
    assert!(draws >= 1_000_000, "only {draws} u32 draws compared");
}
