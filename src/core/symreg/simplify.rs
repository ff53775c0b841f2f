//! The simplifier: constant folding and the identities of LABS.md (x − x → 0, x / 1 → x), with
//! their obvious companions (x + 0, x · 1, x · 0, neg(neg(x))) and the negations that fold into
//! a subtraction (neg(a − b), a + neg(b), neg(a) + b, a − neg(b)), bottom up. No rule brings in
//! an operator the tree did not have but + and −, which are always on. Every rule keeps the
//! value wherever the original is defined; folding leaves a subtree alone where its value is
//! not finite (a NaN constant would poison every later fit).

use super::expr::{Binary, Expr, Node, Unary};

/// The simplified expression (never larger than the original).
pub fn simplify(e: &Expr) -> Expr {
    if e.check().is_err() {
        return e.clone();
    }
    let (out, _) = simplify_at(e, 0);
    if out.complexity() <= e.complexity() {
        out
    } else {
        e.clone()
    }
}

fn as_constant(e: &Expr) -> Option<f64> {
    match e.nodes.as_slice() {
        [Node::Const(c)] => Some(*c),
        _ => None,
    }
}

/// The simplified subtree at `at`, and where it ended.
fn simplify_at(e: &Expr, at: usize) -> (Expr, usize) {
    match e.nodes[at] {
        Node::Const(_) | Node::Var(_) => (Expr { nodes: vec![e.nodes[at]] }, at + 1),
        Node::Unary(op) => {
            let (a, end) = simplify_at(e, at + 1);
            (unary(op, a), end)
        }
        Node::Binary(op) => {
            let (a, mid) = simplify_at(e, at + 1);
            let (b, end) = simplify_at(e, mid);
            (binary(op, a, b), end)
        }
    }
}

fn unary(op: Unary, a: Expr) -> Expr {
    if let Some(c) = as_constant(&a) {
        let v = op.apply(c);
        if v.is_finite() {
            return Expr::constant(v);
        }
    }
    if op == Unary::Neg && a.nodes.first() == Some(&Node::Unary(Unary::Neg)) {
        return a.subtree(1);
    }
    // neg(e) as e with its sign folded in, where that costs no nodes: neg(a - b) = b - a,
    // neg(b + k) = (−k) − b, neg(a / d) = a / (−d), ...
    if op == Unary::Neg {
        if let Some(n) = negated_cheaply(&a) {
            return n;
        }
    }
    Expr::unary(op, &a)
}

