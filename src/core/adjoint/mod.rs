//! Gradients through solvers for neural ODEs and SDEs whose fields are the MLP:
//! discretise-then-optimise, the continuous backsolve adjoint, and the Reversible Heun
//! adjoint. `gradient_report` measures each against finite differences of its own forward
//! solve (docs/CORE.md holds the table).

pub mod field;
pub mod gradient_table;
pub mod neural_ode;
pub mod neural_sde;
pub mod observed;

use field::MlpField;
use neural_ode::{backsolve_adjoint, discretise_then_optimise, solve, terminal_loss, Gradients};
use neural_sde::{NeuralSde, StateMemory};

use crate::core::nn::{Activation, Mlp, MlpConfig};
use crate::core::solve::brownian::VirtualBrownianTree;
use crate::core::solve::tableau::RK4;

/// Central differences of `loss(params, y0)` in every parameter and in y0.
pub fn finite_difference_gradient(
    params: &[f64],
    y0: [f64; 2],
    loss: &dyn Fn(&[f64], [f64; 2]) -> f64,
) -> (Vec<f64>, [f64; 2]) {
    let h = 1e-6;
    let mut d_params = Vec::with_capacity(params.len());
    let mut p = params.to_vec();
    for i in 0..params.len() {
        p[i] = params[i] + h;
        let plus = loss(&p, y0);
        p[i] = params[i] - h;
        let minus = loss(&p, y0);
        p[i] = params[i];
        d_params.push((plus - minus) / (2.0 * h));
    }
    let mut d_y0 = [0.0; 2];
    for (d, slot) in d_y0.iter_mut().enumerate() {
        let (mut a, mut b) = (y0, y0);
        a[d] += h;
        b[d] -= h;
        *slot = (loss(params, a) - loss(params, b)) / (2.0 * h);
    }
    (d_params, d_y0)
}

/// |g - reference| / |reference| over all parameters and y0 together.
pub fn relative_error(g: &Gradients, reference: &(Vec<f64>, [f64; 2])) -> f64 {
    let pairs = g.d_params.iter().zip(&reference.0).chain(g.d_y0.iter().zip(&reference.1));
    let (num, den) = pairs.fold((0.0, 0.0), |(n, d), (a, b)| (n + (a - b).powi(2), d + b * b));
    (num / den).sqrt()
}

/// One row of the gradient table.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientRow {
    pub model: &'static str,
    pub method: &'static str,
    pub relative_error: f64,
    pub stored_floats: usize,
}

/// The small fields the report and tests use: tanh MLPs, width 16, depth 1, two frequencies.
pub fn demo_field(seed: u64, scale: f64) -> MlpField {
    let config =
        MlpConfig { width: 16, depth: 1, activation: Activation::Tanh, time_frequencies: 2, ..MlpConfig::default() };
    let mlp = Mlp::new(config, seed).expect("valid config");
    MlpField::new(config, mlp.params.iter().map(|p| f64::from(*p) * scale).collect())
}

fn split_params(params: &[f64], drift: &MlpField, diffusion: Option<&MlpField>) -> (MlpField, Option<MlpField>) {
    let k = drift.param_count();
    let f = MlpField::new(drift.config, params[..k].to_vec());
    let g = diffusion.map(|g| MlpField::new(g.config, params[k..].to_vec()));
    (f, g)
}

