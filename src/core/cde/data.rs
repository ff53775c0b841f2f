//! The neural CDE lab's data (LABS.md, Lab C), generated in code:
//!
//! - `spirals` (torchcde's example): x = cos(s + t) / (1 + t/2), y = sin(s + t) / (1 + t/2),
//!   s ~ U[0, 2 pi), 100 points on [0, 4 pi], N(0, 0.01^2) noise; half mirrored (x -> -x),
//!   label 1: the label is the orientation, a geometric property of the path;
//! - `spirals-expm` (diffrax's example): y(t) = expm(t M)(cos th, sin th), M = [[-0.3, 2],
//!   [-2, -0.3]], half with the first coordinate negated (label 1), optional noise;
//! - `speed`, the negative control: every label-1 series is a label-0 spiral's points (noise
//!   included) re-stamped at psi(t) = 4 pi (t / 4 pi)^2, so only the time stamps tell the
//!   labels apart.
//!
//! Irregularity: each row (never the first or last) is dropped with probability `drop`; or,
//! with `per_channel`, each value of a value channel is (NaN, filled by the path), and the
//! optional mask channels count each value channel's observations so far (torchcde's
//! irregular-data example). The two members of a `speed` pair drop the same rows.

use crate::core::rng::RngStream;

/// Points per series and the time span of every set.
pub const POINTS: usize = 100;
pub const SPAN: f64 = 4.0 * std::f64::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdeDataId {
    Spirals,
    SpiralsExpm,
    Speed,
}

impl CdeDataId {
    pub const ALL: [CdeDataId; 3] = [CdeDataId::Spirals, CdeDataId::SpiralsExpm, CdeDataId::Speed];

    pub fn name(self) -> &'static str {
        match self {
            CdeDataId::Spirals => "spirals",
            CdeDataId::SpiralsExpm => "spirals-expm",
            CdeDataId::Speed => "speed",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| format!("unknown data set '{name}': choose spirals, spirals-expm or speed"))
    }
}

/// How a set is observed and what its channels are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Probability of dropping a row (or, with `per_channel`, a value), in [0, 1).
    pub drop: f64,
    pub per_channel: bool,
    /// Time as channel 0.
    pub time_channel: bool,
    /// Cumulative observation counts of the value channels, after them.
    pub masks: bool,
    /// Standard deviation of the noise on the values (spirals: 0.01 by default).
    pub noise: f64,
}

impl Default for Observation {
    fn default() -> Self {
        Observation { drop: 0.0, per_channel: false, time_channel: true, masks: false, noise: 0.01 }
    }
}

impl Observation {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.drop) {
            return Err(format!("--drop must be in [0, 1), got {}", self.drop));
        }
        if !(0.0..=1.0).contains(&self.noise) {
            return Err(format!("--noise must be 0 to 1, got {}", self.noise));
        }
        Ok(())
    }

    /// Channels of a series: time, x and y, and a mask per value channel.
    pub fn channels(&self) -> usize {
        usize::from(self.time_channel) + 2 + if self.masks { 2 } else { 0 }
    }
}

/// One labelled series: its observation times and a row of channels per time (NaN where a
/// value was dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub times: Vec<f64>,
    pub rows: Vec<Vec<f64>>,
    pub label: bool,
}

/// The full grid of times.
pub fn grid() -> Vec<f64> {
    // k / (N - 1) first, so that the last time is SPAN exactly (as psi keeps it).
    (0..POINTS).map(|k| SPAN * (k as f64 / (POINTS - 1) as f64)).collect()
}

