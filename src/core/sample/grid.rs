//! Time grids for samplers: uniform in t, uniform in log-SNR, or Karras et al.'s rho = 7
//! spacing of the noise level sigma~ = sigma / alpha = e^{-lambda}.

use crate::core::process::Process;

/// The last sampling time: score_sde's 1e-3 (the score is singular at t = 0).
pub const T_EPS_SAMPLE: f64 = 1e-3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Time,
    LogSnr,
    Karras,
}

impl Schedule {
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "time" | "uniform" => Ok(Schedule::Time),
            "logsnr" | "log-snr" => Ok(Schedule::LogSnr),
            "karras" => Ok(Schedule::Karras),
            other => Err(format!("unknown schedule '{other}': choose time, logsnr or karras")),
        }
    }
}

/// n + 1 decreasing times from the process's t_max to T_EPS_SAMPLE.
pub fn time_grid(process: &Process, schedule: Schedule, n: usize) -> Vec<f64> {
    time_grid_from(process, schedule, n, process.t_max())
}

/// n + 1 decreasing times from t_hi to T_EPS_SAMPLE.
pub fn time_grid_from(process: &Process, schedule: Schedule, n: usize, t_hi: f64) -> Vec<f64> {
    assert!(n >= 1, "a grid needs at least one step");
    let t_lo = T_EPS_SAMPLE;
    let (l_hi, l_lo) = (process.log_snr(t_hi), process.log_snr(t_lo));
    (0..=n)
        .map(|i| {
            let u = i as f64 / n as f64;
            if i == 0 {
                return t_hi;
            }
            if i == n {
                return t_lo;
            }
            match schedule {
                Schedule::Time => t_hi + u * (t_lo - t_hi),
                Schedule::LogSnr => process.t_from_log_snr(l_hi + u * (l_lo - l_hi)),
                Schedule::Karras => {
                    let rho = 7.0;
                    let (s_hi, s_lo) = ((-l_hi).exp(), (-l_lo).exp());
                    let s = (s_hi.powf(1.0 / rho) + u * (s_lo.powf(1.0 / rho) - s_hi.powf(1.0 / rho))).powf(rho);
                    process.t_from_log_snr(-s.ln())
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn grids_decrease_from_t_max_to_eps() {
        for process in [Process::vp(), Process::ve(), Process::cosine()] {
            for schedule in [Schedule::Time, Schedule::LogSnr, Schedule::Karras] {
                let g = time_grid(&process, schedule, 10);
                assert_eq!(g.len(), 11);
                assert_eq!(g[0], process.t_max());
                assert_eq!(g[10], T_EPS_SAMPLE);
                assert!(g.windows(2).all(|w| w[1] < w[0]), "{schedule:?} {g:?}");
            }
            // Log-SNR spacing is even in lambda.
            let g = time_grid(&process, Schedule::LogSnr, 4);
            let l: Vec<f64> = g.iter().map(|t| process.log_snr(*t)).collect();
            assert!(((l[1] - l[0]) - (l[3] - l[2])).abs() < 1e-6);
        }
    }
}
