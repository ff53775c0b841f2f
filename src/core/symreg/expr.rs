//! Expressions as prefix node vectors (SymbolicRegression.jl's trees, flattened): a node is a
//! constant, a variable, or an operator followed by its operands' subtrees. Complexity is the
//! node count (PySR's default of one per node). Evaluation is a stack pass from the end; the
//! gradient in the constants and the variables is one reverse pass over the stored node
//! values, which is what constant fitting (rows of the Jacobian) and fine-tuning through an ODE
//! solve (the field's VJP) need. Division by |d| < 1e-12 gives NaN: the loss is then infinite.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Square,
    Sin,
    Cos,
    Exp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Const(f64),
    Var(u8),
    Unary(Unary),
    Binary(Binary),
}

/// Divisors smaller than this in magnitude give NaN.
pub const DIVISION_FLOOR: f64 = 1e-12;

impl Unary {
    pub const ALL: [Unary; 5] = [Unary::Neg, Unary::Square, Unary::Sin, Unary::Cos, Unary::Exp];

    pub fn name(self) -> &'static str {
        match self {
            Unary::Neg => "neg",
            Unary::Square => "square",
            Unary::Sin => "sin",
            Unary::Cos => "cos",
            Unary::Exp => "exp",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|u| u.name() == name)
            .ok_or_else(|| format!("unknown operator '{name}': choose from neg, square, sin, cos, exp, +, -, *, /"))
    }

    pub fn apply(self, a: f64) -> f64 {
        match self {
            Unary::Neg => -a,
            Unary::Square => a * a,
            Unary::Sin => a.sin(),
            Unary::Cos => a.cos(),
            Unary::Exp => a.exp(),
        }
    }

    /// d op(a) / da.
    fn derivative(self, a: f64) -> f64 {
        match self {
            Unary::Neg => -1.0,
            Unary::Square => 2.0 * a,
            Unary::Sin => a.cos(),
            Unary::Cos => -a.sin(),
            Unary::Exp => a.exp(),
        }
    }
}

impl Binary {
    pub const ALL: [Binary; 4] = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div];

    pub fn symbol(self) -> &'static str {
        match self {
            Binary::Add => "+",
            Binary::Sub => "-",
            Binary::Mul => "*",
            Binary::Div => "/",
        }
    }

    pub fn from_symbol(symbol: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.symbol() == symbol)
            .ok_or_else(|| format!("unknown operator '{symbol}': choose from neg, square, sin, cos, exp, +, -, *, /"))
    }

    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => {
                if b.abs() < DIVISION_FLOOR {
                    f64::NAN
                } else {
                    a / b
                }
            }
        }
    }

    /// (d op / da, d op / db).
    fn partials(self, a: f64, b: f64) -> (f64, f64) {
        match self {
            Binary::Add => (1.0, 1.0),
            Binary::Sub => (1.0, -1.0),
            Binary::Mul => (b, a),
            Binary::Div => (1.0 / b, -a / (b * b)),
        }
    }
}

impl Node {
    pub fn arity(self) -> usize {
        match self {
            Node::Const(_) | Node::Var(_) => 0,
            Node::Unary(_) => 1,
            Node::Binary(_) => 2,
        }
    }
}

/// An expression: nodes in prefix order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub nodes: Vec<Node>,
}

impl Expr {
    pub fn new(nodes: Vec<Node>) -> Result<Self, String> {
        let e = Expr { nodes };
        e.check()?;
        Ok(e)
    }

    pub fn constant(c: f64) -> Self {
        Expr { nodes: vec![Node::Const(c)] }
    }

    pub fn var(i: u8) -> Self {
        Expr { nodes: vec![Node::Var(i)] }
    }

    /// op(a).
    pub fn unary(op: Unary, a: &Expr) -> Self {
        let mut nodes = vec![Node::Unary(op)];
        nodes.extend_from_slice(&a.nodes);
        Expr { nodes }
    }

    /// a op b.
    pub fn binary(op: Binary, a: &Expr, b: &Expr) -> Self {
        let mut nodes = vec![Node::Binary(op)];
        nodes.extend_from_slice(&a.nodes);
        nodes.extend_from_slice(&b.nodes);
        Expr { nodes }
    }

