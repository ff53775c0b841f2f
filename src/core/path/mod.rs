//! Control paths from irregular, partly missing multichannel series: what a neural CDE
//! integrates against (dz = f(z) dX). A path is piecewise cubic in its parameter, one
//! polynomial per interval between knots, X(t) = a + b s + c s^2 + d s^3 with s = t - t_k, so
//! that evaluating it and its derivative is the same code for every interpolation:
//!
//! - **linear**: X = x_k + m_k s, m_k = (x_{k+1} - x_k) / (t_{k+1} - t_k);
//! - **Hermite cubic with backward differences**: X = x_k + d_k s + c s^2 + e s^3 with
//!   d_k = m_{k-1} (d_0 = m_0), c = 2 (m_k - d_k) / D, e = (d_k - m_k) / D^2, D = t_{k+1} - t_k:
//!   it reaches x_{k+1} with slope m_k, so it is C^1 and an interval uses x_{k-1}, x_k and
//!   x_{k+1} only (torchcde's `hermite_cubic_coefficients_with_backward_differences`);
//! - **rectilinear**: between two observations the time channel moves first with the values
//!   held, then the values move with time held (torchcde's `rectilinear`, the causal choice for
//!   online use). Its parameter is the knot index 0, 1, ..., 2N - 2, and it needs time as a
//!   channel.
//!
//! Missing values (NaN) are filled per channel first (`fill`): linearly in time between
//! neighbouring observations for linear and Hermite paths, forward for rectilinear ones, the
//! first and last observations carried to the ends. Outside the knots a path continues its end
//! intervals' polynomials.

pub mod fill;

use fill::{fill_forward, fill_linear};

/// How the observations are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Linear,
    Hermite,
    Rectilinear,
}

impl Interpolation {
    pub const ALL: [Interpolation; 3] = [Interpolation::Linear, Interpolation::Hermite, Interpolation::Rectilinear];

    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Linear => "linear",
            Interpolation::Hermite => "hermite",
            Interpolation::Rectilinear => "rectilinear",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| format!("unknown interpolation '{name}': choose linear, hermite or rectilinear"))
    }
}

/// A piecewise cubic path through the observations.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPath {
    pub kind: Interpolation,
    pub channels: usize,
    /// The parameter at each knot: the times, or 0, 1, ..., 2N - 2 for a rectilinear path.
    pub knots: Vec<f64>,
    /// Per interval, per channel: [a, b, c, d] of a + b s + c s^2 + d s^3.
    coefficients: Vec<[f64; 4]>,
}

impl ControlPath {
    /// The path of `rows` (one per time, one value per channel, NaN where missing) observed at
    /// `times`. A rectilinear path needs `time_channel`: the channel that holds the times.
    pub fn new(
        kind: Interpolation,
        times: &[f64],
        rows: &[Vec<f64>],
        time_channel: Option<usize>,
    ) -> Result<Self, String> {
        if times.len() < 2 || rows.len() != times.len() {
            return Err(format!(
                "a path needs at least 2 observations and a row per time ({} times, {} rows)",
                times.len(),
                rows.len()
            ));
        }
        if times.windows(2).any(|w| !(w[1] > w[0])) || !times.iter().all(|t| t.is_finite()) {
            return Err("a path's times must be finite and strictly increasing".into());
        }
        let channels = rows[0].len();
        if channels == 0 || rows.iter().any(|r| r.len() != channels) {
            return Err("every row of a path needs the same number of channels (at least one)".into());
        }
        if rows.iter().flatten().any(|v| v.is_infinite()) {
            return Err("a path's values must be finite (NaN marks a missing one)".into());
        }
        // Channel-major copies, filled.
        let mut columns: Vec<Vec<f64>> = (0..channels).map(|c| rows.iter().map(|r| r[c]).collect()).collect();
        match kind {
            Interpolation::Linear | Interpolation::Hermite => {
                columns.iter_mut().for_each(|col| fill_linear(times, col));
            }
            Interpolation::Rectilinear => {
                let tc = time_channel.ok_or("a rectilinear path needs time as a channel")?;
                let col =
                    columns.get(tc).ok_or_else(|| format!("time channel {tc} is not among the {channels} channels"))?;
                if col.iter().zip(times).any(|(v, t)| v.is_nan() || (v - t).abs() > 1e-12 * (1.0 + t.abs())) {
                    return Err(format!("channel {tc} must hold the times, observed at every row"));
                }
                columns.iter_mut().for_each(|col| fill_forward(col));
            }
        }
        Ok(match kind {
            Interpolation::Linear => Self::piecewise(kind, times.to_vec(), &columns, |_, _, _| None),
            Interpolation::Hermite => Self::hermite(times, &columns),
            Interpolation::Rectilinear => {
                let tc = time_channel.expect("checked above");
                // Knot 2k is row k; knot 2k + 1 is row k with the time of row k + 1.
                let n = times.len();
                let stepped: Vec<Vec<f64>> = columns
                    .iter()
                    .enumerate()
                    .map(|(c, col)| {
                        (0..2 * n - 1).map(|j| if c == tc { col[j.div_ceil(2)] } else { col[j / 2] }).collect()
                    })
                    .collect();
                let index: Vec<f64> = (0..2 * n - 1).map(|j| j as f64).collect();
                Self::piecewise(kind, index, &stepped, |_, _, _| None)
            }
        })
    }