/// A clean curve of a set at `times` (before noise and dropping), and its label.
fn curve(id: CdeDataId, rng: &mut RngStream, mirrored: bool, times: &[f64]) -> Vec<[f64; 2]> {
    let sign = if mirrored { -1.0 } else { 1.0 };
    match id {
        CdeDataId::Spirals | CdeDataId::Speed => {
            let s = std::f64::consts::TAU * rng.uniform();
            times.iter().map(|&t| [sign * (s + t).cos() / (1.0 + 0.5 * t), (s + t).sin() / (1.0 + 0.5 * t)]).collect()
        }
        CdeDataId::SpiralsExpm => {
            let theta = std::f64::consts::TAU * rng.uniform();
            // expm(t M) for M = [[a, b], [-b, a]] is e^(a t) [[cos bt, sin bt], [-sin bt, cos bt]].
            let (a, b) = (-0.3, 2.0);
            let (c0, s0) = (theta.cos(), theta.sin());
            times
                .iter()
                .map(|&t| {
                    let (sin, cos) = (b * t).sin_cos();
                    let scale = (a * t).exp();
                    [sign * scale * (cos * c0 + sin * s0), scale * (-sin * c0 + cos * s0)]
                })
                .collect()
        }
    }
}

/// The speed control's clock: psi(t) = 4 pi (t / 4 pi)^2, increasing, same ends.
pub fn speed_clock(t: f64) -> f64 {
    SPAN * (t / SPAN).powi(2)
}

/// `count` series (half of each label, alternating) of set `id`, from `seed`; a test set is
/// another seed.
pub fn generate(id: CdeDataId, count: usize, seed: u64, obs: &Observation) -> Result<Vec<Series>, String> {
    obs.validate()?;
    if count < 2 {
        return Err(format!("--series must be at least 2, got {count}"));
    }
    Ok((0..count).map(|k| series_at(id, seed, obs, k)).collect())
}

/// Series `k` of a set, alone (what `generate` returns at index k): each series draws from
/// its own stream, so one can be made without the others.
pub fn series_at(id: CdeDataId, seed: u64, obs: &Observation, k: usize) -> Series {
    let times = grid();
    // A speed pair (2j, 2j + 1) shares its curve, noise and dropped rows.
    let pair = if id == CdeDataId::Speed { k / 2 } else { k };
    let mut rng = RngStream::new(seed, 0x6364_6500 + pair as u64);
    let label = k % 2 == 1;
    let mirrored = label && id != CdeDataId::Speed;
    let mut points = curve(id, &mut rng, mirrored, &times);
    let noise = if id == CdeDataId::SpiralsExpm && obs.noise == Observation::default().noise { 0.0 } else { obs.noise };
    for p in &mut points {
        p[0] += noise * rng.normal();
        p[1] += noise * rng.normal();
    }
    let stamps: Vec<f64> =
        if id == CdeDataId::Speed && label { times.iter().map(|&t| speed_clock(t)).collect() } else { times };
    observe(&stamps, &points, label, obs, &mut rng)
}

