//! Pathwise convergence orders of the multistep data-prediction solvers: every run starts from
//! the same prior draw, and the error is the mean distance of the end points to a reference
//! solve of the same probability-flow ODE at 4000 steps. DPM-Solver++ 3M as the reference
//! implementation writes it converges at order 2; with the second difference doubled, at 3
//! (docs/SAMPLERS.md).
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::core::data::GaussianMixture;
use nde_playground::core::process::Process;
use nde_playground::core::sample::grid::Schedule;
use nde_playground::core::sample::model::ExactMixtureModel;
use nde_playground::core::sample::{build, SamplerOptions};
use nde_playground::core::train::objective::Parameterisation;
use nde_playground::exec::cpu::{run_plan, RunOptions};

fn end_points(sampler: &str, nfe: usize, mixture: &GaussianMixture) -> Vec<[f64; 2]> {
    let process = Process::vp();
    let options = SamplerOptions { nfe, schedule: Schedule::LogSnr, ..SamplerOptions::default() };
    let plan = build(sampler, process, Parameterisation::Score, &options).unwrap();
    let mut model = ExactMixtureModel::new(mixture.clone(), process);
    let run =
        run_plan(&plan, &mut model, &RunOptions { particles: 200, seed: 4, traced: vec![], inputs: vec![] }).unwrap();
    run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect()
}

/// The least-squares slope of log(error) against log(1 / nfe).
fn order(sampler: &str, mixture: &GaussianMixture, reference: &[[f64; 2]]) -> f64 {
    let nfes = [32usize, 48, 64, 96];
    let points: Vec<(f64, f64)> = nfes
        .iter()
        .map(|&n| {
            let ends = end_points(sampler, n, mixture);
            let error = ends
                .iter()
                .zip(reference)
                .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
                .sum::<f64>()
                / ends.len() as f64;
            ((1.0 / n as f64).ln(), error.ln())
        })
        .collect();
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

#[test]
fn dpmpp_3m_is_second_order_as_written_and_third_order_corrected() {
    // A wide, smooth mixture: the solution is regular enough for the asymptotic rates to show
    // at these step counts (gmm8's narrow modes need many more steps).
    let mixture = GaussianMixture::new(
        vec![0.3, 0.7],
        vec![[-1.0, 0.5], [1.0, -0.3]],
        vec![[[0.6, 0.1], [0.1, 0.4]], [[0.5, -0.1], [-0.1, 0.7]]],
    )
    .unwrap();
    let reference = end_points("dpmpp-3m-order3", 4000, &mixture);
    let orders: Vec<(&str, f64)> =
        ["dpmpp-2m", "dpmpp-3m", "dpmpp-3m-order3"].iter().map(|s| (*s, order(s, &mixture, &reference))).collect();
    println!("pathwise orders: {orders:?}");
    let of = |name: &str| orders.iter().find(|(s, _)| *s == name).unwrap().1;
    // Measured: 1.99, 2.12 and 3.04.
    assert!((of("dpmpp-2m") - 2.0).abs() < 0.3, "{orders:?}");
    assert!((of("dpmpp-3m") - 2.0).abs() < 0.3, "{orders:?}");
    assert!((of("dpmpp-3m-order3") - 3.0).abs() < 0.35, "{orders:?}");
}
