//! The exact tabular analysis: each update rule's fixed point on the grid's data, with V a
//! table (49 numbers) and the target network equal to V (its fixed point), and the facts that
//! characterise it (LABS.md):
//! - semi-gradient: for every state in the data, the mean of w*(δ) over its transitions is
//!   (1 − λ)/λ (an action-level normalisation);
//! - true gradient: the Bellman-flow constraint Σ_out w* − γ Σ_in (1 − d) w* = ((1 − λ)/λ) n(s)
//!   (L is convex in a table, so Newton's method finds the unique minimiser);
//! - orthogonal: g_V + g_f + g_b⊥ = 0, which differs from both.

use nalgebra::{DMatrix, DVector};

use super::grid::{self, Transition, STATES};
use super::objective::{f_star, f_star_second, orthogonal_combination, policy_weight, w_star, UpdateRule};

/// The orthogonal rule's step, as a share of the semi-gradient's preconditioned step.
pub const ORTHOGONAL_DAMPING: f64 = 0.1;

/// The data and the objective's constants.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    pub data: &'a [Transition],
    pub lambda: f64,
    pub eta: f64,
    pub gamma: f64,
}

/// g_V, g_f and g_b at V with the target V̄ (η folded into g_b).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    pub g_v: Vec<f64>,
    pub g_f: Vec<f64>,
    pub g_b: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

impl Problem<'_> {
    fn residual(&self, t: &Transition, next: &[f64], here: &[f64]) -> f64 {
        t.r + self.gamma * if t.done { 0.0 } else { next[t.next] } - here[t.s]
    }

    /// L(V) = (1 − λ) E[V(s)] + λ E[f*(δ)].
    pub fn loss(&self, v: &[f64]) -> f64 {
        let n = self.data.len() as f64;
        self.data
            .iter()
            .map(|t| (1.0 - self.lambda) * v[t.s] + self.lambda * f_star(self.residual(t, v, v)))
            .sum::<f64>()
            / n
    }

    pub fn gradients(&self, v: &[f64], target: &[f64]) -> Gradients {
        let n = self.data.len() as f64;
        let (mut g_v, mut g_f, mut g_b) = (vec![0.0; STATES], vec![0.0; STATES], vec![0.0; STATES]);
        for t in self.data {
            g_v[t.s] += (1.0 - self.lambda) / n;
            g_f[t.s] -= self.lambda * w_star(self.residual(t, target, v)) / n;
            if !t.done {
                g_b[t.next] += self.lambda * self.eta * self.gamma * w_star(self.residual(t, v, target)) / n;
            }
        }
        Gradients { g_v, g_f, g_b }
    }

    /// The update `rule`'s direction at V with the target V̄.
    pub fn direction(&self, rule: UpdateRule, v: &[f64], target: &[f64]) -> Vec<f64> {
        let g = self.gradients(v, target);
        let dual = match rule {
            UpdateRule::Semi => g.g_f.clone(),
            UpdateRule::True => {
                // The gradient of L: both halves at V itself, η = 1.
                let at_v = Problem { eta: 1.0, ..*self }.gradients(v, v);
                at_v.g_f.iter().zip(&at_v.g_b).map(|(a, b)| a + b).collect()
            }
            UpdateRule::Orthogonal => orthogonal_combination(&g.g_f, &g.g_b),
        };
        g.g_v.iter().zip(&dual).map(|(a, b)| a + b).collect()
    }
}

/// A rule's fixed point and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularSolve {
    pub rule: UpdateRule,
    pub v: Vec<f64>,
    pub iterations: usize,
    /// The largest |direction| per state, scaled by N / (λ n(s)), at the end.
    pub stationarity: f64,
}

/// The facts LABS.md states at a V (the target equal to V).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// max_s |mean_out w* − (1 − λ)/λ| (zero at the semi-gradient's fixed point).
    pub max_norm_residual: f64,
    /// max_s |Σ_out w* − γ Σ_in (1 − d) w* − ((1 − λ)/λ) n(s)| (zero at the true optimum).
    pub max_flow_residual: f64,
    pub norm_forward: f64,
    pub norm_backward: f64,
    pub cos_fb: f64,
    /// |⟨g_o, g_f⟩ − |g_f|²| relative to |g_f|²: the orthogonal identity.
    pub orth_identity_err: f64,
    pub v_min: f64,
    pub v_max: f64,
}

