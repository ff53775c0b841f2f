//! UniPC (Zhao et al. 2023), data prediction, multistep: the UniP predictor, then the UniC
//! corrector that reuses the next step's model evaluation (so it costs none). B(h) = h (bh1)
//! or e^h - 1 (bh2). The last step skips the corrector, which would need one more evaluation.
//! Orders 1 to 3.

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// Solves the n x n system R rho = b (n <= 3) by elimination with partial pivoting.
fn solve(r: &[[f64; 3]; 3], b: [f64; 3], n: usize) -> Vec<f64> {
    let mut a: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| r[i][j]).chain([b[i]]).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..=n {
                a[row][k] -= f * a[col][k];
            }
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let tail: f64 = (i + 1..n).map(|j| a[i][j] * x[j]).sum();
        x[i] = (a[i][n] - tail) / a[i][i];
    }
    x
}

/// UniPC of order 1 to 3, as the reference (`uni_pc.py`, `multistep_uni_pc_bh_update`) has it:
/// step i uses order min(order, i + 1, steps - i), so the first steps warm up on the history
/// they have and the last steps drop to lower order (the reference's `lower_order_final`).
pub fn unipc(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    if !(1..=3).contains(&options.order) {
        return Err(format!("unipc: --order {} is not one of UniPC's orders: choose 1, 2 or 3", options.order));
    }
    let mut b = PlanBuilder::new(if options.bh2 { "unipc" } else { "unipc-bh1" }, process, param);
    // Four slots: the corrector still needs m(i - 2) when m(i + 1) is written.
    let history: Vec<Reg> = (0..4).map(|_| b.register()).collect();
    let predicted = b.register();
    init_prior(&mut b, [0.0; 2]);
    let steps = options.nfe.max(1);
    let grid = time_grid(&process, options.schedule, steps);
    let lambda: Vec<f64> = grid.iter().map(|t| process.log_snr(*t)).collect();
    let m = |i: usize| history[i % 4];
    // m(i) holds the data prediction at grid[i]; the first comes from the first step.
    b.eval(X, grid[0], m(0), Quantity::X0);
    for i in 0..steps {
        let (s, t) = (grid[i], grid[i + 1]);
        let h = lambda[i + 1] - lambda[i];
        let order = options.order.min(i + 1).min(steps - i);
        let (a_t, s_t, s_s) = (process.alpha(t), process.sigma(t), process.sigma(s));
        // Data prediction works with hh = -h.
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let b_h = if options.bh2 { hh.exp_m1() } else { hh };
        // rks: the earlier models' log-SNR offsets over h, then 1 (the next model's).
        let mut rks = [1.0; 3];
        for k in 1..order {
            rks[k - 1] = (lambda[i - k] - lambda[i]) / h;
        }
        rks[order - 1] = 1.0;
        // R rows are rks^(j-1), b_j = h_phi_j j! / B(h).
        let mut rows = [[0.0; 3]; 3];
        let mut rhs = [0.0; 3];
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial = 1.0;
        for j in 1..=order {
            for (c, rk) in rks.iter().enumerate().take(order) {
                rows[j - 1][c] = rk.powi(j as i32 - 1);
            }
            rhs[j - 1] = h_phi_k * factorial / b_h;
            factorial *= (j + 1) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }
        // x_t_ = sigma_t/sigma_s x - alpha_t h_phi_1 m0, minus alpha_t B(h) sum rho_k D1_k with
        // D1_k = (m(i - k) - m0) / rk_k: every term a register combination.
        let base = vec![(X, s_t / s_s), (m(i), -a_t * h_phi_1)];
        let with_differences = |terms: &mut Vec<(Reg, f64)>, rhos: &[f64]| {
            for (k, rho) in rhos.iter().enumerate() {
                let c = -a_t * b_h * rho / rks[k];
                terms.push((m(i - (k + 1)), c));
                terms[1].1 -= c;
            }
        };
        let rhos_p = match order {
            1 => vec![],
            2 => vec![0.5],
            _ => solve(&rows, rhs, order - 1),
        };
        let mut predictor = base.clone();
        with_differences(&mut predictor, &rhos_p);
        let last = i + 1 == steps;
        if last {
            // The corrector would need one more evaluation: the reference skips it here too.
            b.axpy(X, &predictor, 0.0);
        } else {
            b.axpy(predicted, &predictor, 0.0);
            b.eval(predicted, t, m(i + 1), Quantity::X0);
            // UniC: x_t = x_t_ - alpha_t B(h) (sum rho_c[:-1] D1s + rho_c[-1] (m_t - m0)).
            let rhos_c = if order == 1 { vec![0.5] } else { solve(&rows, rhs, order) };
            let mut corrector = base;
            with_differences(&mut corrector, &rhos_c[..order - 1]);
            let last_rho = rhos_c[order - 1];
            corrector.push((m(i + 1), -a_t * b_h * last_rho));
            corrector[1].1 += a_t * b_h * last_rho;
            b.axpy(X, &corrector, 0.0);
        }
        b.snapshot();
    }
    Ok(b.finish())
}
