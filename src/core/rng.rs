//! Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
//! easy as 1, 2, 3", SC'11).
//!
//! Every draw is a pure function of `(seed, stream, counter)`: no state to carry, so a GPU
//! thread, a CPU loop and a test can ask for "draw number `counter` of particle `stream`"
//! in any order and get the same bits. `shaders/rng.wgsl` is the same function in WGSL; the
//! native and browser tests check the two agree bit for bit.
//!
//! Layout of one call (shared with WGSL, which has no 64-bit integers):
//! key = (seed_lo, seed_hi), counter block = (counter_lo, counter_hi, stream_lo, stream_hi).

/// Philox multipliers and Weyl key increments (Random123's constants).
const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;
const PHILOX_ROUNDS: usize = 10;

/// 2^-24: a u32 keeps its top 24 bits so that the f32 result is exact.
const INV_2_POW_24: f32 = 1.0 / 16_777_216.0;

/// The raw Philox4x32-10 bijection on one 128-bit block under a 64-bit key.
pub fn philox4x32_10(block: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = block;
    let mut k = key;
    for round in 0..PHILOX_ROUNDS {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Four independent u32 for draw `counter` of stream `stream` under `seed`.
pub fn random_u32x4(seed: u64, stream: u64, counter: u64) -> [u32; 4] {
    let block = [counter as u32, (counter >> 32) as u32, stream as u32, (stream >> 32) as u32];
    philox4x32_10(block, [seed as u32, (seed >> 32) as u32])
}

/// A u32 mapped to [0, 1): the top 24 bits, so every value is an exact f32.
pub fn u32_to_unit_f32(x: u32) -> f32 {
    (x >> 8) as f32 * INV_2_POW_24
}

/// A u32 mapped to (0, 1]: safe to take the logarithm of.
pub fn u32_to_open_unit_f32(x: u32) -> f32 {
    ((x >> 8) + 1) as f32 * INV_2_POW_24
}

/// Four uniforms in [0, 1) for one counter.
pub fn uniform4(seed: u64, stream: u64, counter: u64) -> [f32; 4] {
    random_u32x4(seed, stream, counter).map(u32_to_unit_f32)
}

/// Box-Muller on two u32: one pair of independent standard normals.
/// Computed in f32, as the shader does, so CPU and GPU agree to rounding. The angle lies in
/// [-pi, pi), where WGSL guarantees its tightest `sin`/`cos` accuracy.
pub fn box_muller(a: u32, b: u32) -> [f32; 2] {
    let radius = (-2.0 * u32_to_open_unit_f32(a).ln()).sqrt();
    let angle = std::f32::consts::TAU * u32_to_unit_f32(b) - std::f32::consts::PI;
    [radius * angle.cos(), radius * angle.sin()]
}

/// Four standard normals (two Box-Muller pairs) for one counter.
pub fn normal4(seed: u64, stream: u64, counter: u64) -> [f32; 4] {
    let r = random_u32x4(seed, stream, counter);
    let [n0, n1] = box_muller(r[0], r[1]);
    let [n2, n3] = box_muller(r[2], r[3]);
    [n0, n1, n2, n3]
}

/// Sequential draws from one (seed, stream): a cursor over the counter, for code that just
/// wants "the next normal" (data generators, tests). Deterministic and cheap to create.
#[derive(Debug, Clone)]
pub struct RngStream {
    seed: u64,
    stream: u64,
    counter: u64,
    buffered: [f64; 4],
    available: usize,
}

impl RngStream {
    pub fn new(seed: u64, stream: u64) -> Self {
        Self { seed, stream, counter: 0, buffered: [0.0; 4], available: 0 }
    }

    fn next_bits(&mut self) -> [u32; 4] {
        let bits = random_u32x4(self.seed, self.stream, self.counter);
        self.counter += 1;
        bits
    }

    /// Uniform on [0, 1) with 53 random bits (two u32 combined).
    pub fn uniform(&mut self) -> f64 {
        let [a, b, _, _] = self.next_bits();
        let bits = (u64::from(a) << 21) ^ u64::from(b >> 11);
        (bits & ((1u64 << 53) - 1)) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (f64 Box-Muller; two pairs per counter, buffered).
    pub fn normal(&mut self) -> f64 {
        if self.available == 0 {
            let bits = self.next_bits();
            let unit = |hi: u32, lo: u32| ((u64::from(hi) << 21) ^ u64::from(lo >> 11)) as f64 / (1u64 << 53) as f64;
            let (u1, u2) = (1.0 - unit(bits[0], bits[1]), unit(bits[2], bits[3]));
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            self.buffered = [radius * angle.cos(), radius * angle.sin(), 0.0, 0.0];
            self.available = 2;
        }
        self.available -= 1;
        self.buffered[self.available]
    }

    /// An index in 0..n, uniform (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::stats::{ks_statistic, standard_normal_cdf};

    /// Known-answer vectors published with Random123 (kat_vectors, philox4x32_10).
    #[test]
    fn philox_matches_random123_known_answers() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
        assert_eq!(
            philox4x32_10([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn draws_depend_on_every_input() {
        let base = random_u32x4(7, 3, 11);
        assert_ne!(base, random_u32x4(8, 3, 11));
        assert_ne!(base, random_u32x4(7, 4, 11));
        assert_ne!(base, random_u32x4(7, 3, 12));
        assert_ne!(base, random_u32x4(7, 3 + (1 << 32), 11), "high stream bits must matter");
        assert_ne!(base, random_u32x4(7, 3, 11 + (1 << 32)), "high counter bits must matter");
        assert_ne!(base, random_u32x4(7 + (1 << 32), 3, 11), "high seed bits must matter");
        assert_eq!(base, random_u32x4(7, 3, 11), "a pure function");
    }

    #[test]
    fn unit_maps_stay_in_range() {
        assert_eq!(u32_to_unit_f32(0), 0.0);
        assert!(u32_to_unit_f32(u32::MAX) < 1.0);
        assert!(u32_to_open_unit_f32(0) > 0.0);
        assert_eq!(u32_to_open_unit_f32(u32::MAX), 1.0);
    }

    #[test]
    fn uniforms_have_the_right_mean_variance_and_shape() {
        let n = 100_000u64;
        let mut xs: Vec<f64> = (0..n / 4).flat_map(|i| uniform4(42, 1, i)).map(f64::from).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        // Standard error of the mean of U(0,1) is sqrt(1/12/n) ~ 0.0009: allow 5 of them.
        assert!((mean - 0.5).abs() < 0.0046, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "variance {var}");
        let d = ks_statistic(&mut xs, |x| x.clamp(0.0, 1.0));
        // Kolmogorov-Smirnov critical value at alpha = 0.001 is 1.95 / sqrt(n).
        assert!(d < 1.95 / (n as f64).sqrt(), "KS statistic {d}");
    }

    #[test]
    fn normals_pass_mean_variance_and_kolmogorov_smirnov() {
        let n = 200_000u64;
        let mut xs: Vec<f64> = (0..n / 4).flat_map(|i| normal4(2024, 9, i)).map(f64::from).collect();
        assert!(xs.iter().all(|x| x.is_finite()));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        let se = 1.0 / (n as f64).sqrt();
        assert!(mean.abs() < 5.0 * se, "mean {mean}");
        // Var of the sample variance of N(0,1) is 2/n.
        assert!((var - 1.0).abs() < 5.0 * (2.0f64).sqrt() * se, "variance {var}");
        let d = ks_statistic(&mut xs, standard_normal_cdf);
        assert!(d < 1.95 * se, "KS statistic {d} against N(0,1)");
    }

    #[test]
    fn normal_pairs_are_uncorrelated() {
        let n = 50_000u64;
        let draws: Vec<[f32; 4]> = (0..n).map(|i| normal4(5, 0, i)).collect();
        let corr = |a: usize, b: usize| draws.iter().map(|d| f64::from(d[a]) * f64::from(d[b])).sum::<f64>() / n as f64;
        for (a, b) in [(0, 1), (0, 2), (1, 3), (2, 3)] {
            assert!(corr(a, b).abs() < 5.0 / (n as f64).sqrt(), "corr({a},{b}) = {}", corr(a, b));
        }
    }

    #[test]
    fn stream_draws_are_deterministic_and_standard() {
        let mut a = RngStream::new(3, 4);
        let mut b = RngStream::new(3, 4);
        let xs: Vec<f64> = (0..1000).map(|_| a.normal()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.normal()).collect();
        assert_eq!(xs, ys);
        let mut s = RngStream::new(9, 0);
        let mut normals: Vec<f64> = (0..50_000).map(|_| s.normal()).collect();
        let d = ks_statistic(&mut normals, standard_normal_cdf);
        assert!(d < 1.95 / (50_000f64).sqrt(), "KS {d}");
        let mut uniforms: Vec<f64> = (0..50_000).map(|_| s.uniform()).collect();
        assert!(uniforms.iter().all(|u| (0.0..1.0).contains(u)));
        let d = ks_statistic(&mut uniforms, |x| x);
        assert!(d < 1.95 / (50_000f64).sqrt(), "KS {d}");
    }

    #[test]
    fn a_shifted_uniform_fails_the_ks_check() {
        // The KS check above must be able to fail: a biased sample is rejected.
        let n = 100_000u64;
        let mut xs: Vec<f64> = (0..n / 4).flat_map(|i| uniform4(42, 1, i)).map(|u| f64::from(u) * 0.99).collect();
        let d = ks_statistic(&mut xs, |x| x.clamp(0.0, 1.0));
        assert!(d > 1.95 / (n as f64).sqrt(), "KS statistic {d} should reject a biased sample");
    }
}
