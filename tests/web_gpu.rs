//! Test layer (d), browser half: WebGPU compute in headless Chromium (wasm-pack test).
//! The library's own unit tests (the core) run in the same layer.
//!
//! webdriver.json launches Chromium with --enable-unsafe-webgpu, so an adapter must exist
//! here: a missing one fails the test, with the reason, rather than passing quietly.
#![cfg(target_arch = "wasm32")]

use nde_playground::exec::gpu::rng_fill::{compare_with_cpu, execute_rng_fill, RngFillRequest, NORMAL_TOLERANCE};
use nde_playground::exec::gpu::GpuContext;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn webgpu_philox_matches_cpu_bit_for_bit() {
    let ctx = GpuContext::browser()
        .await
        .unwrap_or_else(|e| panic!("{e} (webdriver.json must pass --enable-unsafe-webgpu to Chromium)"));
    let requests = [
        RngFillRequest { seed: 0x0123_4567_89AB_CDEF, stream: 11, first_counter: 0, count: 1 << 18 },
        RngFillRequest { seed: 5, stream: (1 << 33) | 9, first_counter: u32::MAX as u64 - 10, count: 2048 },
    ];
    let mut draws = 0;
    for request in requests {
        let output = execute_rng_fill(&ctx.device, &ctx.queue, request).await.expect("kernel runs");
        let agreement = compare_with_cpu(request, &output);
        assert_eq!(agreement.first_bit_mismatch, None, "WebGPU and CPU Philox differ for {request:?}");
        assert!(
            agreement.max_normal_error <= NORMAL_TOLERANCE,
            "normals differ by {} for {request:?}",
            agreement.max_normal_error
        );
        draws += agreement.u32_draws;
    }
    assert!(draws >= 1_000_000, "only {draws} u32 draws compared");
}
