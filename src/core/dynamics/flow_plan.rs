//! A plan that integrates a learned vector field (`field_model`) from many starts at once: the
//! phase portrait's cloud of trajectories, run by either plan executor. Each particle loads
//! its start, then takes fixed steps of a Runge-Kutta tableau (every stage one raw `Eval` and
//! one `Axpy`), with a snapshot at every observation time, so that with every particle
//! traced the result holds each trajectory at each time.

use super::field_model::FieldModel;
use super::fit::{NodeFit, Stepping};
use super::systems::SystemId;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::plan::{Plan, PlanBuilder, Reg, X};
use crate::core::solve::tableau::ButcherTableau;

/// Most snapshots a flow plan takes (each is a frame of every particle).
pub const MAX_FRAMES: usize = 1000;
/// Most solver steps between two snapshots.
pub const MAX_PER_INTERVAL: usize = 64;

/// y' = f(y) over `times` (increasing; frame k is the state at times[k], frame 0 the start),
/// `per_interval` steps of `tableau` between consecutive times.
pub fn flow_plan(tableau: &ButcherTableau, times: &[f64], per_interval: usize) -> Result<Plan, String> {
    if times.len() < 2 || times.len() > MAX_FRAMES {
        return Err(format!("a flow plan needs 2 to {MAX_FRAMES} times, got {}", times.len()));
    }
    if times.windows(2).any(|w| !(w[1] > w[0]) || !w[1].is_finite()) || !times[0].is_finite() {
        return Err("a flow plan's times must be finite and increasing".into());
    }
    if !(1..=MAX_PER_INTERVAL).contains(&per_interval) {
        return Err(format!("steps per interval must be 1 to {MAX_PER_INTERVAL}, got {per_interval}"));
    }
    // The process is not used: a field model's plan reads its output raw. Rectified flow is
    // the process whose model output is a velocity, as the field's is.
    let mut b = PlanBuilder::new(&format!("flow-{}", tableau.name), Process::RectifiedFlow, Parameterisation::Flow);
    let stages = tableau.stages();
    let inputs: Vec<Reg> = (0..stages).map(|_| b.register()).collect();
    let slopes: Vec<Reg> = (0..stages).map(|_| b.register()).collect();
    b.load_input(X);
    b.snapshot();
    for w in times.windows(2) {
        let h = (w[1] - w[0]) / per_interval as f64;
        for _ in 0..per_interval {
            for i in 0..stages {
                let mut terms = vec![(X, 1.0)];
                terms.extend(tableau.a[i].iter().enumerate().map(|(j, a)| (slopes[j], h * a)));
                b.axpy(inputs[i], &terms, 0.0);
                b.eval_raw(inputs[i], slopes[i]);
            }
            let mut terms = vec![(X, 1.0)];
            terms.extend(tableau.b.iter().enumerate().map(|(i, weight)| (slopes[i], h * weight)));
            b.axpy(X, &terms, 0.0);
        }
        b.snapshot();
    }
    Ok(b.finish())
}

/// Starts on an n x n grid over `bounds` ([x_min, x_max, y_min, y_max]), cell centres,
/// row by row from the bottom.
pub fn start_grid(bounds: [f64; 4], n: usize) -> Vec<[f32; 2]> {
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let fx = (i as f64 + 0.5) / n as f64;
            let fy = (j as f64 + 0.5) / n as f64;
            out.push([
                (bounds[0] + fx * (bounds[1] - bounds[0])) as f32,
                (bounds[2] + fy * (bounds[3] - bounds[2])) as f32,
            ]);
        }
    }
    out
}

/// The box around `points` with 10% margins (at least 0.01 on a side): where a portrait and
/// its grid of starts lie.
pub fn padded_bounds<'a>(points: impl IntoIterator<Item = &'a [f64; 2]>) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY];
    for y in points {
        b = [b[0].min(y[0]), b[1].max(y[0]), b[2].min(y[1]), b[3].max(y[1])];
    }
    if !b.iter().all(|v| v.is_finite()) {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let (mx, my) = (0.1 * (b[1] - b[0]).max(0.1), 0.1 * (b[3] - b[2]).max(0.1));
    [b[0] - mx, b[1] + mx, b[2] - my, b[3] + my]
}

/// Everything a run of a fit's flow needs: the snapshot times, the starts (one per
/// particle), the plan and the model.
#[derive(Debug, Clone)]
pub struct FlowSetup {
    pub times: Vec<f64>,
    pub starts: Vec<[f32; 2]>,
    pub plan: Plan,
    pub model: FieldModel,
}