fn binary(op: Binary, a: Expr, b: Expr) -> Expr {
    let (ca, cb) = (as_constant(&a), as_constant(&b));
    if let (Some(x), Some(y)) = (ca, cb) {
        let v = op.apply(x, y);
        if v.is_finite() {
            return Expr::constant(v);
        }
    }
    // a - (c * b) with c < 0 is a + (|c| * b), and a + (c * b) is a - (|c| * b): the sign
    // moves into the operator (the size stays), so that x - (-1 * y) can fold further.
    if let (Binary::Add | Binary::Sub, Some(flipped)) = (op, with_positive_factor(&b)) {
        let other = if op == Binary::Add { Binary::Sub } else { Binary::Add };
        return binary(other, a, flipped);
    }
    let negated = |e: &Expr| (e.nodes.first() == Some(&Node::Unary(Unary::Neg))).then(|| e.subtree(1));
    // neg(a) / d = a / (−d) where −d costs no nodes.
    if let (Binary::Div, Some(na), Some(flipped)) = (op, negated(&a), negated_cheaply(&b)) {
        return binary(Binary::Div, na, flipped);
    }
    // a - (-c) = a + c and a + (-c) = a - c, for a negative constant: the sign moves into the
    // operator (no size change; both leave a positive constant, so neither undoes the other).
    if let (Binary::Add | Binary::Sub, Some(c)) = (op, cb) {
        if c < 0.0 {
            let other = if op == Binary::Add { Binary::Sub } else { Binary::Add };
            return Expr::binary(other, &a, &Expr::constant(-c));
        }
    }
    match (op, negated(&a), negated(&b)) {
        // a + neg(b) = a - b; neg(a) + b = b - a; a - neg(b) = a + b.
        (Binary::Add, _, Some(nb)) => return Expr::binary(Binary::Sub, &a, &nb),
        (Binary::Add, Some(na), None) => return Expr::binary(Binary::Sub, &b, &na),
        (Binary::Sub, _, Some(nb)) => return Expr::binary(Binary::Add, &a, &nb),
        _ => {}
    }
    // (−1) · e = −e, where the sign folds into e.
    if op == Binary::Mul {
        let (k, e) = if ca == Some(-1.0) { (ca, &b) } else { (cb, &a) };
        if let (Some(-1.0), Some(n)) = (k, negated_cheaply(e)) {
            return n;
        }
    }
    match op {
        Binary::Add if cb == Some(0.0) => a,
        Binary::Add if ca == Some(0.0) => b,
        Binary::Sub if cb == Some(0.0) => a,
        Binary::Sub if a == b => Expr::constant(0.0),
        Binary::Mul if cb == Some(1.0) => a,
        Binary::Mul if ca == Some(1.0) => b,
        Binary::Mul if ca == Some(0.0) || cb == Some(0.0) => Expr::constant(0.0),
        Binary::Div if cb == Some(1.0) => a,
        _ => Expr::binary(op, &a, &b),
    }
}

/// −e without more nodes, where the form allows: b − c as c − b, b + k or k + b (k a
/// constant) as (−k) − b, a constant as its negation, neg(a) as a.
fn negated_cheaply(e: &Expr) -> Option<Expr> {
    match e.nodes.first()? {
        Node::Const(k) => Some(Expr::constant(-k)),
        Node::Unary(Unary::Neg) => Some(e.subtree(1)),
        Node::Binary(op @ (Binary::Sub | Binary::Add)) => {
            let (b, c) = (e.subtree(1), e.subtree(e.subtree_end(1)));
            match (op, as_constant(&b), as_constant(&c)) {
                (Binary::Sub, _, _) => Some(binary(Binary::Sub, c, b)),
                (_, _, Some(k)) => Some(binary(Binary::Sub, Expr::constant(-k), b)),
                (_, Some(k), _) => Some(binary(Binary::Sub, Expr::constant(-k), c)),
                _ => None,
            }
        }
        Node::Binary(Binary::Div) => {
            let (num, den) = (e.subtree(1), e.subtree(e.subtree_end(1)));
            if let Some(flipped) = negated_cheaply(&den) {
                return Some(binary(Binary::Div, num, flipped));
            }
            negated_cheaply(&num).map(|flipped| binary(Binary::Div, flipped, den))
        }
        _ => None,
    }
}

