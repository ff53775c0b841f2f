//! Test layer (c): training on the GPU, on Vulkan (lavapipe in CI). The MLP's batch gradient
//! (shaders/mlp_gradient.wgsl) against the CPU's batched f32 backward pass
//! (`BatchMlp::backward`), within the CPU trainer's own `GRADIENT_TOLERANCE`, for every
//! activation, widths on and off the workgroup, several depths, and batches that are not a
//! multiple of the chunk; and a batch repeats bit for bit.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::nn::backprop::{Tape, GRADIENT_TOLERANCE};
use nde_playground::core::nn::batch::BatchMlp;
use nde_playground::core::nn::{Activation, Mlp, MlpConfig};
use nde_playground::core::rng::RngStream;
use nde_playground::exec::gpu::mlp_gradient::{mlp_gradient, GradientKernel};

#[test]
fn the_batch_gradient_matches_the_cpu_backward_pass() {
    let Some(ctx) = gpu_or_skip("the_batch_gradient_matches_the_cpu_backward_pass") else { return };
    let kernel = pollster::block_on(GradientKernel::new(&ctx.device)).unwrap();
    let mut rng = RngStream::new(41, 42);
    let mut compared = 0usize;
    for activation in Activation::ALL {
        for (width, depth, outputs, rows) in [(16, 1, 2, 5), (40, 2, 2, 300), (64, 3, 2, 517), (32, 2, 7, 70)] {
            let config = MlpConfig { width, depth, activation, outputs, condition_dim: 2, ..MlpConfig::default() };
            let mlp = Mlp::new(config, 3).unwrap();
            let features: Vec<f32> = (0..rows * config.input_dim()).map(|_| rng.normal() as f32).collect();
            let d_out: Vec<f32> = (0..rows * outputs).map(|_| rng.normal() as f32).collect();
            let batch = BatchMlp::new(&mlp);
            let mut tape = Tape::default();
            let want_out = batch.forward_taped(rows, &features, &mut tape).to_vec();
            let mut want = vec![0.0f32; mlp.params.len()];
            batch.backward(&mut tape, &d_out, &mut want, None);
            let run = || {
                pollster::block_on(mlp_gradient(&ctx.device, &ctx.queue, &kernel, &mlp, rows, &features, &d_out))
                    .unwrap()
            };
            let got = run();
            let what = format!("{activation:?} {width}x{depth}, {outputs} outputs, {rows} rows");
            let out_scale = want_out.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (k, (g, w)) in got.outputs.iter().zip(&want_out).enumerate() {
                assert!((g - w).abs() <= 1e-5 * out_scale, "{what}: output {k}: {g} vs {w}");
            }
            let scale = want.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            assert!(scale > 0.0, "{what}: a zero gradient proves nothing");
            for (k, (g, w)) in got.gradient.iter().zip(&want).enumerate() {
                assert!(
                    f64::from((g - w).abs()) <= GRADIENT_TOLERANCE * f64::from(scale),
                    "{what}: parameter {k}: {g} vs {w} (scale {scale})"
                );
            }
            assert_eq!(got, run(), "{what}: a batch repeats bit for bit");
            compared += got.gradient.len();
        }
    }
    println!("compared {compared} gradient entries");
}

#[test]
fn a_batch_of_the_wrong_shape_is_refused() {
    let Some(ctx) = gpu_or_skip("a_batch_of_the_wrong_shape_is_refused") else { return };
    let kernel = pollster::block_on(GradientKernel::new(&ctx.device)).unwrap();
    let mlp = Mlp::new(MlpConfig::default(), 1).unwrap();
    let inputs = mlp.config.input_dim();
    let e =
        pollster::block_on(mlp_gradient(&ctx.device, &ctx.queue, &kernel, &mlp, 3, &vec![0.0; 3 * inputs], &[0.0; 5]))
            .unwrap_err();
    assert!(e.to_string().contains("output gradients"), "{e}");
}
