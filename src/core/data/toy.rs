//! The toy 2D data sets, each a deterministic function of (n, seed, noise). Shapes follow the
//! usual definitions (scikit-learn's moons and circles, FFJORD's toy sets), scaled to about
//! [-4, 4]^2 so that one VE sigma_max and one plot range suit them all.

use std::f64::consts::{PI, TAU};

use super::gmm::GaussianMixture;
use super::Point;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToyDataset {
    Moons,
    SwissRoll,
    Circles,
    Rings,
    EightGaussians,
    TwentyFiveGaussians,
    Pinwheel,
    TwoSpirals,
    Checkerboard,
}

impl ToyDataset {
    pub const ALL: [ToyDataset; 9] = [
        ToyDataset::Moons,
        ToyDataset::SwissRoll,
        ToyDataset::Circles,
        ToyDataset::Rings,
        ToyDataset::EightGaussians,
        ToyDataset::TwentyFiveGaussians,
        ToyDataset::Pinwheel,
        ToyDataset::TwoSpirals,
        ToyDataset::Checkerboard,
    ];

    /// The name used on the command line and in URLs.
    pub fn name(&self) -> &'static str {
        match self {
            ToyDataset::Moons => "moons",
            ToyDataset::SwissRoll => "swissroll",
            ToyDataset::Circles => "circles",
            ToyDataset::Rings => "rings",
            ToyDataset::EightGaussians => "gmm8",
            ToyDataset::TwentyFiveGaussians => "gmm25",
            ToyDataset::Pinwheel => "pinwheel",
            ToyDataset::TwoSpirals => "2spirals",
            ToyDataset::Checkerboard => "checkerboard",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|d| d.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|d| d.name()).collect();
            format!("unknown data set '{name}': choose one of {}", names.join(", "))
        })
    }

    /// The mixture behind the set, where it is one (its exact score is then known).
    pub fn mixture(&self) -> Option<GaussianMixture> {
        match self {
            ToyDataset::EightGaussians => Some(GaussianMixture::eight_gaussians()),
            ToyDataset::TwentyFiveGaussians => Some(GaussianMixture::twenty_five_gaussians()),
            _ => None,
        }
    }

    /// The jitter each set gets unless told otherwise (std of added Gaussian noise).
    pub fn default_noise(&self) -> f64 {
        match self {
            ToyDataset::Moons | ToyDataset::Circles => 0.05,
            ToyDataset::SwissRoll | ToyDataset::TwoSpirals => 0.1,
            ToyDataset::Rings => 0.08,
            ToyDataset::Pinwheel | ToyDataset::Checkerboard => 0.0,
            // Mixtures carry their own spread; extra noise would change the oracle.
            ToyDataset::EightGaussians | ToyDataset::TwentyFiveGaussians => 0.0,
        }
    }

    /// n points, deterministic under `seed`, with Gaussian jitter of std `noise`.
    /// For the mixtures, `noise` must be 0 to keep the exact oracle exact (it is ignored).
    pub fn sample(&self, n: usize, seed: u64, noise: f64) -> Vec<Point> {
        if let Some(mixture) = self.mixture() {
            return mixture.sample(n, seed);
        }
        self.sample_labelled(n, seed, noise).into_iter().map(|(p, _)| p).collect()
    }

    /// Points with the arm each came from (moons: the upper 0, the lower 1; two spirals: by
    /// sign; other shapes: 0), for the classifiers of the deep equilibrium lab. The points
    /// are `sample`'s (mixtures excepted, whose labels are not drawn here).
    pub fn sample_labelled(&self, n: usize, seed: u64, noise: f64) -> Vec<(Point, usize)> {
        let mut rng = RngStream::new(seed, 0x746f_7973); // stream: "toys"
        (0..n)
            .map(|_| {
                let (p, label) = self.shape_point(&mut rng);
                ([p[0] + noise * rng.normal(), p[1] + noise * rng.normal()], label)
            })
            .collect()
    }

    /// One noiseless point of the shape and its arm.
    fn shape_point(&self, rng: &mut RngStream) -> (Point, usize) {
        let point = match self {
            ToyDataset::Moons => {
                let t = PI * rng.uniform();
                // scikit-learn's two half circles, centred and scaled by 2.
                let upper = rng.uniform() < 0.5;
                let (x, y) = if upper { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                return ([2.0 * (x - 0.5), 2.0 * (y - 0.25)], usize::from(!upper));
            }
            ToyDataset::SwissRoll => {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                [t * t.cos() / 3.0, t * t.sin() / 3.0]
            }
            ToyDataset::Circles => {
                let radius = if rng.uniform() < 0.5 { 3.0 } else { 1.5 };
                let a = TAU * rng.uniform();
                [radius * a.cos(), radius * a.sin()]
            }
            ToyDataset::Rings => {
                let radius = 0.9 * (1 + rng.below(4)) as f64;
                let a = TAU * rng.uniform();
                [radius * a.cos(), radius * a.sin()]
            }
            ToyDataset::Pinwheel => {
                // FFJORD's pinwheel: 5 arms, radial std 0.3, tangential std 0.1, rate 0.25.
                let arm = rng.below(5) as f64;
                let r = 1.0 + 0.3 * rng.normal();
                let tangential = 0.1 * rng.normal();
                let angle = arm * TAU / 5.0 + 0.25 * r.exp();
                let (c, s) = (angle.cos(), angle.sin());
                [1.5 * (c * r - s * tangential), 1.5 * (s * r + c * tangential)]
            }
            ToyDataset::TwoSpirals => {
                let n = rng.uniform().sqrt() * 540.0 * TAU / 360.0;
                let first = rng.uniform() < 0.5;
                let sign = if first { 1.0 } else { -1.0 };
                return ([sign * -n.cos() * n / 3.0, sign * n.sin() * n / 3.0], usize::from(!first));
            }
            ToyDataset::Checkerboard => {
                // Squares of side 1 on [-2, 2]^2 where floor(x) + floor(y) is even, scaled by 2.
                let x = 4.0 * rng.uniform() - 2.0;
                let row = 2.0 * rng.below(2) as f64 - 2.0 + rng.uniform();
                let y = row + (x.floor().rem_euclid(2.0));
                [2.0 * x, 2.0 * y]
            }
            ToyDataset::EightGaussians | ToyDataset::TwentyFiveGaussians => unreachable!("mixtures sample themselves"),
        };
        (point, 0)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_set_is_deterministic_finite_and_in_range() {
        for set in ToyDataset::ALL {
            let a = set.sample(2000, 7, set.default_noise());
            assert_eq!(a, set.sample(2000, 7, set.default_noise()), "{}", set.name());
            assert_ne!(a, set.sample(2000, 8, set.default_noise()), "{}: the seed matters", set.name());
            assert!(a.iter().all(|p| p.iter().all(|v| v.is_finite() && v.abs() < 6.0)), "{}", set.name());
            let spread = a.iter().map(|p| p[0] * p[0] + p[1] * p[1]).sum::<f64>() / a.len() as f64;
            assert!(spread > 0.5, "{}: degenerate spread {spread}", set.name());
            assert_eq!(ToyDataset::from_name(set.name()).unwrap(), set);
        }
        assert!(ToyDataset::from_name("moon").unwrap_err().contains("moons, swissroll"));
    }

    #[test]
    fn shapes_have_their_defining_property() {
        // Circles: radii 1.5 and 3 only (noise off).
        for p in ToyDataset::Circles.sample(500, 1, 0.0) {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((r - 1.5).abs() < 1e-9 || (r - 3.0).abs() < 1e-9, "r = {r}");
        }
        // Checkerboard: floor(x/2) + floor(y/2) is even on every point.
        for p in ToyDataset::Checkerboard.sample(2000, 1, 0.0) {
            let parity = ((p[0] / 2.0).floor() + (p[1] / 2.0).floor()).rem_euclid(2.0);
            assert_eq!(parity, 0.0, "{p:?}");
        }
        // Moons: the two classes fill two arcs of radius 2 around (-1, -0.5) and (1, 0.5).
        for p in ToyDataset::Moons.sample(500, 1, 0.0) {
            let upper = ((p[0] + 1.0).powi(2) + (p[1] + 0.5).powi(2)).sqrt();
            let lower = ((p[0] - 1.0).powi(2) + (p[1] - 0.5).powi(2)).sqrt();
            assert!((upper - 2.0).abs() < 1e-9 || (lower - 2.0).abs() < 1e-9, "{p:?}");
        }
    }
}
