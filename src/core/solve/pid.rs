//! PID step-size control (Söderlind; diffrax's PIDController): the next step from the last
//! three error norms. Plain I-control is p = d = 0, i = 1.

/// The controller's settings. Defaults: I-control, safety 0.9, growth at most 10x.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PidController {
    pub rtol: f64,
    pub atol: f64,
    pub p: f64,
    pub i: f64,
    pub d: f64,
    pub safety: f64,
    pub max_factor: f64,
    pub min_factor: f64,
    /// Factor range on rejection.
    pub reject_max_factor: f64,
}

impl PidController {
    pub fn new(rtol: f64, atol: f64) -> Self {
        PidController {
            rtol,
            atol,
            p: 0.0,
            i: 1.0,
            d: 0.0,
            safety: 0.9,
            max_factor: 10.0,
            min_factor: 0.2,
            reject_max_factor: 0.9,
        }
    }

    /// RMS of error / (atol + max(|y0|, |y1|) rtol): accept the step when below 1.
    pub fn error_norm(&self, y0: &[f64], y1: &[f64], error: &[f64]) -> f64 {
        let sum: f64 = error
            .iter()
            .zip(y0.iter().zip(y1))
            .map(|(e, (a, b))| (e / (self.atol + a.abs().max(b.abs()) * self.rtol)).powi(2))
            .sum();
        (sum / error.len().max(1) as f64).sqrt()
    }

    /// The step-size factor from the current and two previous error norms; `k` is the
    /// exponent's order (the method's order for ODEs).
    pub fn factor(&self, norms: [f64; 3], k: f64, accepted: bool) -> f64 {
        let tiny = 1e-10;
        let [e0, e1, e2] = norms.map(|e| e.max(tiny));
        let factor = self.safety
            * e0.powf(-(self.p + self.i + self.d) / k)
            * e1.powf((self.p + 2.0 * self.d) / k)
            * e2.powf(-self.d / k);
        if accepted {
            factor.clamp(1.0, self.max_factor)
        } else {
            factor.clamp(self.min_factor, self.reject_max_factor)
        }
    }
}