/// Gradient error and memory of every method on a neural ODE and a neural SDE with `steps` steps.
pub fn gradient_report(steps: usize) -> Vec<GradientRow> {
    let (t1, y0, target) = (1.0, [0.5, -0.3], [1.0, 1.0]);
    let drift = demo_field(1, 1.0);
    let diffusion = demo_field(2, 0.3);
    let mut rows = Vec::new();

    // Neural ODE, RK4 for discretise-then-optimise and backsolve.
    let ode_loss = |p: &[f64], y: [f64; 2]| {
        terminal_loss(&solve(&RK4, &MlpField::new(drift.config, p.to_vec()), y, t1, steps), target).0
    };
    let ode_reference = finite_difference_gradient(&drift.params, y0, &ode_loss);
    let g = discretise_then_optimise(&RK4, &drift, y0, t1, steps, target);
    rows.push(GradientRow {
        model: "neural ODE",
        method: "discretise-then-optimise (RK4)",
        relative_error: relative_error(&g, &ode_reference),
        stored_floats: g.stored_floats,
    });
    let g = backsolve_adjoint(&RK4, &drift, y0, t1, steps, target);
    rows.push(GradientRow {
        model: "neural ODE",
        method: "backsolve adjoint (RK4)",
        relative_error: relative_error(&g, &ode_reference),
        stored_floats: g.stored_floats,
    });
    let ode = NeuralSde { drift: &drift, diffusion: None };
    let no_noise = vec![[0.0; 2]; steps];
    let rh_loss = |p: &[f64], y: [f64; 2]| {
        let f = MlpField::new(drift.config, p.to_vec());
        terminal_loss(&NeuralSde { drift: &f, diffusion: None }.solve(y, t1, &no_noise), target).0
    };
    let rh_reference = finite_difference_gradient(&drift.params, y0, &rh_loss);
    let g = ode.reversible_heun_gradients(y0, t1, &no_noise, target, StateMemory::Reversible);
    rows.push(GradientRow {
        model: "neural ODE",
        method: "reversible Heun adjoint",
        relative_error: relative_error(&g, &rh_reference),
        stored_floats: g.stored_floats,
    });

    // Neural SDE on one Brownian path.
    let tree = VirtualBrownianTree::new(7, 0, 0.0, t1, 2);
    let h = t1 / steps as f64;
    let increments: Vec<[f64; 2]> = (0..steps)
        .map(|n| {
            let dw = tree.increment(n as f64 * h, (n + 1) as f64 * h);
            [dw[0], dw[1]]
        })
        .collect();
    let sde = NeuralSde { drift: &drift, diffusion: Some(&diffusion) };
    let all_params: Vec<f64> = drift.params.iter().chain(&diffusion.params).copied().collect();
    let rh_sde_loss = |p: &[f64], y: [f64; 2]| {
        let (f, g) = split_params(p, &drift, Some(&diffusion));
        terminal_loss(&NeuralSde { drift: &f, diffusion: g.as_ref() }.solve(y, t1, &increments), target).0
    };
    let rh_sde_reference = finite_difference_gradient(&all_params, y0, &rh_sde_loss);
    for (memory, method) in [
        (StateMemory::Stored, "discretise-then-optimise (reversible Heun, stored)"),
        (StateMemory::Reversible, "reversible Heun adjoint"),
    ] {
        let g = sde.reversible_heun_gradients(y0, t1, &increments, target, memory);
        rows.push(GradientRow {
            model: "neural SDE",
            method,
            relative_error: relative_error(&g, &rh_sde_reference),
            stored_floats: g.stored_floats,
        });
    }
    let heun_loss = |p: &[f64], y: [f64; 2]| {
        let (f, g) = split_params(p, &drift, Some(&diffusion));
        terminal_loss(&NeuralSde { drift: &f, diffusion: g.as_ref() }.solve_heun(y, t1, &increments), target).0
    };
    let heun_reference = finite_difference_gradient(&all_params, y0, &heun_loss);
    let g = sde.backsolve_gradients(y0, t1, &increments, target);
    rows.push(GradientRow {
        model: "neural SDE",
        method: "backsolve adjoint (Heun)",
        relative_error: relative_error(&g, &heun_reference),
        stored_floats: g.stored_floats,
    });
    rows
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn row<'a>(rows: &'a [GradientRow], model: &str, method_prefix: &str) -> &'a GradientRow {
        rows.iter().find(|r| r.model == model && r.method.starts_with(method_prefix)).unwrap()
    }

    #[test]
    fn gradients_through_solvers_match_finite_differences() {
        let rows = gradient_report(20);
        // Exact methods: the gradient of the discrete solution, to finite-difference accuracy.
        for (model, method) in [
            ("neural ODE", "discretise-then-optimise"),
            ("neural ODE", "reversible Heun"),
            ("neural SDE", "discretise-then-optimise"),
            ("neural SDE", "reversible Heun"),
        ] {
            let r = row(&rows, model, method);
            assert!(r.relative_error < 1e-6, "{model} {method}: relative error {}", r.relative_error);
        }
        // Backsolve: approximate, but close on these smooth problems.
        assert!(row(&rows, "neural ODE", "backsolve").relative_error < 1e-6, "{rows:?}");
        assert!(row(&rows, "neural SDE", "backsolve").relative_error < 1e-3, "{rows:?}");
        // Memory: stored states grow with the steps, the adjoints do not.
        let longer = gradient_report(40);
        assert!(
            row(&longer, "neural SDE", "discretise").stored_floats
                > row(&rows, "neural SDE", "discretise").stored_floats
        );
        assert_eq!(
            row(&longer, "neural SDE", "reversible").stored_floats,
            row(&rows, "neural SDE", "reversible").stored_floats
        );
        assert_eq!(
            row(&longer, "neural ODE", "backsolve").stored_floats,
            row(&rows, "neural ODE", "backsolve").stored_floats
        );
    }

    #[test]
    fn reversible_adjoint_equals_stored_backprop() {
        let drift = demo_field(3, 1.0);
        let diffusion = demo_field(4, 0.3);
        let sde = NeuralSde { drift: &drift, diffusion: Some(&diffusion) };
        let increments: Vec<[f64; 2]> =
            (0..200).map(|i| [0.05 * ((i as f64) * 0.7).sin(), 0.05 * ((i as f64) * 1.3).cos()]).collect();
        let a = sde.reversible_heun_gradients([0.1, 0.2], 2.0, &increments, [0.0, 0.0], StateMemory::Stored);
        let b = sde.reversible_heun_gradients([0.1, 0.2], 2.0, &increments, [0.0, 0.0], StateMemory::Reversible);
        let reference = (a.d_params.clone(), a.d_y0);
        assert!(relative_error(&b, &reference) < 1e-9, "{}", relative_error(&b, &reference));
        assert!(b.stored_floats * 50 < a.stored_floats);
    }
}
/// Prints the table in docs/CORE.md:
/// `cargo test --release --lib gradient_table -- --ignored --nocapture`.
#[cfg(test)]
mod table {
    #[test]
    #[ignore = "prints the documentation table; run by hand"]
    fn gradient_table() {
        println!("| steps | model | method | relative error vs finite differences | floats held |");
        println!("| --- | --- | --- | --- | --- |");
        for steps in [20, 100, 500] {
            for r in super::gradient_report(steps) {
                println!("| {steps} | {} | {} | {:.1e} | {} |", r.model, r.method, r.relative_error, r.stored_floats);
            }
        }
    }
}