/// c * b or b * c with a negative constant c, as |c| * b (or b * |c|).
fn with_positive_factor(e: &Expr) -> Option<Expr> {
    if e.nodes.first() != Some(&Node::Binary(Binary::Mul)) {
        return None;
    }
    let (left, right) = (e.subtree(1), e.subtree(e.subtree_end(1)));
    match (as_constant(&left), as_constant(&right)) {
        (Some(c), _) if c < 0.0 => Some(binary(Binary::Mul, Expr::constant(-c), right)),
        (_, Some(c)) if c < 0.0 => Some(binary(Binary::Mul, left, Expr::constant(-c))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::rng::RngStream;
    use crate::core::symreg::mutate::random_tree;
    use crate::core::symreg::options::Operators;

    fn x(i: u8) -> Expr {
        Expr::var(i)
    }

    fn c(v: f64) -> Expr {
        Expr::constant(v)
    }

    #[test]
    fn the_identities_of_labs_md() {
        let diff = Expr::binary(Binary::Sub, &x(0), &x(0));
        assert_eq!(simplify(&diff), c(0.0));
        assert_eq!(simplify(&Expr::binary(Binary::Div, &x(1), &c(1.0))), x(1));
        // (2 * 3) + x0 folds to 6 + x0; x0 * 1 to x0; neg(neg(x1)) to x1.
        let folded = Expr::binary(Binary::Add, &Expr::binary(Binary::Mul, &c(2.0), &c(3.0)), &x(0));
        assert_eq!(simplify(&folded), Expr::binary(Binary::Add, &c(6.0), &x(0)));
        assert_eq!(simplify(&Expr::binary(Binary::Mul, &x(0), &c(1.0))), x(0));
        assert_eq!(simplify(&Expr::unary(Unary::Neg, &Expr::unary(Unary::Neg, &x(1)))), x(1));
        // (x0 - x0) * x1 + x1 / 1 -> 0 * x1 + x1 -> x1
        let nested = Expr::binary(
            Binary::Add,
            &Expr::binary(Binary::Mul, &diff, &x(1)),
            &Expr::binary(Binary::Div, &x(1), &c(1.0)),
        );
        assert_eq!(simplify(&nested), x(1));
        // (x1 * -0.1) - (-1 * x0) -> (x1 * -0.1) + x0 -> x0 - ... is not reached, but the
        // size drops from 7 to 5.
        let signs = Expr::binary(
            Binary::Sub,
            &Expr::binary(Binary::Mul, &x(1), &c(-0.1)),
            &Expr::binary(Binary::Mul, &c(-1.0), &x(0)),
        );
        assert_eq!(simplify(&signs).to_string(), "((x1 * -0.1) + x0)");
        // neg(x1 / (-1 - x1)) is x1 / (x1 + 1): 7 nodes to 5.
        let knee =
            Expr::unary(Unary::Neg, &Expr::binary(Binary::Div, &x(1), &Expr::binary(Binary::Sub, &c(-1.0), &x(1))));
        assert_eq!(simplify(&knee).to_string(), "(x1 / (x1 + 1.0))");
        // neg(x0) / (x0 + 1) stays (no difference to flip); neg(x0) / (1 - x0) is x0 / (x0 - 1).
        let flip =
            Expr::binary(Binary::Div, &Expr::unary(Unary::Neg, &x(0)), &Expr::binary(Binary::Sub, &c(1.0), &x(0)));
        assert_eq!(simplify(&flip).to_string(), "(x0 / (x0 - 1.0))");
        // 1 / 0 is not folded into a NaN constant.
        let bad = Expr::binary(Binary::Div, &c(1.0), &c(0.0));
        assert_eq!(simplify(&bad), bad);
    }

    /// Simplification never changes a value: 300 random trees on 1000 random points each.
    #[test]
    fn simplification_keeps_values_on_random_points() {
        let ops = Operators::with_unary(&[Unary::Neg, Unary::Square, Unary::Sin, Unary::Cos]);
        let mut rng = RngStream::new(7, 1);
        let points: Vec<[f64; 2]> = (0..1000).map(|_| [4.0 * rng.uniform() - 2.0, 4.0 * rng.uniform() - 2.0]).collect();
        let mut shrunk = 0;
        for _ in 0..300 {
            let size = 1 + rng.below(20);
            let e = random_tree(&mut rng, &ops, 2, size);
            let s = simplify(&e);
            assert!(s.check().is_ok() && s.complexity() <= e.complexity());
            shrunk += usize::from(s.complexity() < e.complexity());
            for p in &points {
                let (a, b) = (e.eval(p), s.eval(p));
                if a.is_finite() {
                    assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()), "{e} = {a} but {s} = {b} at {p:?}");
                }
            }
        }
        assert!(shrunk > 10, "only {shrunk} of 300 trees simplified: the test sees no rule");
    }
}
