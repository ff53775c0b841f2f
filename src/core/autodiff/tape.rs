//! A small reverse-mode tape over f64 vectors, for the labs' composed models (encoders,
//! vector fields times path derivatives, value and policy networks, equilibrium layers),
//! where writing each backward pass by hand costs more than recording the forward one.
//!
//! Every node holds a flat vector; matrices are row-major vectors with their shape given to
//! the op that reads them. Ops push a node whose value is computed at once; `backward` walks
//! the nodes in reverse and gives each its cotangent. Dense networks enter as one op that
//! calls their hand-written VJP ([`Dense::vjp_taped`]), so the hot path keeps its speed.
//!
//! This is not a framework: no graph optimisation, no broadcasting beyond a length-1 scale,
//! one tape per evaluation. Each op's backward is tested against central differences.

use crate::core::nn::dense::{Dense, DenseTape};
use crate::core::nn::dense_activation::DenseActivation;

/// A node of the tape (its index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var(usize);

#[derive(Debug, Clone)]
enum Op {
    /// A value whose gradient is wanted (parameters, inputs).
    Leaf,
    /// A value held fixed.
    Constant,
    Add(Var, Var),
    Sub(Var, Var),
    Mul(Var, Var),
    Div(Var, Var),
    /// Every element times a length-1 node.
    Scale(Var, Var),
    /// Every element times a fixed number.
    ScaleBy(Var, f64),
    /// Every element plus a fixed number (the number is not needed backwards).
    Shift(Var),
    Activation(Var, DenseActivation),
    Exp(Var),
    Log(Var),
    /// Clamped into [lo, hi]; the gradient passes only where the value was inside.
    Clamp(Var, f64, f64),
    /// Elementwise maximum; ties send the gradient to the left.
    Max(Var, Var),
    Sum(Var),
    /// Inner product of two vectors of one length.
    Dot(Var, Var),
    /// W x with W rows x (len x) row-major.
    MatVec {
        w: Var,
        x: Var,
        rows: usize,
    },
    /// a b^T as a row-major len(a) x len(b) vector.
    Outer(Var, Var),
    Concat(Vec<Var>),
    Slice {
        of: Var,
        start: usize,
    },
    /// A dense network's output at input x with flat parameters p.
    Dense {
        net: Box<Dense>,
        params: Var,
        x: Var,
        tape: Box<DenseTape<f64>>,
    },
}

#[derive(Debug, Clone)]
struct Node {
    op: Op,
    value: Vec<f64>,
}

/// The recorded computation.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    nodes: Vec<Node>,
}

/// Cotangents of every node after [`Tape::backward`].
#[derive(Debug, Clone)]
pub struct Cotangents {
    of: Vec<Vec<f64>>,
}

impl Cotangents {
    /// d output / d `var` (zeros when the output does not depend on it).
    pub fn of(&self, var: Var) -> &[f64] {
        &self.of[var.0]
    }
}

impl Tape {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn value(&self, var: Var) -> &[f64] {
        &self.nodes[var.0].value
    }

    /// The value of a length-1 node.
    pub fn scalar(&self, var: Var) -> f64 {
        let v = self.value(var);
        assert_eq!(v.len(), 1, "tape: node {} holds {} values, not one", var.0, v.len());
        v[0]
    }

    fn push(&mut self, op: Op, value: Vec<f64>) -> Var {
        self.nodes.push(Node { op, value });
        Var(self.nodes.len() - 1)
    }

    fn same_len(&self, a: Var, b: Var, what: &str) -> usize {
        let (la, lb) = (self.value(a).len(), self.value(b).len());
        assert_eq!(la, lb, "tape: {what} of lengths {la} and {lb}");
        la
    }

    fn zip(&self, a: Var, b: Var, what: &str, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        self.same_len(a, b, what);
        self.value(a).iter().zip(self.value(b)).map(|(&x, &y)| f(x, y)).collect()
    }

    fn map(&self, a: Var, f: impl Fn(f64) -> f64) -> Vec<f64> {
        self.value(a).iter().map(|&x| f(x)).collect()
    }

    pub fn leaf(&mut self, value: Vec<f64>) -> Var {
        self.push(Op::Leaf, value)
    }

    pub fn constant(&mut self, value: Vec<f64>) -> Var {
        self.push(Op::Constant, value)
    }

