//! UniPC (Zhao et al. 2023), data prediction, multistep: the UniP predictor, then the UniC
//! corrector that reuses the next step's model evaluation (so it costs none). B(h) = h (bh1)
//! or e^h - 1 (bh2). The last step skips the corrector, which would need one more evaluation.

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::process::Process;
use crate::core::train::objective::Parameterisation;

/// Solves the 2x2 (or 1x1) system R rho = b.
fn solve(r: &[[f64; 2]; 2], b: [f64; 2], n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![b[0] / r[0][0]];
    }
    let det = r[0][0] * r[1][1] - r[0][1] * r[1][0];
    vec![(b[0] * r[1][1] - r[0][1] * b[1]) / det, (r[0][0] * b[1] - b[0] * r[1][0]) / det]
}

/// Orders 1 and 2 (the reference also has 3, which is not implemented here: `--order 3` is
/// refused with that message rather than clamped).
pub fn unipc(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    if !(1..=2).contains(&options.order) {
        return Err(format!("unipc: --order {} is not implemented here; choose 1 or 2", options.order));
    }
    let mut b = PlanBuilder::new(if options.bh2 { "unipc" } else { "unipc-bh1" }, process, param);
    // Three slots: the corrector still needs m(i - 1) when m(i + 1) is written.
    let history: Vec<Reg> = (0..3).map(|_| b.register()).collect();
    let predicted = b.register();
    init_prior(&mut b, [0.0; 2]);
    let steps = options.nfe.max(1);
    let grid = time_grid(&process, options.schedule, steps);
    let lambda: Vec<f64> = grid.iter().map(|t| process.log_snr(*t)).collect();
    let m = |i: usize| history[i % 3];
    // m(i) holds the data prediction at grid[i]; the first comes from the first step.
    b.eval(X, grid[0], m(0), Quantity::X0);
    for i in 0..steps {
        let (s, t) = (grid[i], grid[i + 1]);
        let h = lambda[i + 1] - lambda[i];
        // The first step has no history; the last drops to first order, as the reference's
        // default lower_order_final does (order = min(order, steps + 1 - step)).
        let order = if i == 0 || i + 1 == steps { 1 } else { options.order };
        let (a_t, s_t, s_s) = (process.alpha(t), process.sigma(t), process.sigma(s));
        // Data prediction works with hh = -h.
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let b_h = if options.bh2 { hh.exp_m1() } else { hh };
        // R rows are rks^(k-1), b_k = h_phi_k k! / B(h).
        let rk = if order == 2 { (lambda[i - 1] - lambda[i]) / h } else { 1.0 };
        let rks = [rk, 1.0];
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial = 1.0;
        let mut rows = [[0.0; 2]; 2];
        let mut rhs = [0.0; 2];
        for k in 1..=2 {
            rows[k - 1] = [rks[0].powi(k as i32 - 1), rks[1].powi(k as i32 - 1)];
            rhs[k - 1] = h_phi_k * factorial / b_h;
            factorial *= (k + 1) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }
        // x_t_ = sigma_t/sigma_s x - alpha_t h_phi_1 m0; D1 = (m_prev - m0) / rk.
        let mut predictor = vec![(X, s_t / s_s), (m(i), -a_t * h_phi_1)];
        if order == 2 {
            // UniP-2: rho_p = 1/2.
            let c = -a_t * b_h * 0.5 / rk;
            predictor.push((m(i - 1), c));
            predictor[1].1 -= c;
        }
        let last = i + 1 == steps;
        if last {
            b.axpy(X, &predictor, 0.0);
        } else {
            b.axpy(predicted, &predictor, 0.0);
            b.eval(predicted, t, m(i + 1), Quantity::X0);
            // UniC: x_t = x_t_ - alpha_t B(h) (sum rho_c[:-1] D1s + rho_c[-1] (m_t - m0)).
            let rho = if order == 1 { vec![0.5] } else { solve(&rows, rhs, 2) };
            let mut corrector = vec![(X, s_t / s_s), (m(i), -a_t * h_phi_1)];
            let last_rho = *rho.last().unwrap();
            corrector.push((m(i + 1), -a_t * b_h * last_rho));
            corrector[1].1 += a_t * b_h * last_rho;
            if order == 2 {
                let c = -a_t * b_h * rho[0] / rk;
                corrector.push((m(i - 1), c));
                corrector[1].1 -= c;
            }
            b.axpy(X, &corrector, 0.0);
        }
        b.snapshot();
    }
    Ok(b.finish())
}