/// A fit's learned field flowed from a `side` x `side` grid over `bounds`, with `frames`
/// snapshots over the data's time span, the fit's solver with fixed steps (about as many per
/// unit time as the fit takes; two per data interval where it chooses them by PID).
pub fn flow_setup(fit: &NodeFit, bounds: [f64; 4], side: usize, frames: usize) -> Result<FlowSetup, String> {
    if !(2..=MAX_FRAMES).contains(&frames) {
        return Err(format!("frames must be 2 to {MAX_FRAMES}, got {frames}"));
    }
    let data_times = &fit.data.times;
    let (t0, t1) = (data_times[0], *data_times.last().ok_or("the data have no times")?);
    let times: Vec<f64> = (0..frames).map(|k| t0 + (t1 - t0) * k as f64 / (frames - 1) as f64).collect();
    let per_data_interval = match fit.config.stepping {
        Stepping::Fixed { per_interval } => per_interval,
        Stepping::Pid { .. } => 2,
    };
    let ratio = (data_times.len() - 1) as f64 / (frames - 1) as f64;
    let per_interval = ((per_data_interval as f64 * ratio).ceil() as usize).clamp(1, MAX_PER_INTERVAL);
    let plan = flow_plan(&fit.config.tableau()?, &times, per_interval)?;
    let model = FieldModel::of(&fit.field, &fit.params)?;
    let mut starts = start_grid(bounds, side);
    if fit.config.system == SystemId::LotkaVolterra {
        // Populations: the flow is defined on the positive quadrant.
        starts.retain(|s| s[0] > 0.0 && s[1] > 0.0);
    }
    if starts.is_empty() {
        return Err("no starts in the box for the flow".into());
    }
    Ok(FlowSetup { times, starts, plan, model })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::dynamics::field_model::FieldModel;
    use crate::core::dynamics::fit::LearnedField;
    use crate::core::dynamics::neural::{HybridField, NeuralField};
    use crate::core::dynamics::systems::{System, SystemId};
    use crate::core::dynamics::VectorField;
    use crate::core::nn::dense_activation::DenseActivation;
    use crate::core::solve::tableau::{ButcherTableau, EULER, RK4};
    use crate::exec::cpu::{run_plan, RunOptions};

    /// One fixed step of the tableau on the f64 field: the reference the plan must follow.
    fn rk_path(
        field: &LearnedField,
        params: &[f64],
        tableau: &ButcherTableau,
        y0: [f64; 2],
        times: &[f64],
        per: usize,
    ) -> Vec<[f64; 2]> {
        let mut y = y0.to_vec();
        let mut out = vec![y0];
        for w in times.windows(2) {
            let h = (w[1] - w[0]) / per as f64;
            for _ in 0..per {
                let mut k: Vec<Vec<f64>> = Vec::new();
                for i in 0..tableau.stages() {
                    let mut yi = y.clone();
                    for (j, a) in tableau.a[i].iter().enumerate() {
                        for d in 0..2 {
                            yi[d] += h * a * k[j][d];
                        }
                    }
                    let mut dy = vec![0.0; 2];
                    field.eval(params, 0.0, &yi, &mut dy);
                    k.push(dy);
                }
                for (i, b) in tableau.b.iter().enumerate() {
                    for d in 0..2 {
                        y[d] += h * b * k[i][d];
                    }
                }
            }
            out.push([y[0], y[1]]);
        }
        out
    }

    /// The plan on the CPU executor follows the tableau's steps on the f64 field, frame by
    /// frame, to f32 rounding; and it counts stages x steps evaluations.
    #[test]
    fn the_flow_plan_follows_the_solver_on_the_learned_field() {
        let times: Vec<f64> = (0..21).map(|k| 0.25 * k as f64).collect();
        let mut cases =
            vec![(LearnedField::Neural(NeuralField::new(2, 16, 2, DenseActivation::Softplus).unwrap()), RK4, 2)];
        cases.push((
            LearnedField::Hybrid(HybridField::new(System(SystemId::Pendulum), 8, 2, DenseActivation::Tanh).unwrap()),
            EULER,
            4,
        ));
        for (field, tableau, per) in cases {
            let params = field.init(8);
            let mut model = FieldModel::of(&field, &params).unwrap();
            let plan = flow_plan(&tableau, &times, per).unwrap();
            let starts = start_grid([-1.5, 1.5, -1.0, 1.0], 5);
            let options = RunOptions {
                particles: starts.len(),
                seed: 0,
                traced: (0..starts.len()).collect(),
                inputs: starts.clone(),
            };
            let run = run_plan(&plan, &mut model, &options).unwrap();
            assert_eq!(run.frames.len(), times.len());
            assert_eq!(run.nfe, (tableau.stages() * per * (times.len() - 1)) as f64);
            for (k, start) in starts.iter().enumerate() {
                let want = rk_path(&field, &params, &tableau, [f64::from(start[0]), f64::from(start[1])], &times, per);
                for (f, w) in want.iter().enumerate() {
                    let got = run.frames[f][k];
                    for d in 0..2 {
                        assert!(
                            (f64::from(got[d]) - w[d]).abs() < 1e-4 * (1.0 + w[d].abs()),
                            "{tableau:?} start {k} frame {f}: {got:?} vs {w:?}"
                        );
                    }
                }
                assert!(run.frames[0][k] == *start);
            }
            // The field moved the particles: a plan that ignored it would pass the frame-0 check.
            assert!(run.positions.iter().zip(&starts).any(|(p, s)| (p[0] - s[0]).abs() > 1e-2));
        }
    }

    #[test]
    fn bad_grids_are_refused() {
        assert!(flow_plan(&RK4, &[0.0], 1).is_err());
        assert!(flow_plan(&RK4, &[0.0, 1.0, 1.0], 1).unwrap_err().contains("increasing"));
        assert!(flow_plan(&RK4, &[0.0, f64::NAN], 1).is_err());
        assert!(flow_plan(&RK4, &[0.0, 1.0], 0).unwrap_err().contains("steps per interval"));
        assert_eq!(start_grid([0.0, 1.0, 0.0, 2.0], 2), vec![[0.25, 0.5], [0.75, 0.5], [0.25, 1.5], [0.75, 1.5]]);
    }
}