    /// A path linear between knots (`cubic` may replace an interval's coefficients).
    fn piecewise(
        kind: Interpolation,
        knots: Vec<f64>,
        columns: &[Vec<f64>],
        cubic: impl Fn(usize, usize, f64) -> Option<[f64; 4]>,
    ) -> Self {
        let channels = columns.len();
        let mut coefficients = Vec::with_capacity((knots.len() - 1) * channels);
        for k in 0..knots.len() - 1 {
            let span = knots[k + 1] - knots[k];
            for (c, col) in columns.iter().enumerate() {
                let slope = (col[k + 1] - col[k]) / span;
                coefficients.push(cubic(k, c, slope).unwrap_or([col[k], slope, 0.0, 0.0]));
            }
        }
        ControlPath { kind, channels, knots, coefficients }
    }

    fn hermite(times: &[f64], columns: &[Vec<f64>]) -> Self {
        let slope = |c: usize, k: usize| (columns[c][k + 1] - columns[c][k]) / (times[k + 1] - times[k]);
        Self::piecewise(Interpolation::Hermite, times.to_vec(), columns, |k, c, m| {
            let span = times[k + 1] - times[k];
            let d = if k == 0 { m } else { slope(c, k - 1) };
            Some([columns[c][k], d, 2.0 * (m - d) / span, (d - m) / (span * span)])
        })
    }

    pub fn start(&self) -> f64 {
        self.knots[0]
    }

    pub fn end(&self) -> f64 {
        *self.knots.last().expect("at least two knots")
    }

    pub fn intervals(&self) -> usize {
        self.knots.len() - 1
    }

    /// The interval whose polynomial holds at `t` (a knot belongs to the interval it starts;
    /// the last knot to the last interval; outside the knots, the end intervals).
    pub fn interval(&self, t: f64) -> usize {
        let after = self.knots.partition_point(|&k| k <= t);
        after.saturating_sub(1).min(self.intervals() - 1)
    }

    fn coefficients_at(&self, k: usize, t: f64) -> (&[[f64; 4]], f64) {
        (&self.coefficients[k * self.channels..(k + 1) * self.channels], t - self.knots[k])
    }

    /// X(t) on interval `k`'s polynomial (solvers that step knot to knot name the interval,
    /// so a stage at the interval's end uses its own polynomial).
    pub fn evaluate_on(&self, k: usize, t: f64, out: &mut [f64]) {
        let (coefficients, s) = self.coefficients_at(k, t);
        for (o, [a, b, c, d]) in out.iter_mut().zip(coefficients) {
            *o = a + s * (b + s * (c + s * d));
        }
    }

    /// X'(t) on interval `k`'s polynomial.
    pub fn derivative_on(&self, k: usize, t: f64, out: &mut [f64]) {
        let (coefficients, s) = self.coefficients_at(k, t);
        for (o, [_, b, c, d]) in out.iter_mut().zip(coefficients) {
            *o = b + s * (2.0 * c + 3.0 * s * d);
        }
    }

