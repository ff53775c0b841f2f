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
    fn fill_node_normals(&self, seed: u64, node: u64, out: &mut [f64]) {
        for (chunk, part) in out.chunks_mut(4).enumerate() {
            let draws = normal4(seed, self.particle, (node << 8) | chunk as u64);
            for (o, v) in part.iter_mut().zip(draws) {
                *o = f64::from(v);
            }
        }
    }

    /// W(t) - W(t0) (t is clamped into [t0, t1]).
    pub fn value(&self, t: f64) -> Vec<f64> {
        Walk::new(self).value(t)
    }

    /// W(t) - W(t0) at each of `times`, equal to [`value`](Self::value) bit for bit. Queries
    /// in increasing order share the tree's upper levels (a grid's neighbours part ways only
    /// near the leaves), so a grid costs far fewer bridge draws than its queries one by one.
    pub fn values(&self, times: &[f64]) -> Vec<Vec<f64>> {
        let mut walk = Walk::new(self);
        times.iter().map(|&t| walk.value(t)).collect()
    }

    /// W(u) - W(s).
    pub fn increment(&self, s: f64, u: f64) -> Vec<f64> {
        let ends = self.values(&[s, u]);
        ends[1].iter().zip(&ends[0]).map(|(b, a)| b - a).collect()
    }
}

/// Most bisections of one query: (node << 8) never loses bits, 2^-54 of the span.
const MAX_DEPTH: usize = 54;

/// A descent through the tree that keeps its levels, so that the next query reuses the levels
/// it shares with the last one. Level k holds its interval [s, u], heap node, the path at both
/// ends and (once drawn) at the midpoint, in flat buffers (three runs of `dim` values per
/// level). Every level is computed by the same arithmetic whichever query reaches it first,
/// so a value does not depend on the queries before it.
struct Walk<'a> {
    tree: &'a VirtualBrownianTree,
    s: Vec<f64>,
    u: Vec<f64>,
    node: Vec<u64>,
    drawn: Vec<bool>,
    /// Level k: w_s at [3k dim, (3k + 1) dim), w_u next, then w_m.
    w: Vec<f64>,
    z: Vec<f64>,
}

impl<'a> Walk<'a> {
    fn new(tree: &'a VirtualBrownianTree) -> Self {
        let dim = tree.dim;
        let total = tree.t1 - tree.t0;
        let mut w = vec![0.0; 3 * dim];
        tree.fill_node_normals(tree.seed, 0, &mut w[dim..2 * dim]);
        w[dim..2 * dim].iter_mut().for_each(|v| *v *= total.sqrt());
        Walk { tree, s: vec![tree.t0], u: vec![tree.t1], node: vec![1], drawn: vec![false], w, z: vec![0.0; dim] }
    }