    /// Whether the nodes form exactly one tree.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("an empty expression".into());
        }
        let mut open = 1usize;
        for (i, n) in self.nodes.iter().enumerate() {
            if open == 0 {
                return Err(format!("nodes after the end of the tree at {i}"));
            }
            open = open - 1 + n.arity();
        }
        if open != 0 {
            return Err(format!("{open} operands missing"));
        }
        Ok(())
    }

    pub fn complexity(&self) -> usize {
        self.nodes.len()
    }

    /// The end (exclusive) of the subtree starting at `start`.
    pub fn subtree_end(&self, start: usize) -> usize {
        let mut open = 1usize;
        let mut i = start;
        while open > 0 {
            open = open - 1 + self.nodes[i].arity();
            i += 1;
        }
        i
    }

    pub fn subtree(&self, start: usize) -> Expr {
        Expr { nodes: self.nodes[start..self.subtree_end(start)].to_vec() }
    }

    /// This expression with the subtree at `start` replaced by `by`.
    pub fn replaced(&self, start: usize, by: &Expr) -> Expr {
        let end = self.subtree_end(start);
        let mut nodes = Vec::with_capacity(self.nodes.len() - (end - start) + by.nodes.len());
        nodes.extend_from_slice(&self.nodes[..start]);
        nodes.extend_from_slice(&by.nodes);
        nodes.extend_from_slice(&self.nodes[end..]);
        Expr { nodes }
    }

    /// Depth of the tree (a leaf is 1).
    pub fn depth(&self) -> usize {
        let mut stack: Vec<usize> = Vec::new();
        for n in self.nodes.iter().rev() {
            let d = match n.arity() {
                0 => 1,
                1 => 1 + stack.pop().unwrap_or(0),
                _ => 1 + stack.pop().unwrap_or(0).max(stack.pop().unwrap_or(0)),
            };
            stack.push(d);
        }
        stack.pop().unwrap_or(0)
    }

    /// The constants, in node order.
    pub fn constants(&self) -> Vec<f64> {
        self.nodes.iter().filter_map(|n| if let Node::Const(c) = n { Some(*c) } else { None }).collect()
    }

    /// The same expression with its constants, in node order, replaced by `values`.
    pub fn with_constants(&self, values: &[f64]) -> Expr {
        let mut next = values.iter();
        let nodes = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Const(c) => Node::Const(*next.next().unwrap_or(c)),
                other => *other,
            })
            .collect();
        Expr { nodes }
    }

    /// The value at x (variables are x[0], x[1], ...; one out of range reads 0).
    pub fn eval(&self, x: &[f64]) -> f64 {
        let mut stack: Vec<f64> = Vec::with_capacity(self.nodes.len());
        self.eval_with(x, &mut stack)
    }

    fn eval_with(&self, x: &[f64], stack: &mut Vec<f64>) -> f64 {
        stack.clear();
        for n in self.nodes.iter().rev() {
            let v = match *n {
                Node::Const(c) => c,
                Node::Var(i) => x.get(i as usize).copied().unwrap_or(0.0),
                Node::Unary(op) => {
                    let a = stack.pop().unwrap_or(f64::NAN);
                    op.apply(a)
                }
                Node::Binary(op) => {
                    let a = stack.pop().unwrap_or(f64::NAN);
                    let b = stack.pop().unwrap_or(f64::NAN);
                    op.apply(a, b)
                }
            };
            stack.push(v);
        }
        stack.pop().unwrap_or(f64::NAN)
    }

    /// Values at many points (rows of `dim` values).
    pub fn eval_batch(&self, xs: &[f64], dim: usize, out: &mut Vec<f64>) {
        out.clear();
        let mut stack = Vec::with_capacity(self.nodes.len());
        out.extend(xs.chunks_exact(dim).map(|x| self.eval_with(x, &mut stack)));
    }

    /// The value at x and its gradient: in the constants (node order) and in x.
    pub fn eval_with_gradient(&self, x: &[f64]) -> Gradient {
        let n = self.nodes.len();
        // Each node's value, evaluated from the end (operands before their operator).
        let mut values = vec![0.0; n];
        for i in (0..n).rev() {
            values[i] = match self.nodes[i] {
                Node::Const(c) => c,
                Node::Var(v) => x.get(v as usize).copied().unwrap_or(0.0),
                Node::Unary(op) => op.apply(values[i + 1]),
                Node::Binary(op) => {
                    let right = self.subtree_end(i + 1);
                    op.apply(values[i + 1], values[right])
                }
            };
        }
        // Adjoints from the root down: a node's operands come after it.
        let mut adjoint = vec![0.0; n];
        adjoint[0] = 1.0;
        let mut constants = Vec::new();
        let mut d_x = vec![0.0; x.len()];
        for i in 0..n {
            let a = adjoint[i];
            match self.nodes[i] {
                Node::Const(_) => constants.push(a),
                Node::Var(v) => {
                    if let Some(d) = d_x.get_mut(v as usize) {
                        *d += a;
                    }
                }
                Node::Unary(op) => adjoint[i + 1] += a * op.derivative(values[i + 1]),
                Node::Binary(op) => {
                    let right = self.subtree_end(i + 1);
                    let (da, db) = op.partials(values[i + 1], values[right]);
                    adjoint[i + 1] += a * da;
                    adjoint[right] += a * db;
                }
            }
        }
        Gradient { value: values[0], constants, x: d_x }
    }
}

/// A value with its gradient in the constants (node order) and in the variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    pub value: f64,
    pub constants: Vec<f64>,
    pub x: Vec<f64>,
}

/// A constant as the expressions print it: short, and exact where it is a round number.
fn constant_text(c: f64) -> String {
    let rounded = format!("{c:.4}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".into()
    } else if trimmed.contains('.') || trimmed.contains('e') {
        trimmed.to_string()
    } else {
        format!("{trimmed}.0")
    }
}

