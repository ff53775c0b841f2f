//! The five systems of the neural ODE lab (LABS.md, Lab A), their parameters, invariants and
//! data sets. A system is a [`VectorField`] whose parameters are its physical constants, so
//! the gradient experiments can differentiate in them (the pendulum's (omega^2, gamma)).
//!
//! Data are generated in f64 by Dopri5 at rtol = atol = 1e-10 from initial conditions drawn
//! from the lab's ranges, on the seed's own stream.

use super::VectorField;
use crate::core::rng::RngStream;
use crate::core::solve::ode::integrate_adaptive;
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::DOPRI5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemId {
    /// y1' = y2 / (1 + y2), y2' = -y1 / (1 + y1): the diffrax neural ODE example.
    Oscillator,
    /// y' = A y with A = [[a, b], [c, d]] = [[0, -1], [1, -0.1]].
    DampedLinear,
    /// theta' = v, v' = -omega^2 sin theta - gamma v.
    Pendulum,
    /// x' = alpha x - beta x y, y' = gamma x y - delta y.
    LotkaVolterra,
    /// y' = (y^3)^T A (cubes elementwise), A = [[-0.1, 2], [-2, -0.1]]: torchdiffeq's demo.
    CubicSpiral,
}

impl SystemId {
    pub const ALL: [SystemId; 5] = [
        SystemId::Oscillator,
        SystemId::DampedLinear,
        SystemId::Pendulum,
        SystemId::LotkaVolterra,
        SystemId::CubicSpiral,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemId::Oscillator => "oscillator",
            SystemId::DampedLinear => "damped-linear",
            SystemId::Pendulum => "pendulum",
            SystemId::LotkaVolterra => "lotka-volterra",
            SystemId::CubicSpiral => "cubic-spiral",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            format!("unknown system '{name}': choose one of {}", names.join(", "))
        })
    }

    /// The physical constants of the lab's data, in the order the field reads them.
    pub fn default_params(self) -> Vec<f64> {
        match self {
            SystemId::Oscillator => vec![],
            SystemId::DampedLinear => vec![0.0, -1.0, 1.0, -0.1],
            SystemId::Pendulum => vec![1.0, 0.1],
            SystemId::LotkaVolterra => vec![1.3, 0.9, 0.8, 1.8],
            SystemId::CubicSpiral => vec![-0.1, 2.0, -2.0, -0.1],
        }
    }

    /// The constants of the part a hybrid model knows: the pendulum without friction, the
    /// Lotka-Volterra growth and decay without the interactions. None where the lab has no
    /// hybrid model.
    pub fn known_part(self) -> Option<Vec<f64>> {
        match self {
            SystemId::Pendulum => Some(vec![1.0, 0.0]),
            SystemId::LotkaVolterra => Some(vec![1.3, 0.0, 0.0, 1.8]),
            _ => None,
        }
    }

    /// The lab's data layout: series, observation times and observation noise.
    pub fn data_spec(self) -> DataSpec {
        let linspace = |t1: f64, n: usize| (0..n).map(|i| t1 * i as f64 / (n - 1) as f64).collect::<Vec<_>>();
        match self {
            SystemId::Oscillator => DataSpec { series: 256, times: linspace(10.0, 100), noise: 0.0 },
            SystemId::DampedLinear => DataSpec { series: 256, times: linspace(10.0, 100), noise: 0.0 },
            SystemId::Pendulum => DataSpec { series: 256, times: linspace(10.0, 100), noise: 0.0 },
            SystemId::LotkaVolterra => DataSpec { series: 256, times: linspace(5.0, 21), noise: 5e-3 },
            SystemId::CubicSpiral => DataSpec { series: 1, times: linspace(25.0, 1000), noise: 0.0 },
        }
    }

    /// An initial condition from the lab's range.
    pub fn initial_condition(self, rng: &mut RngStream) -> [f64; 2] {
        let mut u = |lo: f64, hi: f64| lo + (hi - lo) * rng.uniform();
        match self {
            SystemId::Oscillator => [u(-0.6, 1.0), u(-0.6, 1.0)],
            SystemId::DampedLinear => [u(-1.0, 1.0), u(-1.0, 1.0)],
            SystemId::Pendulum => [u(-2.0, 2.0), u(-1.0, 1.0)],
            // Strictly positive populations (the invariant has logarithms).
            SystemId::LotkaVolterra => [5.0 * u(0.02, 1.0), 5.0 * u(0.02, 1.0)],
            SystemId::CubicSpiral => [2.0, 0.0],
        }
    }

    /// The conserved quantity where there is one (for the pendulum only without friction).
    pub fn invariant(self, params: &[f64], y: &[f64]) -> Option<f64> {
        match self {
            SystemId::Oscillator => Some(y[0] - y[0].ln_1p() + y[1] - y[1].ln_1p()),
            SystemId::Pendulum => Some(0.5 * y[1] * y[1] + params[0] * (1.0 - y[0].cos())),
            SystemId::LotkaVolterra => {
                let [alpha, beta, gamma, delta] = [params[0], params[1], params[2], params[3]];
                Some(gamma * y[0] - delta * y[0].ln() + beta * y[1] - alpha * y[1].ln())
            }
            SystemId::DampedLinear | SystemId::CubicSpiral => None,
        }
    }
}

