//! The simplifier: constant folding and the identities of LABS.md (x − x → 0, x / 1 → x), with
//! their obvious companions (x + 0, x · 1, x · 0, neg(neg(x))), bottom up. Every rule keeps the
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