/// Drops rows or values and lays out the channels.
fn observe(times: &[f64], points: &[[f64; 2]], label: bool, obs: &Observation, rng: &mut RngStream) -> Series {
    let last = times.len() - 1;
    let mut series = Series { times: Vec::new(), rows: Vec::new(), label };
    let mut counts = [0.0f64; 2];
    for (k, (&t, p)) in times.iter().zip(points).enumerate() {
        let ends = k == 0 || k == last;
        let mut values = [p[0], p[1]];
        if obs.per_channel {
            for v in &mut values {
                // The first and last rows keep every value (the path's ends are observed).
                if !ends && rng.uniform() < obs.drop {
                    *v = f64::NAN;
                }
            }
        } else if !ends && rng.uniform() < obs.drop {
            continue;
        }
        for (c, v) in counts.iter_mut().zip(values) {
            if !v.is_nan() {
                *c += 1.0;
            }
        }
        let mut row = Vec::with_capacity(obs.channels());
        if obs.time_channel {
            row.push(t);
        }
        row.extend(values);
        if obs.masks {
            row.extend(counts);
        }
        series.times.push(t);
        series.rows.push(row);
    }
    series
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn spirals_are_the_torchcde_curves_and_half_are_mirrored() {
        let obs = Observation { noise: 0.0, ..Observation::default() };
        let set = generate(CdeDataId::Spirals, 8, 1, &obs).unwrap();
        assert_eq!(set.iter().filter(|s| s.label).count(), 4);
        for s in &set {
            assert_eq!((s.times.len(), s.rows[0].len()), (POINTS, 3));
            for (t, row) in s.times.iter().zip(&s.rows) {
                assert_eq!(row[0], *t, "time is channel 0");
                let radius = row[1].hypot(row[2]) * (1.0 + 0.5 * t);
                assert!((radius - 1.0).abs() < 1e-12);
            }
            // Orientation: the angle turns anticlockwise unless mirrored.
            let cross = s.rows[0][1] * s.rows[1][2] - s.rows[0][2] * s.rows[1][1];
            assert_eq!(cross < 0.0, s.label, "label {} cross {cross}", s.label);
        }
        let expm = generate(CdeDataId::SpiralsExpm, 4, 2, &Observation::default()).unwrap();
        for s in &expm {
            for (t, row) in s.times.iter().zip(&s.rows) {
                assert!((row[1].hypot(row[2]) - (-0.3 * t).exp()).abs() < 1e-12, "|expm(tM) u| = e^(-0.3 t)");
            }
        }
    }

    /// Every speed pair: the same points, the second at psi(t); so only the time channel differs.
    #[test]
    fn speed_pairs_share_their_points_and_differ_in_time_only() {
        let obs = Observation { drop: 0.3, ..Observation::default() };
        let set = generate(CdeDataId::Speed, 6, 3, &obs).unwrap();
        for pair in set.chunks(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(!a.label && b.label);
            assert_eq!(a.rows.len(), b.rows.len(), "the pair drops the same rows");
            for ((ta, ra), (tb, rb)) in a.times.iter().zip(&a.rows).zip(b.times.iter().zip(&b.rows)) {
                assert_eq!((&ra[1..], (speed_clock(*ta) - tb).abs() < 1e-12), (&rb[1..], true));
            }
            assert_eq!((a.times[0], *a.times.last().unwrap()), (b.times[0], *b.times.last().unwrap()), "same ends");
        }
    }

    /// Dropping keeps the ends, drops about the asked share, and the masks count what is left.
    #[test]
    fn dropping_keeps_the_ends_and_masks_count_observations() {
        let obs = Observation { drop: 0.5, ..Observation::default() };
        let set = generate(CdeDataId::Spirals, 40, 4, &obs).unwrap();
        let kept: usize = set.iter().map(|s| s.times.len() - 2).sum();
        let share = 1.0 - kept as f64 / (40 * (POINTS - 2)) as f64;
        // 3920 Bernoulli(0.5) draws: 5 standard errors are 0.04.
        assert!((share - 0.5).abs() < 0.04, "dropped {share}");
        assert!(set.iter().all(|s| s.times[0] == 0.0 && *s.times.last().unwrap() == SPAN));
        let obs = Observation { drop: 0.4, per_channel: true, masks: true, ..Observation::default() };
        let set = generate(CdeDataId::Spirals, 10, 5, &obs).unwrap();
        for s in &set {
            assert_eq!((s.rows.len(), s.rows[0].len()), (POINTS, 5));
            for c in 0..2 {
                let observed = s.rows.iter().filter(|r| !r[1 + c].is_nan()).count() as f64;
                assert_eq!(s.rows.last().unwrap()[3 + c], observed);
                assert!(s.rows.windows(2).all(|w| w[1][3 + c] >= w[0][3 + c]));
            }
            assert!(!s.rows[0][1].is_nan() && !s.rows.last().unwrap()[2].is_nan());
        }
        assert!(generate(CdeDataId::Spirals, 10, 0, &Observation { drop: 1.0, ..Observation::default() }).is_err());
        // (Debug text: the rows hold NaN, which is not equal to itself.)
        assert_eq!(format!("{:?}", series_at(CdeDataId::Spirals, 5, &obs, 7)), format!("{:?}", set[7]));
        assert!(CdeDataId::from_name("spiral").is_err());
    }
}