/// A system as a vector field in its constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct System(pub SystemId);

impl VectorField for System {
    fn dim(&self) -> usize {
        2
    }

    fn param_count(&self) -> usize {
        self.0.default_params().len()
    }

    fn eval(&self, p: &[f64], _t: f64, y: &[f64], dy: &mut [f64]) {
        let (a, b) = (y[0], y[1]);
        let out = match self.0 {
            SystemId::Oscillator => [b / (1.0 + b), -a / (1.0 + a)],
            SystemId::DampedLinear => [p[0] * a + p[1] * b, p[2] * a + p[3] * b],
            SystemId::Pendulum => [b, -p[0] * a.sin() - p[1] * b],
            SystemId::LotkaVolterra => [p[0] * a - p[1] * a * b, p[2] * a * b - p[3] * b],
            SystemId::CubicSpiral => {
                let (c, d) = (a * a * a, b * b * b);
                [c * p[0] + d * p[2], c * p[1] + d * p[3]]
            }
        };
        dy.copy_from_slice(&out);
    }

    fn vjp(&self, p: &[f64], _t: f64, y: &[f64], w: &[f64], d_y: &mut [f64], d_p: &mut [f64]) {
        let (a, b) = (y[0], y[1]);
        match self.0 {
            SystemId::Oscillator => {
                d_y[0] -= w[1] / ((1.0 + a) * (1.0 + a));
                d_y[1] += w[0] / ((1.0 + b) * (1.0 + b));
            }
            SystemId::DampedLinear => {
                d_y[0] += w[0] * p[0] + w[1] * p[2];
                d_y[1] += w[0] * p[1] + w[1] * p[3];
                for (slot, v) in d_p.iter_mut().zip([w[0] * a, w[0] * b, w[1] * a, w[1] * b]) {
                    *slot += v;
                }
            }
            SystemId::Pendulum => {
                d_y[0] += -w[1] * p[0] * a.cos();
                d_y[1] += w[0] - w[1] * p[1];
                d_p[0] += -w[1] * a.sin();
                d_p[1] += -w[1] * b;
            }
            SystemId::LotkaVolterra => {
                d_y[0] += w[0] * (p[0] - p[1] * b) + w[1] * p[2] * b;
                d_y[1] += -w[0] * p[1] * a + w[1] * (p[2] * a - p[3]);
                d_p[0] += w[0] * a;
                d_p[1] += -w[0] * a * b;
                d_p[2] += w[1] * a * b;
                d_p[3] += -w[1] * b;
            }
            SystemId::CubicSpiral => {
                let (c, d) = (a * a * a, b * b * b);
                d_y[0] += 3.0 * a * a * (w[0] * p[0] + w[1] * p[1]);
                d_y[1] += 3.0 * b * b * (w[0] * p[2] + w[1] * p[3]);
                for (slot, v) in d_p.iter_mut().zip([w[0] * c, w[1] * c, w[0] * d, w[1] * d]) {
                    *slot += v;
                }
            }
        }
    }
}

/// How a system's data set is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    pub series: usize,
    pub times: Vec<f64>,
    /// Observation noise's standard deviation, relative to each channel's mean over the data.
    pub noise: f64,
}

/// Trajectories observed at common times.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectories {
    pub system: SystemId,
    pub times: Vec<f64>,
    /// `series[s][i]`: the state of series s at `times[i]`.
    pub series: Vec<Vec<[f64; 2]>>,
}