impl Problem<'_> {
    fn scaled_stationarity(&self, direction: &[f64], visits: &[usize; STATES]) -> f64 {
        let n = self.data.len() as f64;
        (0..STATES)
            .filter(|s| visits[*s] > 0)
            .map(|s| (direction[s] * n / (self.lambda * visits[s] as f64)).abs())
            .fold(0.0, f64::max)
    }

    /// The fixed point of `rule` with the target equal to V: a per-state preconditioned
    /// iteration (step 2N/(λ n(s)), the inverse of the semi-gradient's own curvature) for the
    /// semi and orthogonal rules, Newton's method with backtracking for the true gradient.
    pub fn solve(&self, rule: UpdateRule, tol: f64, max_iterations: usize) -> TabularSolve {
        let visits = grid::visits(self.data);
        if rule == UpdateRule::True {
            return self.newton(tol, max_iterations);
        }
        let n = self.data.len() as f64;
        // The orthogonal direction couples every state through its projection coefficient;
        // a full preconditioned step oscillates there, a tenth converges.
        let damping = if rule == UpdateRule::Orthogonal { ORTHOGONAL_DAMPING } else { 1.0 };
        let mut v = vec![0.0; STATES];
        let mut iterations = 0;
        let mut stationarity = f64::INFINITY;
        while iterations < max_iterations {
            let d = self.direction(rule, &v, &v);
            stationarity = self.scaled_stationarity(&d, &visits);
            if stationarity < tol || !stationarity.is_finite() {
                break;
            }
            for s in 0..STATES {
                if visits[s] > 0 {
                    v[s] -= damping * d[s] * n / (self.lambda * visits[s] as f64);
                }
            }
            iterations += 1;
        }
        TabularSolve { rule, v, iterations, stationarity }
    }

    /// Newton's method on the convex L over the visited states.
    pub fn newton(&self, tol: f64, max_iterations: usize) -> TabularSolve {
        let visits = grid::visits(self.data);
        let free: Vec<usize> = (0..STATES).filter(|s| visits[*s] > 0).collect();
        let mut slot = [usize::MAX; STATES];
        for (k, s) in free.iter().enumerate() {
            slot[*s] = k;
        }
        let m = free.len();
        let n = self.data.len() as f64;
        let mut v = vec![0.0; STATES];
        let mut iterations = 0;
        let mut stationarity = f64::INFINITY;
        while iterations < max_iterations {
            let g = self.direction(UpdateRule::True, &v, &v);
            stationarity = self.scaled_stationarity(&g, &visits);
            if stationarity < tol {
                break;
            }
            let mut h = DMatrix::<f64>::zeros(m, m);
            for t in self.data {
                let c = self.lambda * f_star_second(self.residual(t, &v, &v)) / n;
                let i = slot[t.s];
                h[(i, i)] += c;
                if !t.done {
                    let j = slot[t.next];
                    h[(j, j)] += c * self.gamma * self.gamma;
                    h[(i, j)] -= c * self.gamma;
                    h[(j, i)] -= c * self.gamma;
                }
            }
            for i in 0..m {
                h[(i, i)] += 1e-14;
            }
            let rhs = DVector::<f64>::from_iterator(m, free.iter().map(|s| -g[*s]));
            let Some(step) = h.lu().solve(&rhs) else { break };
            // Backtracking on L: the kink of w* at δ = −2 can make a full step overshoot.
            let before = self.loss(&v);
            let mut scale = 1.0;
            loop {
                let mut trial = v.clone();
                for (k, s) in free.iter().enumerate() {
                    trial[*s] += scale * step[k];
                }
                if self.loss(&trial) <= before + 1e-15 * before.abs() || scale < 1e-8 {
                    v = trial;
                    break;
                }
                scale *= 0.5;
            }
            iterations += 1;
        }
        TabularSolve { rule: UpdateRule::True, v, iterations, stationarity }
    }

    pub fn facts(&self, v: &[f64]) -> Facts {
        let visits = grid::visits(self.data);
        let ratio = (1.0 - self.lambda) / self.lambda;
        let (mut out, mut inflow) = ([0.0; STATES], [0.0; STATES]);
        for t in self.data {
            let w = w_star(self.residual(t, v, v));
            out[t.s] += w;
            if !t.done {
                inflow[t.next] += self.gamma * w;
            }
        }
        let visited = (0..STATES).filter(|s| visits[*s] > 0);
        let max_norm_residual = visited.clone().map(|s| (out[s] / visits[s] as f64 - ratio).abs()).fold(0.0, f64::max);
        let max_flow_residual =
            visited.clone().map(|s| (out[s] - inflow[s] - ratio * visits[s] as f64).abs()).fold(0.0, f64::max);
        let g = self.gradients(v, v);
        let o = orthogonal_combination(&g.g_f, &g.g_b);
        let ff = dot(&g.g_f, &g.g_f);
        let values: Vec<f64> = visited.map(|s| v[s]).collect();
        Facts {
            max_norm_residual,
            max_flow_residual,
            norm_forward: norm(&g.g_f),
            norm_backward: norm(&g.g_b),
            cos_fb: dot(&g.g_f, &g.g_b) / (norm(&g.g_f) * norm(&g.g_b)).max(1e-300),
            orth_identity_err: (dot(&o, &g.g_f) - ff).abs() / ff.max(1e-300),
            v_min: values.iter().copied().fold(f64::INFINITY, f64::min),
            v_max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// The policy weighted behaviour cloning extracts in a table: in each visited state the
    /// data's action with the largest summed weight min(max(δ, 0), 100); where every weight
    /// is zero, weighted cloning is plain cloning, and the data's most frequent action wins.
    pub fn greedy_policy(&self, v: &[f64]) -> Vec<Option<usize>> {
        let mut weight = vec![[0.0f64; grid::ACTIONS]; STATES];
        let mut count = vec![[0usize; grid::ACTIONS]; STATES];
        for t in self.data {
            weight[t.s][t.a] += policy_weight(self.residual(t, v, v));
            count[t.s][t.a] += 1;
        }
        (0..STATES)
            .map(|s| {
                let seen = (0..grid::ACTIONS).filter(|a| count[s][*a] > 0);
                if weight[s].iter().all(|w| *w == 0.0) {
                    seen.max_by(|a, b| count[s][*a].cmp(&count[s][*b]).then(b.cmp(a)))
                } else {
                    seen.max_by(|a, b| weight[s][*a].total_cmp(&weight[s][*b]).then(b.cmp(a)))
                }
            })
            .collect()
    }
}

/// The share of the four start cells from which `policy` reaches the goal within 40 steps.
pub fn success(policy: &[Option<usize>]) -> f64 {
    let starts = [grid::index(0, 0), grid::index(1, 0), grid::index(0, 1), grid::index(1, 1)];
    let reached = starts
        .iter()
        .filter(|start| {
            let mut s = **start;
            for _ in 0..grid::MAX_STEPS {
                let Some(a) = policy[s] else { return false };
                s = grid::step(s, a);
                if s == grid::goal() {
                    return true;
                }
            }
            false
        })
        .count();
    reached as f64 / starts.len() as f64
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn problem(data: &[Transition]) -> Problem<'_> {
        Problem { data, lambda: 0.6, eta: 1.0, gamma: grid::GAMMA }
    }

    /// The semi-gradient's fixed point is the action-level normalisation: the mean of w* over
    /// each state's transitions is (1 − λ)/λ.
    #[test]
    fn the_semi_gradient_normalises_each_state() {
        let data = grid::behaviour_data(0);
        let p = problem(&data);
        let semi = p.solve(UpdateRule::Semi, 1e-12, 100_000);
        assert!(semi.stationarity < 1e-12, "{} after {}", semi.stationarity, semi.iterations);
        let facts = p.facts(&semi.v);
        assert!(facts.max_norm_residual < 1e-10, "{facts:?}");
        assert!(facts.max_flow_residual > 1e-3, "the flow constraint does not hold here: {facts:?}");
    }

    /// The true gradient's optimum satisfies the Bellman-flow constraint; Newton's method and
    /// plain gradient descent (the rule's own update) agree on it.
    #[test]
    fn the_true_gradient_meets_the_bellman_flow_constraint() {
        let data = grid::behaviour_data(0);
        let p = problem(&data);
        let newton = p.newton(1e-12, 200);
        assert!(newton.stationarity < 1e-12, "{} after {}", newton.stationarity, newton.iterations);
        let facts = p.facts(&newton.v);
        assert!(facts.max_flow_residual < 1e-9, "{facts:?}");
        assert!(facts.max_norm_residual > 1e-3, "the normalisation does not hold here: {facts:?}");
        // Gradient descent on L from 0 heads to the same point (it is slow: compare loosely).
        let mut v = vec![0.0; STATES];
        let visits = grid::visits(&data);
        let n = data.len() as f64;
        for _ in 0..20_000 {
            let g = p.direction(UpdateRule::True, &v, &v);
            for s in 0..STATES {
                if visits[s] > 0 {
                    v[s] -= 0.5 * g[s] * n / (p.lambda * visits[s] as f64);
                }
            }
        }
        assert!(p.loss(&v) - p.loss(&newton.v) < 1e-6, "GD {} against Newton {}", p.loss(&v), p.loss(&newton.v));
        assert!(p.loss(&newton.v) <= p.loss(&v) + 1e-15);
    }

    /// The orthogonal rule's fixed point keeps the identity ⟨g_o, g_f⟩ = |g_f|² and is neither
    /// the semi-gradient's normalisation nor the flow constraint.
    #[test]
    fn the_orthogonal_fixed_point_differs_from_both() {
        let data = grid::behaviour_data(0);
        let p = problem(&data);
        let orth = p.solve(UpdateRule::Orthogonal, 1e-10, 200_000);
        let facts = p.facts(&orth.v);
        println!("orthogonal: {} iterations, stationarity {}, {facts:?}", orth.iterations, orth.stationarity);
        assert!(facts.orth_identity_err < 1e-12, "{facts:?}");
        assert!(orth.stationarity < 1e-8, "{} after {}", orth.stationarity, orth.iterations);
        assert!(facts.max_norm_residual > 1e-4 && facts.max_flow_residual > 1e-4, "{facts:?}");
    }
}
