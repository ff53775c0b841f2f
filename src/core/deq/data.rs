//! The deep equilibrium lab's labelled data: two moons (noise 0.1) and two spirals (labels
//! from the arm), the existing toy shapes with their arms as classes, 1000 train and 1000
//! test points; and optional random Fourier features of the input (two spirals need them).

use crate::core::data::toy::ToyDataset;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeqData {
    Moons,
    TwoSpirals,
}

impl DeqData {
    pub const ALL: [DeqData; 2] = [DeqData::Moons, DeqData::TwoSpirals];

    pub fn name(self) -> &'static str {
        match self {
            DeqData::Moons => "moons",
            DeqData::TwoSpirals => "two-spirals",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| format!("unknown data '{name}': choose moons or two-spirals"))
    }

    fn toy(self) -> ToyDataset {
        match self {
            DeqData::Moons => ToyDataset::Moons,
            DeqData::TwoSpirals => ToyDataset::TwoSpirals,
        }
    }

    /// Whether the lab uses Fourier features for this data by default.
    pub fn default_fourier(self) -> bool {
        self == DeqData::TwoSpirals
    }
}

/// Points and their classes (0 or 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSet {
    pub points: Vec<[f64; 2]>,
    pub labels: Vec<usize>,
}

pub const NOISE: f64 = 0.1;
pub const TRAIN: usize = 1000;
pub const TEST: usize = 1000;

/// The train and test sets of `data` (distinct random streams of `seed`).
pub fn train_test(data: DeqData, seed: u64) -> (ClassSet, ClassSet) {
    let set = |n: usize, seed: u64| {
        let (points, labels) = data.toy().sample_labelled(n, seed, NOISE).into_iter().unzip();
        ClassSet { points, labels }
    };
    (set(TRAIN, seed.wrapping_mul(2)), set(TEST, seed.wrapping_mul(2) + 1))
}

/// Fourier features sqrt(2/F) cos(ω·x + φ), ω ~ N(0, I), φ ~ U(0, 2π), after x itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    omega: Vec<[f64; 2]>,
    phase: Vec<f64>,
}

pub const FOURIER_FEATURES: usize = 16;

impl Features {
    /// None: the input is x alone.
    pub fn new(fourier: bool, seed: u64) -> Self {
        let count = if fourier { FOURIER_FEATURES } else { 0 };
        let mut rng = RngStream::new(seed, 0x7266_6673); // stream: "rffs"
        let omega = (0..count).map(|_| [rng.normal(), rng.normal()]).collect();
        let phase = (0..count).map(|_| std::f64::consts::TAU * rng.uniform()).collect();
        Features { omega, phase }
    }

    pub fn dim(&self) -> usize {
        2 + self.omega.len()
    }

    pub fn of(&self, x: [f64; 2]) -> Vec<f64> {
        let scale = (2.0 / self.omega.len().max(1) as f64).sqrt();
        let mut out = vec![x[0], x[1]];
        out.extend(self.omega.iter().zip(&self.phase).map(|(w, p)| scale * (w[0] * x[0] + w[1] * x[1] + p).cos()));
        out
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn both_classes_appear_and_the_arms_are_separate() {
        for data in DeqData::ALL {
            let (train, test) = train_test(data, 0);
            assert_eq!((train.points.len(), test.points.len()), (TRAIN, TEST));
            assert_ne!(train.points, test.points);
            let ones = train.labels.iter().filter(|l| **l == 1).count();
            assert!((400..600).contains(&ones), "{}: {ones} of class 1", data.name());
        }
        // Moons: the upper arm (class 0) lies above the lower one on average.
        let (train, _) = train_test(DeqData::Moons, 0);
        let mean_y = |c: usize| {
            let ys: Vec<f64> =
                train.points.iter().zip(&train.labels).filter(|(_, l)| **l == c).map(|(p, _)| p[1]).collect();
            ys.iter().sum::<f64>() / ys.len() as f64
        };
        assert!(mean_y(0) > mean_y(1) + 0.5);
        let f = Features::new(true, 0);
        assert_eq!(f.of([0.3, -0.2]).len(), 18);
        assert_eq!(Features::new(false, 0).of([0.3, -0.2]), vec![0.3, -0.2]);
    }
}
