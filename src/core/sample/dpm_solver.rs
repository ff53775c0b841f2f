//! DPM-Solver (Lu et al. 2022) and DPM-Solver++ (Lu et al. 2022b): exponential integrators
//! stepping in log-SNR lambda. Singlestep DPM-Solver-2/3 use noise prediction and
//! intermediate times; DPM-Solver++ 2M/3M and 2M-SDE use data prediction and reuse past
//! evaluations (one evaluation per step). Formulas: Lu et al.'s papers and their reference code; docs/SAMPLERS.md lists them.

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multistep {
    TwoM,
    /// As the reference implementation writes it: its D2 is half the second-order term the
    /// expansion needs, so it converges at order 2 (docs/SAMPLERS.md).
    ThreeM,
    /// The same with D2 doubled: order 3, measured pathwise.
    ThreeMOrder3,
    TwoMSde,
}

/// DPM-Solver++ multistep. Lower order on the first steps (no history yet) and, below 15
/// steps, on the last (DPM-Solver++'s lower_order_final).
pub fn dpmpp_multistep(
    process: Process,
    param: Parameterisation,
    variant: Multistep,
    options: &SamplerOptions,
) -> Plan {
    let name = match variant {
        Multistep::TwoM => "dpmpp-2m",
        Multistep::ThreeM => "dpmpp-3m",
        Multistep::ThreeMOrder3 => "dpmpp-3m-order3",
        Multistep::TwoMSde => "dpmpp-2m-sde",
    };
    let mut b = PlanBuilder::new(name, process, param);
    let history: Vec<Reg> = (0..3).map(|_| b.register()).collect();
    init_prior(&mut b, [0.0; 2]);
    let steps = options.nfe.max(1);
    let grid = time_grid(&process, options.schedule, steps);
    let lambda: Vec<f64> = grid.iter().map(|t| process.log_snr(*t)).collect();
    let max_order = if matches!(variant, Multistep::ThreeM | Multistep::ThreeMOrder3) { 3 } else { 2 };
    // D1_0 - D1_1 = h (h_0 + h_1) x0''/2 + ..., so (D1_0 - D1_1)/(r0 + r1) = h^2 x0''/2; the
    // phi_3 term needs h^2 x0''. The reference omits the 2; the order-3 variant keeps it.
    let second_difference = if variant == Multistep::ThreeMOrder3 { 2.0 } else { 1.0 };
    for i in 0..steps {
        let (s, t) = (grid[i], grid[i + 1]);
        let h = lambda[i + 1] - lambda[i];
        let m = |back: usize| history[(i - back) % 3];
        b.eval(X, s, m(0), Quantity::X0);
        let mut order = max_order.min(i + 1);
        if steps < 15 {
            order = order.min(steps - i);
        }
        let (a_t, s_t, s_s) = (process.alpha(t), process.sigma(t), process.sigma(s));
        let phi1 = (-h).exp_m1();
        if variant == Multistep::TwoMSde {
            let decay = (-2.0 * h).exp();
            let mut terms = vec![(X, s_t / s_s * (-h).exp()), (m(0), a_t * (1.0 - decay))];
            if order == 2 {
                let r = (lambda[i] - lambda[i - 1]) / h;
                terms[1].1 += 0.5 * a_t * (1.0 - decay) / r;
                terms.push((m(1), -0.5 * a_t * (1.0 - decay) / r));
            }
            b.axpy(X, &terms, s_t * (1.0 - decay).max(0.0).sqrt());
        } else if order == 1 {
            b.axpy(X, &[(X, s_t / s_s), (m(0), -a_t * phi1)], 0.0);
        } else if order == 2 {
            let r = (lambda[i] - lambda[i - 1]) / h;
            b.axpy(X, &[(X, s_t / s_s), (m(0), -a_t * phi1 * (1.0 + 0.5 / r)), (m(1), a_t * phi1 * 0.5 / r)], 0.0);
        } else {
            let r0 = (lambda[i] - lambda[i - 1]) / h;
            let r1 = (lambda[i - 1] - lambda[i - 2]) / h;
            let phi2 = phi1 / h + 1.0;
            let phi3 = phi2 / h - 0.5;
            // D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1,
            // D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0 + r1).
            let (w, q) = (r0 / (r0 + r1), second_difference / (r0 + r1));
            // Coefficients of m0, m1, m2 in D1_0, D1_1.
            let d10 = [1.0 / r0, -1.0 / r0, 0.0];
            let d11 = [0.0, 1.0 / r1, -1.0 / r1];
            let d1: Vec<f64> = (0..3).map(|k| d10[k] + w * (d10[k] - d11[k])).collect();
            let d2: Vec<f64> = (0..3).map(|k| q * (d10[k] - d11[k])).collect();
            let base = [-a_t * phi1, 0.0, 0.0];
            let coeff: Vec<f64> = (0..3).map(|k| base[k] + a_t * phi2 * d1[k] - a_t * phi3 * d2[k]).collect();
            b.axpy(X, &[(X, s_t / s_s), (m(0), coeff[0]), (m(1), coeff[1]), (m(2), coeff[2])], 0.0);
        }
        b.snapshot();
    }
    b.finish()
}