    pub fn evaluate(&self, t: f64, out: &mut [f64]) {
        self.evaluate_on(self.interval(t), t, out);
    }

    pub fn derivative(&self, t: f64, out: &mut [f64]) {
        self.derivative_on(self.interval(t), t, out);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const N: f64 = f64::NAN;

    fn times() -> Vec<f64> {
        vec![0.0, 0.3, 1.0, 1.2, 2.5, 4.0]
    }

    /// Two channels of rough data on irregular times.
    fn rows() -> Vec<Vec<f64>> {
        vec![vec![1.0, -2.0], vec![0.5, 0.0], vec![2.0, 1.0], vec![-1.0, 0.5], vec![0.0, 3.0], vec![1.5, 2.0]]
    }

    fn at(path: &ControlPath, t: f64) -> Vec<f64> {
        let mut out = vec![0.0; path.channels];
        path.evaluate(t, &mut out);
        out
    }

    fn slope_at(path: &ControlPath, k: usize, t: f64) -> Vec<f64> {
        let mut out = vec![0.0; path.channels];
        path.derivative_on(k, t, &mut out);
        out
    }

    #[test]
    fn every_path_passes_through_its_observations() {
        let (t, r) = (times(), rows());
        for kind in [Interpolation::Linear, Interpolation::Hermite] {
            let path = ControlPath::new(kind, &t, &r, None).unwrap();
            for (tk, row) in t.iter().zip(&r) {
                let x = at(&path, *tk);
                assert!(x.iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-12), "{kind:?} at {tk}: {x:?} vs {row:?}");
                // Also from the left: the previous interval's polynomial ends there.
                let k = path.interval(*tk);
                if k > 0 && *tk < path.end() {
                    let mut left = vec![0.0; 2];
                    path.evaluate_on(k - 1, *tk, &mut left);
                    assert!(left.iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-12), "{kind:?} left of {tk}");
                }
            }
        }
        // Rectilinear (time as channel 0): knot 2k is observation k.
        let with_time: Vec<Vec<f64>> = t.iter().zip(&r).map(|(tk, row)| [vec![*tk], row.clone()].concat()).collect();
        let path = ControlPath::new(Interpolation::Rectilinear, &t, &with_time, Some(0)).unwrap();
        assert_eq!(path.knots.len(), 2 * t.len() - 1);
        for (k, row) in with_time.iter().enumerate() {
            assert_eq!(&at(&path, 2.0 * k as f64), row);
        }
    }

    /// An affine path (irregular times) is reproduced exactly between the knots, with its
    /// slope as the derivative, by linear and Hermite paths.
    #[test]
    fn affine_paths_are_reproduced() {
        let t = times();
        let r: Vec<Vec<f64>> = t.iter().map(|&s| vec![0.5 + 2.0 * s, -1.0 - 0.25 * s]).collect();
        for kind in [Interpolation::Linear, Interpolation::Hermite] {
            let path = ControlPath::new(kind, &t, &r, None).unwrap();
            for q in [0.1, 0.29, 0.65, 1.1, 2.0, 3.99] {
                let x = at(&path, q);
                assert!(
                    (x[0] - (0.5 + 2.0 * q)).abs() < 1e-12 && (x[1] - (-1.0 - 0.25 * q)).abs() < 1e-12,
                    "{kind:?} {q}"
                );
                let d = slope_at(&path, path.interval(q), q);
                assert!((d[0] - 2.0).abs() < 1e-12 && (d[1] + 0.25).abs() < 1e-12, "{kind:?} slope at {q}: {d:?}");
            }
        }
    }

    /// Hermite: C^1 at every interior knot, with the backward slope m_{k-1} on both sides; the
    /// first interval starts with m_0. Linear: the derivative is m_k across interval k.
    #[test]
    fn hermite_is_c1_with_the_backward_slope_and_linear_is_piecewise_constant() {
        let (t, r) = (times(), rows());
        let m = |k: usize, c: usize| (r[k + 1][c] - r[k][c]) / (t[k + 1] - t[k]);
        let hermite = ControlPath::new(Interpolation::Hermite, &t, &r, None).unwrap();
        for k in 1..t.len() - 1 {
            let (left, right) = (slope_at(&hermite, k - 1, t[k]), slope_at(&hermite, k, t[k]));
            for c in 0..2 {
                assert!((left[c] - m(k - 1, c)).abs() < 1e-12, "left of knot {k}: {} vs {}", left[c], m(k - 1, c));
                assert!((right[c] - m(k - 1, c)).abs() < 1e-12, "right of knot {k}");
            }
        }
        let first = slope_at(&hermite, 0, t[0]);
        assert!((first[0] - m(0, 0)).abs() < 1e-12);
        let linear = ControlPath::new(Interpolation::Linear, &t, &r, None).unwrap();
        for k in 0..t.len() - 1 {
            for f in [0.0, 0.4, 0.99] {
                let q = t[k] + f * (t[k + 1] - t[k]);
                let d = slope_at(&linear, k, q);
                assert!((0..2).all(|c| (d[c] - m(k, c)).abs() < 1e-12), "interval {k}");
            }
        }
    }

    /// Rectilinear: between two observations the time moves first, values held; then the
    /// values move, time held. Missing values are carried forward, never looked up ahead.
    #[test]
    fn rectilinear_moves_time_then_values_and_fills_forward() {
        let t = [0.0, 1.0, 3.0];
        let rows = vec![vec![0.0, 5.0], vec![1.0, N], vec![3.0, 9.0]];
        let path = ControlPath::new(Interpolation::Rectilinear, &t, &rows, Some(0)).unwrap();
        assert_eq!(at(&path, 0.5), vec![0.5, 5.0], "time moves first");
        assert_eq!(at(&path, 1.5), vec![1.0, 5.0], "then the values (the missing one held)");
        assert_eq!(at(&path, 2.5), vec![2.0, 5.0]);
        assert_eq!(at(&path, 3.5), vec![3.0, 7.0]);
        assert_eq!(at(&path, 4.0), vec![3.0, 9.0]);
        assert!(ControlPath::new(Interpolation::Rectilinear, &t, &rows, None).unwrap_err().contains("time"));
        let wrong = vec![vec![0.0, 5.0], vec![2.0, 1.0], vec![3.0, 9.0]];
        assert!(ControlPath::new(Interpolation::Rectilinear, &t, &wrong, Some(0))
            .unwrap_err()
            .contains("hold the times"));
    }

    /// Missing values under linear and Hermite paths: filled linearly in time, so a gap in an
    /// affine channel is invisible.
    #[test]
    fn gaps_are_filled_before_interpolating() {
        let t = times();
        let r: Vec<Vec<f64>> =
            t.iter().enumerate().map(|(k, &s)| vec![if k == 2 || k == 3 { N } else { 1.0 + s }]).collect();
        for kind in [Interpolation::Linear, Interpolation::Hermite] {
            let path = ControlPath::new(kind, &t, &r, None).unwrap();
            assert!((at(&path, 1.1)[0] - 2.1).abs() < 1e-12, "{kind:?}");
        }
        let leading = vec![vec![N], vec![N], vec![2.0], vec![3.0], vec![N], vec![N]];
        let path = ControlPath::new(Interpolation::Linear, &t, &leading, None).unwrap();
        assert_eq!((at(&path, 0.1)[0], at(&path, 3.0)[0]), (2.0, 3.0), "leading and trailing gaps are constant");
    }

    #[test]
    fn bad_series_are_refused() {
        let r = vec![vec![1.0], vec![2.0]];
        assert!(ControlPath::new(Interpolation::Linear, &[0.0], &r[..1], None).is_err());
        assert!(ControlPath::new(Interpolation::Linear, &[0.0, 0.0], &r, None).unwrap_err().contains("increasing"));
        assert!(ControlPath::new(Interpolation::Linear, &[0.0, 1.0], &[vec![1.0], vec![1.0, 2.0]], None).is_err());
        assert!(ControlPath::new(Interpolation::Linear, &[0.0, 1.0], &[vec![1.0], vec![f64::INFINITY]], None).is_err());
        assert!(Interpolation::from_name("spline").unwrap_err().contains("hermite"));
        assert_eq!(Interpolation::from_name("hermite"), Ok(Interpolation::Hermite));
    }
}
