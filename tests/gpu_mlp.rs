//! The MLP kernel (shaders/mlp.wgsl) against the CPU MLP, directly: a plan that only loads
//! each particle's point, evaluates the network once and returns its raw output, for every
//! activation, with and without the conditioned input (the mean-reverting model's mu).
//! Whole sampler plans (tests/gpu_plans.rs) use SiLU only; this covers the rest.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::nn::{Activation, Mlp, MlpConfig, Workspace};
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::rng::RngStream;
use nde_playground::core::sample::model::{MlpModel, Model};
use nde_playground::core::sample::plan::{PlanBuilder, Quantity, X};
use nde_playground::exec::cpu::RunOptions;
use nde_playground::exec::gpu::plan_run::{execute_plan, GpuRunSettings};

/// f32 on both sides, summed in different orders: a few ulps of the output's size.
const MLP_TOLERANCE: f32 = 2e-5;

#[test]
fn the_mlp_kernel_matches_the_cpu_mlp_for_every_activation_and_the_condition() {
    let Some(ctx) = gpu_or_skip("the_mlp_kernel_matches_the_cpu_mlp") else { return };
    let mut rng = RngStream::new(5, 1);
    let points: Vec<[f32; 2]> = (0..300).map(|_| [3.0 * rng.normal() as f32, 3.0 * rng.normal() as f32]).collect();
    let t = 0.37;
    for activation in Activation::ALL {
        for (process, condition) in [(Process::vp(), [0.0f32; 2]), (Process::mean_reverting(), [0.75, -1.25])] {
            let config = MlpConfig {
                width: 32,
                depth: 3,
                activation,
                condition_dim: if process.is_conditional() { 2 } else { 0 },
                ..MlpConfig::default()
            };
            let mlp = Mlp::new(config, 11).unwrap();
            // eps with Quantity::Eps: out_scale 1, x_scale 0, so the plan returns the raw output.
            let mut b = PlanBuilder::new("mlp", process, Parameterisation::Eps);
            b.set_condition([f64::from(condition[0]), f64::from(condition[1])]);
            let out = b.register();
            b.load_input(X);
            b.eval(X, t, out, Quantity::Eps);
            b.axpy(X, &[(out, 1.0)], 0.0);
            let plan = b.finish();
            let mut model = MlpModel::new(mlp.clone(), Parameterisation::Eps);
            model.condition = condition;
            let options = RunOptions { particles: points.len(), seed: 0, traced: vec![], inputs: points.clone() };
            let gpu = pollster::block_on(execute_plan(
                &ctx.device,
                &ctx.queue,
                GpuRunSettings::for_adapter(&ctx.info),
                &plan,
                &model.data(),
                &options,
            ))
            .unwrap_or_else(|e| panic!("{activation:?}: {e}"));
            let mut ws = Workspace::default();
            let mut worst = 0.0f32;
            for (p, got) in points.iter().zip(&gpu.positions) {
                let want = mlp.eval(*p, t as f32, condition, &mut ws);
                for d in 0..2 {
                    worst = worst.max((got[d] - want[d]).abs() / (1.0 + want[d].abs()));
                }
            }
            println!("{activation:?} on {}: worst relative difference {worst:.2e}", process.name());
            assert!(gpu.positions.iter().zip(&points).any(|(g, p)| g != p), "the plan returned its inputs");
            assert!(worst < MLP_TOLERANCE, "{activation:?} on {}: {worst}", process.name());
        }
    }
}
