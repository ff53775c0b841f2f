//! A virtual Brownian tree (Gaines & Lyons; diffrax's VirtualBrownianTree): W(t) on [t0, t1]
//! for one particle, computed on demand by bisection with Brownian-bridge draws keyed by
//! (seed, particle, node). No path is stored, yet every query of one path agrees, whatever
//! the order or grid of the queries, so solvers with different step counts share one path.

use crate::core::rng::normal4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VirtualBrownianTree {
    pub seed: u64,
    pub particle: u64,
    pub t0: f64,
    pub t1: f64,
    pub dim: usize,
    /// Bisect until the interval is below this; then one exact bridge draw at t.
    pub tolerance: f64,
}

impl VirtualBrownianTree {
    pub fn new(seed: u64, particle: u64, t0: f64, t1: f64, dim: usize) -> Self {
        assert!(t1 > t0, "a Brownian path needs t1 > t0");
        assert!((1..=1024).contains(&dim), "dimension 1 to 1024");
        VirtualBrownianTree { seed, particle, t0, t1, dim, tolerance: (t1 - t0) * 1e-9 }
    }

    /// dim standard normals for one tree node (heap numbering: root interval 1, children 2k
    /// and 2k+1; node 0 is the endpoint W(t1)). Each counter gives 4 normals and a node owns
    /// 256 counters (so up to 1024 dimensions).
    fn node_normals(&self, seed: u64, node: u64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.dim);
        let mut chunk = 0u64;
        while out.len() < self.dim {
            let draws = normal4(seed, self.particle, (node << 8) | chunk);
            out.extend(draws.iter().take(self.dim - out.len()).map(|v| f64::from(*v)));
            chunk += 1;
        }
        out
    }

    /// W(t) - W(t0) (t is clamped into [t0, t1]).
    pub fn value(&self, t: f64) -> Vec<f64> {
        let t = t.clamp(self.t0, self.t1);
        let total = self.t1 - self.t0;
        let (mut s, mut u) = (self.t0, self.t1);
        let mut w_s = vec![0.0; self.dim];
        let mut w_u: Vec<f64> = self.node_normals(self.seed, 0).iter().map(|z| z * total.sqrt()).collect();
        if t == self.t0 {
            return w_s;
        }
        if t == self.t1 {
            return w_u;
        }
        let mut node = 1u64;
        // Depth is bounded so that (node << 8) never loses bits: 2^-54 of the span.
        for _ in 0..54 {
            if u - s <= self.tolerance {
                break;
            }
            let m = 0.5 * (s + u);
            // Bridge midpoint: mean of the ends, variance (u - s) / 4.
            let z = self.node_normals(self.seed, node);
            let w_m: Vec<f64> = (0..self.dim).map(|d| 0.5 * (w_s[d] + w_u[d]) + 0.5 * (u - s).sqrt() * z[d]).collect();
            if t == m {
                return w_m;
            }
            if t < m {
                node *= 2;
                u = m;
                w_u = w_m;
            } else {
                node = 2 * node + 1;
                s = m;
                w_s = w_m;
            }
        }
        // Inside a leaf: one bridge draw at t itself, keyed by the leaf and the bits of t.
        let leaf_seed = self.seed ^ t.to_bits().rotate_left(29) ^ 0x5bd1_e995;
        let z = self.node_normals(leaf_seed, node);
        let (a, b) = (t - s, u - t);
        (0..self.dim).map(|d| w_s[d] + a / (a + b) * (w_u[d] - w_s[d]) + (a * b / (a + b)).sqrt() * z[d]).collect()
    }

    /// W(u) - W(s).
    pub fn increment(&self, s: f64, u: f64) -> Vec<f64> {
        let (a, b) = (self.value(s), self.value(u));
        b.iter().zip(&a).map(|(b, a)| b - a).collect()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn queries_agree_whatever_their_order() {
        let tree = VirtualBrownianTree::new(3, 7, 0.0, 1.0, 3);
        let times = [0.3, 0.71, 0.05, 0.999, 0.5, 0.3];
        let first: Vec<Vec<f64>> = times.iter().map(|t| tree.value(*t)).collect();
        let again: Vec<Vec<f64>> = times.iter().rev().map(|t| tree.value(*t)).collect();
        for (a, b) in first.iter().zip(again.iter().rev()) {
            assert_eq!(a, b);
        }
        assert_eq!(tree.value(0.0), vec![0.0; 3]);
        // Different particles and seeds give different paths.
        assert_ne!(tree.value(0.5), VirtualBrownianTree::new(3, 8, 0.0, 1.0, 3).value(0.5));
    }

    /// Increments over a grid are independent N(0, h): check mean, variance and the
    /// covariance of neighbours, across many particles.
    #[test]
    fn increments_have_the_right_variance_and_are_independent() {
        let (particles, steps) = (2000u64, 7usize);
        let h = 1.0 / steps as f64;
        let mut sums = vec![(0.0, 0.0); steps];
        let mut neighbour = 0.0;
        for p in 0..particles {
            let tree = VirtualBrownianTree::new(11, p, 0.0, 1.0, 1);
            let incs: Vec<f64> = (0..steps).map(|i| tree.increment(i as f64 * h, (i + 1) as f64 * h)[0]).collect();
            for (i, dw) in incs.iter().enumerate() {
                sums[i].0 += dw;
                sums[i].1 += dw * dw;
            }
            neighbour += incs[2] * incs[3];
        }
        let n = particles as f64;
        for (mean, sq) in sums {
            let (mean, var) = (mean / n, sq / n);
            assert!(mean.abs() < 5.0 * (h / n).sqrt(), "mean {mean}");
            assert!((var / h - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var} vs {h}");
        }
        assert!((neighbour / n).abs() < 5.0 * h / n.sqrt(), "neighbouring increments correlate");
    }

    /// Coarse increments are sums of fine ones: solvers with different step counts see one path.
    #[test]
    fn coarse_and_fine_grids_share_one_path() {
        let tree = VirtualBrownianTree::new(5, 1, 0.0, 2.0, 2);
        let fine: Vec<f64> = (0..10).map(|i| tree.increment(0.2 * i as f64, 0.2 * (i + 1) as f64)[1]).collect();
        let coarse = tree.increment(0.0, 2.0)[1];
        assert!((fine.iter().sum::<f64>() - coarse).abs() < 1e-12);
    }
}