impl Expr {
    fn write(&self, at: usize, f: &mut fmt::Formatter<'_>) -> Result<usize, fmt::Error> {
        match self.nodes[at] {
            Node::Const(c) => {
                write!(f, "{}", constant_text(c))?;
                Ok(at + 1)
            }
            Node::Var(v) => {
                write!(f, "x{v}")?;
                Ok(at + 1)
            }
            Node::Unary(Unary::Neg) => {
                write!(f, "(-")?;
                let end = self.write(at + 1, f)?;
                write!(f, ")")?;
                Ok(end)
            }
            Node::Unary(op) => {
                write!(f, "{}(", op.name())?;
                let end = self.write(at + 1, f)?;
                write!(f, ")")?;
                Ok(end)
            }
            Node::Binary(op) => {
                write!(f, "(")?;
                let mid = self.write(at + 1, f)?;
                write!(f, " {} ", op.symbol())?;
                let end = self.write(mid, f)?;
                write!(f, ")")?;
                Ok(end)
            }
        }
    }
}

/// Infix text: `(x1 / (x1 + 1.012))`, variables x0, x1, ...
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check().is_err() {
            return write!(f, "<invalid expression>");
        }
        self.write(0, f).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn x(i: u8) -> Expr {
        Expr::var(i)
    }

    fn c(v: f64) -> Expr {
        Expr::constant(v)
    }

    /// y / (y + 1.012), the notebook's knee for the oscillator's first output.
    fn knee() -> Expr {
        Expr::binary(Binary::Div, &x(1), &Expr::binary(Binary::Add, &x(1), &c(1.012)))
    }

    #[test]
    fn evaluation_matches_closed_forms() {
        let e = knee();
        assert_eq!(e.complexity(), 5);
        assert_eq!(e.depth(), 3);
        assert_eq!(e.to_string(), "(x1 / (x1 + 1.012))");
        for p in [[0.3, -0.4], [2.0, 5.0], [-1.0, 0.25]] {
            assert_eq!(e.eval(&p), p[1] / (p[1] + 1.012));
        }
        // sin(x0) * square(x1) - exp(neg(x0)) / 2
        let f = Expr::binary(
            Binary::Sub,
            &Expr::binary(Binary::Mul, &Expr::unary(Unary::Sin, &x(0)), &Expr::unary(Unary::Square, &x(1))),
            &Expr::binary(Binary::Div, &Expr::unary(Unary::Exp, &Expr::unary(Unary::Neg, &x(0))), &c(2.0)),
        );
        let p = [0.7f64, -1.3];
        let want = p[0].sin() * p[1] * p[1] - (-p[0]).exp() / 2.0;
        assert!((f.eval(&p) - want).abs() < 1e-15);
        let mut out = Vec::new();
        f.eval_batch(&[0.7, -1.3, 0.0, 0.0], 2, &mut out);
        assert_eq!(out, vec![f.eval(&p), -0.5]);
        // Division by (almost) zero is NaN, never infinity.
        assert!(Expr::binary(Binary::Div, &x(0), &x(1)).eval(&[1.0, 1e-13]).is_nan());
        assert_eq!(f.to_string(), "((sin(x0) * square(x1)) - (exp((-x0)) / 2.0))");
    }

    #[test]
    fn malformed_node_vectors_are_refused() {
        assert!(Expr::new(vec![]).is_err());
        assert!(Expr::new(vec![Node::Binary(Binary::Add), Node::Var(0)]).unwrap_err().contains("missing"));
        assert!(Expr::new(vec![Node::Var(0), Node::Var(1)]).unwrap_err().contains("after the end"));
        let e = Expr::new(vec![Node::Binary(Binary::Add), Node::Var(0), Node::Const(1.0)]).unwrap();
        assert_eq!(e.subtree_end(1), 2);
        assert_eq!(e.replaced(2, &knee()).complexity(), 7);
    }

    /// The reverse pass equals central differences, in the constants and in x.
    #[test]
    fn gradients_match_finite_differences() {
        let e = Expr::binary(
            Binary::Add,
            &Expr::binary(Binary::Mul, &c(0.7), &Expr::unary(Unary::Cos, &x(0))),
            &Expr::binary(Binary::Div, &Expr::unary(Unary::Square, &x(1)), &Expr::binary(Binary::Sub, &c(2.5), &x(0))),
        );
        let p = [0.4, -1.1];
        let g = e.eval_with_gradient(&p);
        assert_eq!(g.value, e.eval(&p));
        let h = 1e-6;
        let consts = e.constants();
        for k in 0..consts.len() {
            let (mut up, mut down) = (consts.clone(), consts.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (e.with_constants(&up).eval(&p) - e.with_constants(&down).eval(&p)) / (2.0 * h);
            assert!((fd - g.constants[k]).abs() < 1e-8, "constant {k}: {fd} vs {}", g.constants[k]);
        }
        for d in 0..2 {
            let (mut up, mut down) = (p, p);
            up[d] += h;
            down[d] -= h;
            let fd = (e.eval(&up) - e.eval(&down)) / (2.0 * h);
            assert!((fd - g.x[d]).abs() < 1e-8, "x{d}: {fd} vs {}", g.x[d]);
        }
    }
}