    fn value(&mut self, t: f64) -> Vec<f64> {
        let tree = self.tree;
        let dim = tree.dim;
        let t = t.clamp(tree.t0, tree.t1);
        if t == tree.t0 {
            return vec![0.0; dim];
        }
        if t == tree.t1 {
            return self.w[dim..2 * dim].to_vec();
        }
        let mut k = 0;
        while k < MAX_DEPTH {
            let (s, u) = (self.s[k], self.u[k]);
            if u - s <= tree.tolerance {
                break;
            }
            let m = 0.5 * (s + u);
            let base = 3 * k * dim;
            if !self.drawn[k] {
                // Bridge midpoint: mean of the ends, variance (u - s) / 4.
                tree.fill_node_normals(tree.seed, self.node[k], &mut self.z);
                for d in 0..dim {
                    self.w[base + 2 * dim + d] =
                        0.5 * (self.w[base + d] + self.w[base + dim + d]) + 0.5 * (u - s).sqrt() * self.z[d];
                }
                self.drawn[k] = true;
            }
            if t == m {
                return self.w[base + 2 * dim..base + 3 * dim].to_vec();
            }
            let left = t < m;
            let node = if left { 2 * self.node[k] } else { 2 * self.node[k] + 1 };
            if self.node.get(k + 1) != Some(&node) {
                self.s.truncate(k + 1);
                self.u.truncate(k + 1);
                self.node.truncate(k + 1);
                self.drawn.truncate(k + 1);
                self.w.truncate(3 * (k + 1) * dim);
                let (child_s, child_u) = if left { (s, m) } else { (m, u) };
                self.s.push(child_s);
                self.u.push(child_u);
                self.node.push(node);
                self.drawn.push(false);
                // The child's ends: (w_s, w_m) on the left, (w_m, w_u) on the right.
                let (first, second) = if left { (base, base + 2 * dim) } else { (base + 2 * dim, base + dim) };
                self.w.extend_from_within(first..first + dim);
                self.w.extend_from_within(second..second + dim);
                self.w.resize(3 * (k + 2) * dim, 0.0);
            }
            k += 1;
        }
        // Inside a leaf: one bridge draw at t itself, keyed by the leaf and the bits of t.
        let (s, u, base) = (self.s[k], self.u[k], 3 * k * dim);
        let leaf_seed = tree.seed ^ t.to_bits().rotate_left(29) ^ 0x5bd1_e995;
        tree.fill_node_normals(leaf_seed, self.node[k], &mut self.z);
        let (a, b) = (t - s, u - t);
        let (w_s, w_u) = (&self.w[base..base + dim], &self.w[base + dim..base + 2 * dim]);
        (0..dim).map(|d| w_s[d] + a / (a + b) * (w_u[d] - w_s[d]) + (a * b / (a + b)).sqrt() * self.z[d]).collect()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The descent of one query with nothing kept (the tree as first written): the reference
    /// the shared walk must equal bit for bit.
    fn value_by_descent(tree: &VirtualBrownianTree, t: f64) -> Vec<f64> {
        let normals = |seed: u64, node: u64| {
            let mut out = vec![0.0; tree.dim];
            tree.fill_node_normals(seed, node, &mut out);
            out
        };
        let t = t.clamp(tree.t0, tree.t1);
        let total = tree.t1 - tree.t0;
        let (mut s, mut u) = (tree.t0, tree.t1);
        let mut w_s = vec![0.0; tree.dim];
        let mut w_u: Vec<f64> = normals(tree.seed, 0).iter().map(|z| z * total.sqrt()).collect();
        if t == tree.t0 {
            return w_s;
        }
        if t == tree.t1 {
            return w_u;
        }
        let mut node = 1u64;
        for _ in 0..MAX_DEPTH {
            if u - s <= tree.tolerance {
                break;
            }
            let m = 0.5 * (s + u);
            let z = normals(tree.seed, node);
            let w_m: Vec<f64> = (0..tree.dim).map(|d| 0.5 * (w_s[d] + w_u[d]) + 0.5 * (u - s).sqrt() * z[d]).collect();
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
        let leaf_seed = tree.seed ^ t.to_bits().rotate_left(29) ^ 0x5bd1_e995;
        let z = normals(leaf_seed, node);
        let (a, b) = (t - s, u - t);
        (0..tree.dim).map(|d| w_s[d] + a / (a + b) * (w_u[d] - w_s[d]) + (a * b / (a + b)).sqrt() * z[d]).collect()
    }

    /// The shared walk equals one descent per query, bit for bit: on a grid in order, in
    /// reverse, shuffled with repeats, at the ends, at dyadic midpoints and at a tiny scale
    /// (leaves).
    #[test]
    fn a_shared_walk_equals_one_descent_per_query() {
        for (seed, t0, t1, dim) in [(1u64, 0.0, 2.0, 2usize), (9, -1.0, 0.5, 3), (4, 0.0, 1e-8, 1)] {
            let tree = VirtualBrownianTree::new(seed, 3, t0, t1, dim);
            let span = t1 - t0;
            let mut times: Vec<f64> = (0..=117).map(|k| t0 + span * k as f64 / 117.0).collect();
            times.extend([t0 + 0.5 * span, t0 + 0.25 * span, t1, t0, t0 + 0.3 * span, t0 + 0.3 * span]);
            times.extend((0..40).map(|k| t0 + span * ((k * 37 % 41) as f64 / 41.0)));
            let walked = tree.values(&times);
            for (t, w) in times.iter().zip(&walked) {
                assert_eq!(*w, value_by_descent(&tree, *t), "t = {t}");
            }
            let reversed: Vec<f64> = times.iter().rev().copied().collect();
            assert_eq!(tree.values(&reversed), walked.into_iter().rev().collect::<Vec<_>>());
        }
    }

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