/// Singlestep DPM-Solver-2 (midpoint in lambda) or -3 (r1 = 1/3, r2 = 2/3), noise prediction.
pub fn dpm_solver_singlestep(
    process: Process,
    param: Parameterisation,
    order: usize,
    options: &SamplerOptions,
) -> Result<Plan, String> {
    if !(1..=3).contains(&order) {
        return Err(format!("DPM-Solver order {order}: choose 1, 2 or 3"));
    }
    let mut b = PlanBuilder::new(&format!("dpm-solver-{order}"), process, param);
    let (e0, e1, e2, u) = (b.register(), b.register(), b.register(), b.register());
    init_prior(&mut b, [0.0; 2]);
    let steps = (options.nfe / order).max(1);
    let grid = time_grid(&process, options.schedule, steps);
    for w in grid.windows(2) {
        let (s, t) = (w[0], w[1]);
        let (ls, lt) = (process.log_snr(s), process.log_snr(t));
        let h = lt - ls;
        let (a_s, a_t, s_t) = (process.alpha(s), process.alpha(t), process.sigma(t));
        b.eval(X, s, e0, Quantity::Eps);
        match order {
            1 => b.axpy(X, &[(X, a_t / a_s), (e0, -s_t * h.exp_m1())], 0.0),
            2 => {
                let s1 = process.t_from_log_snr(ls + 0.5 * h);
                let (a1, sg1) = (process.alpha(s1), process.sigma(s1));
                b.axpy(u, &[(X, a1 / a_s), (e0, -sg1 * (0.5 * h).exp_m1())], 0.0);
                b.eval(u, s1, e1, Quantity::Eps);
                b.axpy(X, &[(X, a_t / a_s), (e1, -s_t * h.exp_m1())], 0.0);
            }
            _ => {
                let (r1, r2) = (1.0 / 3.0, 2.0 / 3.0);
                let s1 = process.t_from_log_snr(ls + r1 * h);
                let s2 = process.t_from_log_snr(ls + r2 * h);
                let (a1, sg1) = (process.alpha(s1), process.sigma(s1));
                let (a2, sg2) = (process.alpha(s2), process.sigma(s2));
                b.axpy(u, &[(X, a1 / a_s), (e0, -sg1 * (r1 * h).exp_m1())], 0.0);
                b.eval(u, s1, e1, Quantity::Eps);
                // D1 = e1 - e0.
                let c = -(sg2 * r2 / r1) * ((r2 * h).exp_m1() / (r2 * h) - 1.0);
                b.axpy(u, &[(X, a2 / a_s), (e0, -sg2 * (r2 * h).exp_m1() - c), (e1, c)], 0.0);
                b.eval(u, s2, e2, Quantity::Eps);
                // D2 = e2 - e0.
                let c2 = -(s_t / r2) * (h.exp_m1() / h - 1.0);
                b.axpy(X, &[(X, a_t / a_s), (e0, -s_t * h.exp_m1() - c2), (e2, c2)], 0.0);
            }
        }
        b.snapshot();
    }
    Ok(b.finish())
}