    pub fn add(&mut self, a: Var, b: Var) -> Var {
        let v = self.zip(a, b, "add", |x, y| x + y);
        self.push(Op::Add(a, b), v)
    }

    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        let v = self.zip(a, b, "sub", |x, y| x - y);
        self.push(Op::Sub(a, b), v)
    }

    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        let v = self.zip(a, b, "mul", |x, y| x * y);
        self.push(Op::Mul(a, b), v)
    }

    pub fn div(&mut self, a: Var, b: Var) -> Var {
        let v = self.zip(a, b, "div", |x, y| x / y);
        self.push(Op::Div(a, b), v)
    }

    pub fn scale(&mut self, a: Var, s: Var) -> Var {
        let k = self.scalar(s);
        let v = self.map(a, |x| x * k);
        self.push(Op::Scale(a, s), v)
    }

    pub fn scale_by(&mut self, a: Var, k: f64) -> Var {
        let v = self.map(a, |x| x * k);
        self.push(Op::ScaleBy(a, k), v)
    }

    pub fn shift(&mut self, a: Var, k: f64) -> Var {
        let v = self.map(a, |x| x + k);
        self.push(Op::Shift(a), v)
    }

    pub fn activation(&mut self, a: Var, kind: DenseActivation) -> Var {
        let v = self.map(a, |x| kind.apply(x));
        self.push(Op::Activation(a, kind), v)
    }

    pub fn exp(&mut self, a: Var) -> Var {
        let v = self.map(a, f64::exp);
        self.push(Op::Exp(a), v)
    }

    pub fn log(&mut self, a: Var) -> Var {
        let v = self.map(a, f64::ln);
        self.push(Op::Log(a), v)
    }

    pub fn clamp(&mut self, a: Var, lo: f64, hi: f64) -> Var {
        assert!(lo <= hi, "tape: clamp into [{lo}, {hi}]");
        let v = self.map(a, |x| x.clamp(lo, hi));
        self.push(Op::Clamp(a, lo, hi), v)
    }

    pub fn max(&mut self, a: Var, b: Var) -> Var {
        let v = self.zip(a, b, "max", |x, y| if x >= y { x } else { y });
        self.push(Op::Max(a, b), v)
    }

    pub fn sum(&mut self, a: Var) -> Var {
        let v = vec![self.value(a).iter().sum()];
        self.push(Op::Sum(a), v)
    }

    pub fn dot(&mut self, a: Var, b: Var) -> Var {
        self.same_len(a, b, "dot");
        let v = vec![self.value(a).iter().zip(self.value(b)).map(|(x, y)| x * y).sum()];
        self.push(Op::Dot(a, b), v)
    }

    /// W x for W of `rows` rows (row-major, rows x len(x)).
    pub fn matvec(&mut self, w: Var, x: Var, rows: usize) -> Var {
        let cols = self.value(x).len();
        assert_eq!(
            self.value(w).len(),
            rows * cols,
            "tape: matvec of a {}-value matrix with {rows} rows and a {cols}-vector",
            self.value(w).len()
        );
        let (wv, xv) = (self.value(w), self.value(x));
        let v = (0..rows).map(|r| wv[r * cols..(r + 1) * cols].iter().zip(xv).map(|(a, b)| a * b).sum()).collect();
        self.push(Op::MatVec { w, x, rows }, v)
    }

    /// W x + b.
    pub fn affine(&mut self, w: Var, x: Var, b: Var) -> Var {
        let rows = self.value(b).len();
        let wx = self.matvec(w, x, rows);
        self.add(wx, b)
    }

    pub fn outer(&mut self, a: Var, b: Var) -> Var {
        let (av, bv) = (self.value(a), self.value(b));
        let v = av.iter().flat_map(|&x| bv.iter().map(move |&y| x * y)).collect();
        self.push(Op::Outer(a, b), v)
    }

    pub fn concat(&mut self, parts: &[Var]) -> Var {
        let v = parts.iter().flat_map(|&p| self.value(p).to_vec()).collect();
        self.push(Op::Concat(parts.to_vec()), v)
    }

    /// Values start..start + len of `of`.
    pub fn slice(&mut self, of: Var, start: usize, len: usize) -> Var {
        let n = self.value(of).len();
        assert!(start + len <= n, "tape: slice {start}..{} of {n} values", start + len);
        let v = self.value(of)[start..start + len].to_vec();
        self.push(Op::Slice { of, start }, v)
    }

    /// The network `net` with flat parameters `params` at input `x`.
    pub fn dense(&mut self, net: &Dense, params: Var, x: Var) -> Var {
        let mut tape = DenseTape::default();
        let out = net.forward_taped(self.value(params), self.value(x), &mut tape);
        self.push(Op::Dense { net: Box::new(net.clone()), params, x, tape: Box::new(tape) }, out)
    }

    /// Cotangents of every node for the output `output` seeded with `seed` (1 for a scalar
    /// loss: use [`Tape::gradient`]).
    pub fn backward_with(&self, output: Var, seed: &[f64]) -> Cotangents {
        assert_eq!(
            seed.len(),
            self.value(output).len(),
            "tape: seed of {} for a {}-value output",
            seed.len(),
            self.value(output).len()
        );
        let mut of: Vec<Vec<f64>> = self.nodes.iter().map(|n| vec![0.0; n.value.len()]).collect();
        of[output.0].copy_from_slice(seed);
        for i in (0..=output.0).rev() {
            let g = std::mem::take(&mut of[i]);
            if g.iter().all(|&x| x == 0.0) {
                of[i] = g;
                continue;
            }
            let node = &self.nodes[i];
            let val = |v: Var| &self.nodes[v.0].value;
            let mut add_to = |v: Var, f: &dyn Fn(usize) -> f64| {
                for (j, slot) in of[v.0].iter_mut().enumerate() {
                    *slot += f(j);
                }
            };
            match &node.op {
                Op::Leaf | Op::Constant => {}
                Op::Add(a, b) => {
                    add_to(*a, &|j| g[j]);
                    add_to(*b, &|j| g[j]);
                }
                Op::Sub(a, b) => {
                    add_to(*a, &|j| g[j]);
                    add_to(*b, &|j| -g[j]);
                }
                Op::Mul(a, b) => {
                    add_to(*a, &|j| g[j] * val(*b)[j]);
                    add_to(*b, &|j| g[j] * val(*a)[j]);
                }
                Op::Div(a, b) => {
                    add_to(*a, &|j| g[j] / val(*b)[j]);
                    add_to(*b, &|j| -g[j] * val(*a)[j] / (val(*b)[j] * val(*b)[j]));
                }
                Op::Scale(a, s) => {
                    let k = val(*s)[0];
                    add_to(*a, &|j| g[j] * k);
                    let d: f64 = g.iter().zip(val(*a)).map(|(x, y)| x * y).sum();
                    add_to(*s, &|_| d);
                }
                Op::ScaleBy(a, k) => add_to(*a, &|j| g[j] * k),
                Op::Shift(a) => add_to(*a, &|j| g[j]),
                Op::Activation(a, kind) => add_to(*a, &|j| g[j] * kind.derivative(val(*a)[j])),
                Op::Exp(a) => add_to(*a, &|j| g[j] * node.value[j]),
                Op::Log(a) => add_to(*a, &|j| g[j] / val(*a)[j]),
                Op::Clamp(a, lo, hi) => add_to(*a, &|j| {
                    let x = val(*a)[j];
                    if x >= *lo && x <= *hi {
                        g[j]
                    } else {
                        0.0
                    }
                }),
                Op::Max(a, b) => {
                    add_to(*a, &|j| if val(*a)[j] >= val(*b)[j] { g[j] } else { 0.0 });
                    add_to(*b, &|j| if val(*a)[j] >= val(*b)[j] { 0.0 } else { g[j] });
                }
                Op::Sum(a) => add_to(*a, &|_| g[0]),
                Op::Dot(a, b) => {
                    add_to(*a, &|j| g[0] * val(*b)[j]);
                    add_to(*b, &|j| g[0] * val(*a)[j]);
                }
                Op::MatVec { w, x, rows } => {
                    let cols = val(*x).len();
                    add_to(*w, &|j| g[j / cols] * val(*x)[j % cols]);
                    add_to(*x, &|j| (0..*rows).map(|r| g[r] * val(*w)[r * cols + j]).sum());
                }
                Op::Outer(a, b) => {
                    let nb = val(*b).len();
                    add_to(*a, &|j| (0..nb).map(|k| g[j * nb + k] * val(*b)[k]).sum());
                    let na = val(*a).len();
                    add_to(*b, &|k| (0..na).map(|j| g[j * nb + k] * val(*a)[j]).sum());
                }
                Op::Concat(parts) => {
                    let mut at = 0;
                    for p in parts {
                        let n = val(*p).len();
                        add_to(*p, &|j| g[at + j]);
                        at += n;
                    }
                }
                Op::Slice { of: from, start } => {
                    let n = g.len();
                    add_to(*from, &|j| if j >= *start && j < start + n { g[j - start] } else { 0.0 });
                }
                Op::Dense { net, params, x, tape } => {
                    let mut d_params = vec![0.0; net.param_count()];
                    let d_x = net.vjp_taped(val(*params), tape, &g, &mut d_params);
                    add_to(*params, &|j| d_params[j]);
                    add_to(*x, &|j| d_x[j]);
                }
            }
            of[i] = g;
        }
        Cotangents { of }
    }

    /// The gradient of a scalar output.
    pub fn gradient(&self, output: Var) -> Cotangents {
        self.backward_with(output, &[1.0])
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Builds a scalar from leaves of the given lengths through `f` (then a fixed weighted
    /// sum, so that every output element matters) and checks the tape's gradient in every
    /// leaf element against central differences.
    fn check(name: &str, lens: &[usize], f: &dyn Fn(&mut Tape, &[Var]) -> Var) {
        let leaves: Vec<Vec<f64>> = lens
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| 0.4 + 0.9 * (((i * 5 + k * 3) % 7) as f64 / 7.0) - 0.2 * k as f64).collect())
            .collect();
        let run = |leaves: &[Vec<f64>]| {
            let mut t = Tape::new();
            let vars: Vec<Var> = leaves.iter().map(|l| t.leaf(l.clone())).collect();
            let out = f(&mut t, &vars);
            let weights: Vec<f64> = (0..t.value(out).len()).map(|i| 1.0 + 0.37 * i as f64).collect();
            let w = t.constant(weights);
            let loss = t.dot(out, w);
            (t, vars, loss)
        };
        let (tape, vars, loss) = run(&leaves);
        let grads = tape.gradient(loss);
        let h = 1e-6;
        for (k, leaf) in leaves.iter().enumerate() {
            for i in 0..leaf.len() {
                let mut plus = leaves.clone();
                plus[k][i] += h;
                let mut minus = leaves.clone();
                minus[k][i] -= h;
                let (tp, _, lp) = run(&plus);
                let (tm, _, lm) = run(&minus);
                let fd = (tp.scalar(lp) - tm.scalar(lm)) / (2.0 * h);
                let got = grads.of(vars[k])[i];
                assert!((fd - got).abs() < 1e-7 * (1.0 + fd.abs()), "{name}: leaf {k}[{i}]: tape {got} vs fd {fd}");
            }
        }
    }

    #[test]
    fn every_op_matches_central_differences() {
        check("add", &[3, 3], &|t, v| t.add(v[0], v[1]));
        check("sub", &[3, 3], &|t, v| t.sub(v[0], v[1]));
        check("mul", &[3, 3], &|t, v| t.mul(v[0], v[1]));
        check("div", &[3, 3], &|t, v| {
            let d = t.shift(v[1], 2.0);
            t.div(v[0], d)
        });
        check("scale", &[4, 1], &|t, v| t.scale(v[0], v[1]));
        check("scale_by", &[4], &|t, v| t.scale_by(v[0], -1.7));
        for kind in DenseActivation::ALL {
            if kind != DenseActivation::Relu {
                check(kind.name(), &[5], &|t, v| t.activation(v[0], kind));
            }
        }
        check("exp", &[3], &|t, v| t.exp(v[0]));
        check("log", &[3], &|t, v| {
            let p = t.shift(v[0], 1.0);
            t.log(p)
        });
        check("clamp", &[6], &|t, v| t.clamp(v[0], 0.3, 0.9));
        check("max", &[4, 4], &|t, v| t.max(v[0], v[1]));
        check("sum", &[5], &|t, v| t.sum(v[0]));
        check("dot", &[4, 4], &|t, v| t.dot(v[0], v[1]));
        check("matvec", &[6, 3], &|t, v| t.matvec(v[0], v[1], 2));
        check("affine", &[6, 3, 2], &|t, v| t.affine(v[0], v[1], v[2]));
        check("outer", &[2, 3], &|t, v| t.outer(v[0], v[1]));
        check("concat", &[2, 3], &|t, v| t.concat(&[v[0], v[1], v[0]]));
        check("slice", &[5], &|t, v| t.slice(v[0], 1, 3));
        let net = Dense::new(&[3, 4, 2], DenseActivation::Tanh, DenseActivation::Identity).unwrap();
        let n = net.param_count();
        check("dense", &[n, 3], &|t, v| t.dense(&net, v[0], v[1]));
        // A composition that reuses nodes: the cotangents of a node used twice add up.
        check("composed", &[3, 3], &|t, v| {
            let p = t.mul(v[0], v[1]);
            let q = t.activation(p, DenseActivation::Tanh);
            let r = t.add(q, v[0]);
            let s = t.sum(r);
            t.scale(r, s)
        });
    }

    #[test]
    fn unrelated_leaves_get_zero_and_relu_passes_where_positive() {
        let mut t = Tape::new();
        let a = t.leaf(vec![-1.0, 2.0]);
        let unused = t.leaf(vec![5.0]);
        let r = t.activation(a, DenseActivation::Relu);
        let s = t.sum(r);
        let g = t.gradient(s);
        assert_eq!(g.of(a), &[0.0, 1.0]);
        assert_eq!(g.of(unused), &[0.0]);
        assert_eq!(t.scalar(s), 2.0);
    }
}