/// Rejected steps allowed per observation interval before the generator gives up.
const MAX_STEPS: usize = 100_000;

/// Solves `field` from y0 through every time of `times` (Dopri5, rtol = atol = 1e-10).
pub fn solve_accurately(
    field: &dyn VectorField,
    params: &[f64],
    y0: [f64; 2],
    times: &[f64],
) -> Result<Vec<[f64; 2]>, String> {
    let controller = PidController::new(1e-10, 1e-10);
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| field.eval(params, t, y, dy);
    let mut y = y0.to_vec();
    let mut out = vec![y0];
    for w in times.windows(2) {
        y = integrate_adaptive(&DOPRI5, &mut f, &y, w[0], w[1], &controller, MAX_STEPS)?.0;
        if y.iter().any(|v| !v.is_finite()) {
            return Err(format!("the solution left the finite numbers before t = {}", w[1]));
        }
        out.push([y[0], y[1]]);
    }
    Ok(out)
}

/// The lab's data set for `id` with `series` series (0: the lab's default count), drawn under
/// `seed`, with the system's observation noise.
pub fn generate(id: SystemId, series: usize, seed: u64) -> Result<Trajectories, String> {
    let spec = id.data_spec();
    let series = if series == 0 { spec.series } else { series };
    let mut rng = RngStream::new(seed, 0x6f64_6174); // stream: "odat"
    let params = id.default_params();
    let mut all = Vec::with_capacity(series);
    for _ in 0..series {
        let y0 = id.initial_condition(&mut rng);
        all.push(if id == SystemId::DampedLinear {
            // The closed form, exact to rounding.
            let m = [params[0], params[1], params[2], params[3]];
            spec.times.iter().map(|&t| apply_2x2(expm_2x2_complex(m, t), y0)).collect()
        } else {
            solve_accurately(&System(id), &params, y0, &spec.times)?
        });
    }
    if spec.noise > 0.0 {
        let count = (series * spec.times.len()) as f64;
        let mean = [0, 1].map(|d| all.iter().flatten().map(|y| y[d]).sum::<f64>() / count);
        let mut noise = RngStream::new(seed, 0x6f6e_6f69); // stream: "onoi"
        for y in all.iter_mut().flatten() {
            for d in 0..2 {
                y[d] += spec.noise * mean[d].abs() * noise.normal();
            }
        }
    }
    Ok(Trajectories { system: id, times: spec.times, series: all })
}

/// M y for a row-major 2x2 M.
pub fn apply_2x2(m: [f64; 4], y: [f64; 2]) -> [f64; 2] {
    [m[0] * y[0] + m[1] * y[1], m[2] * y[0] + m[3] * y[1]]
}

/// expm(t A) for a 2x2 A with complex eigenvalues a +- ib (b > 0):
/// e^{at} (cos(bt) I + sin(bt)/b (A - aI)).
pub fn expm_2x2_complex(m: [f64; 4], t: f64) -> [f64; 4] {
    let a = 0.5 * (m[0] + m[3]);
    let det = m[0] * m[3] - m[1] * m[2];
    let b = (det - a * a).sqrt();
    let (c, s) = ((b * t).cos(), (b * t).sin() / b);
    let e = (a * t).exp();
    [e * (c + s * (m[0] - a)), e * s * m[1], e * s * m[2], e * (c + s * (m[3] - a))]
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::super::vjp_error;
    use super::*;

    #[test]
    fn names_round_trip_and_vjps_match_central_differences() {
        for id in SystemId::ALL {
            assert_eq!(SystemId::from_name(id.name()).unwrap(), id);
            let field = System(id);
            let p: Vec<f64> = id.default_params().iter().map(|v| v * 1.1 + 0.05).collect();
            let err = vjp_error(&field, &p, 0.3, &[0.7, 0.4], &[0.9, -1.3]);
            assert!(err < 1e-8, "{}: vjp off by {err}", id.name());
        }
        assert!(SystemId::from_name("lorenz").unwrap_err().contains("pendulum"));
    }

    /// The generator conserves each invariant to 1e-8 (the pendulum without friction).
    #[test]
    fn invariants_are_conserved_along_generated_trajectories() {
        for id in [SystemId::Oscillator, SystemId::Pendulum, SystemId::LotkaVolterra] {
            let params = if id == SystemId::Pendulum { vec![1.0, 0.0] } else { id.default_params() };
            let mut rng = RngStream::new(4, 1);
            for _ in 0..4 {
                let y0 = id.initial_condition(&mut rng);
                let path = solve_accurately(&System(id), &params, y0, &id.data_spec().times).unwrap();
                let h0 = id.invariant(&params, &y0).unwrap();
                let drift = path.iter().map(|y| (id.invariant(&params, y).unwrap() - h0).abs()).fold(0.0, f64::max);
                assert!(drift < 1e-8, "{}: invariant drifts by {drift}", id.name());
            }
        }
        // With friction the pendulum's energy falls, as dE/dt = -gamma v^2 says.
        let params = SystemId::Pendulum.default_params();
        let path = solve_accurately(&System(SystemId::Pendulum), &params, [1.5, 0.0], &[0.0, 5.0, 10.0]).unwrap();
        let energy: Vec<f64> = path.iter().map(|y| SystemId::Pendulum.invariant(&params, y).unwrap()).collect();
        assert!(energy[0] > energy[1] && energy[1] > energy[2], "{energy:?}");
    }

    /// The data are the closed form; the Dopri5 generator the other systems use agrees with
    /// it to 1e-9 over the whole horizon (1e-10 per interval, accumulated over 99 of them).
    #[test]
    fn damped_linear_matches_the_matrix_exponential() {
        let data = generate(SystemId::DampedLinear, 3, 7).unwrap();
        let a = SystemId::DampedLinear.default_params();
        let m = [a[0], a[1], a[2], a[3]];
        for path in &data.series {
            let y0 = path[0];
            let solved = solve_accurately(&System(SystemId::DampedLinear), &a, y0, &data.times).unwrap();
            for ((y, s), &t) in path.iter().zip(&solved).zip(&data.times) {
                let want = apply_2x2(expm_2x2_complex(m, t), y0);
                assert_eq!(*y, want);
                assert!((s[0] - want[0]).abs() < 1e-9 && (s[1] - want[1]).abs() < 1e-9, "t = {t}: {s:?} vs {want:?}");
            }
            // Against a matrix exponential computed independently: the Taylor series of
            // expm(A) summed to convergence, applied 10 times (t = 10).
            let mut power = [1.0, 0.0, 0.0, 1.0];
            let mut sum = power;
            for k in 1..40 {
                let next = [
                    (power[0] * m[0] + power[1] * m[2]) / k as f64,
                    (power[0] * m[1] + power[1] * m[3]) / k as f64,
                    (power[2] * m[0] + power[3] * m[2]) / k as f64,
                    (power[2] * m[1] + power[3] * m[3]) / k as f64,
                ];
                power = next;
                sum = [sum[0] + power[0], sum[1] + power[1], sum[2] + power[2], sum[3] + power[3]];
            }
            let mut y = y0;
            for _ in 0..10 {
                y = apply_2x2(sum, y);
            }
            let end = path.last().unwrap();
            assert!((y[0] - end[0]).abs() < 1e-12 && (y[1] - end[1]).abs() < 1e-12, "{y:?} vs {end:?}");
        }
        // The eigenvalues the lab quotes: -0.05 +- 0.9987i.
        let m = [a[0], a[1], a[2], a[3]];
        let b = (m[0] * m[3] - m[1] * m[2] - 0.25 * (m[0] + m[3]).powi(2)).sqrt();
        assert!((b - 0.99875).abs() < 1e-5);
    }

    #[test]
    fn data_sets_have_the_lab_layout_and_repeat_under_a_seed() {
        for id in SystemId::ALL {
            let data = generate(id, 2, 3).unwrap();
            assert_eq!(data.series.len(), 2);
            assert!(data.series.iter().all(|s| s.len() == id.data_spec().times.len()));
            assert!(data.series.iter().flatten().all(|y| y[0].is_finite() && y[1].is_finite()));
            assert_eq!(data, generate(id, 2, 3).unwrap());
        }
        // The cubic spiral starts at (2, 0) and spirals inwards.
        let spiral = generate(SystemId::CubicSpiral, 1, 0).unwrap();
        let end = spiral.series[0].last().unwrap();
        assert_eq!(spiral.series[0][0], [2.0, 0.0]);
        assert!(end[0].hypot(end[1]) < 2.0);
    }
}
