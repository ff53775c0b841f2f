//! Random trees, the weighted mutations and crossover (SymbolicRegression.jl's Mutate.jl and
//! MutationFunctions.jl): each takes a tree and returns a new one; the caller checks the size
//! and depth limits and tries again (or gives up) when a child breaks them.

use super::expr::{Binary, Expr, Node};
use super::options::{Operators, SearchOptions};
use super::simplify::simplify;
use crate::core::rng::RngStream;

/// Which mutation was chosen (for the counts the page and the CLI report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    AddNode,
    InsertNode,
    DeleteNode,
    DoNothing,
    MutateConstant,
    MutateOperator,
    MutateFeature,
    SwapOperands,
    RotateTree,
    Randomize,
    Simplify,
}

/// A leaf: a standard normal constant or a variable, even odds.
pub fn random_leaf(rng: &mut RngStream, nvars: usize) -> Expr {
    if rng.uniform() < 0.5 {
        Expr::constant(rng.normal())
    } else {
        Expr::var(rng.below(nvars.max(1)) as u8)
    }
}

fn random_binary(rng: &mut RngStream, ops: &Operators) -> Binary {
    ops.binary[rng.below(ops.binary.len())]
}

/// An operator node over fresh leaves (binary with probability nbin / (nbin + nuna)).
fn random_op_over_leaves(rng: &mut RngStream, ops: &Operators, nvars: usize) -> Expr {
    let (nb, nu) = (ops.binary.len(), ops.unary.len());
    if rng.below(nb + nu) < nb {
        Expr::binary(random_binary(rng, ops), &random_leaf(rng, nvars), &random_leaf(rng, nvars))
    } else {
        Expr::unary(ops.unary[rng.below(nu)], &random_leaf(rng, nvars))
    }
}

/// Indices of the nodes that satisfy `keep`.
fn indices(e: &Expr, keep: impl Fn(&Node) -> bool) -> Vec<usize> {
    e.nodes.iter().enumerate().filter(|(_, n)| keep(n)).map(|(i, _)| i).collect()
}

fn pick(rng: &mut RngStream, among: &[usize]) -> Option<usize> {
    (!among.is_empty()).then(|| among[rng.below(among.len())])
}

/// A random tree grown from a leaf by appending operators until it has about `size` nodes.
pub fn random_tree(rng: &mut RngStream, ops: &Operators, nvars: usize, size: usize) -> Expr {
    let mut e = random_leaf(rng, nvars);
    for _ in 0..size {
        if e.complexity() + 1 >= size {
            break;
        }
        let grown = add_node(&e, rng, ops, nvars);
        if grown.complexity() > size {
            break;
        }
        e = grown;
    }
    e
}

/// A random leaf becomes an operator over fresh leaves.
fn add_node(e: &Expr, rng: &mut RngStream, ops: &Operators, nvars: usize) -> Expr {
    let leaves = indices(e, |n| n.arity() == 0);
    let at = pick(rng, &leaves).unwrap_or(0);
    e.replaced(at, &random_op_over_leaves(rng, ops, nvars))
}

/// A new operator above a random node (the node its first operand).
fn insert_node(e: &Expr, rng: &mut RngStream, ops: &Operators, nvars: usize) -> Expr {
    let at = rng.below(e.complexity());
    let below = e.subtree(at);
    let (nb, nu) = (ops.binary.len(), ops.unary.len());
    let new = if rng.below(nb + nu) < nb {
        Expr::binary(random_binary(rng, ops), &below, &random_leaf(rng, nvars))
    } else {
        Expr::unary(ops.unary[rng.below(nu)], &below)
    };
    e.replaced(at, &new)
}

/// A random operator is replaced by one of its operands.
fn delete_node(e: &Expr, rng: &mut RngStream) -> Expr {
    let Some(at) = pick(rng, &indices(e, |n| n.arity() > 0)) else { return e.clone() };
    let first = at + 1;
    let operand = if e.nodes[at].arity() == 2 && rng.uniform() < 0.5 { e.subtree_end(first) } else { first };
    e.replaced(at, &e.subtree(operand))
}

fn mutate_constant(e: &Expr, rng: &mut RngStream, options: &SearchOptions, temperature: f64) -> Expr {
    let Some(at) = pick(rng, &indices(e, |n| matches!(n, Node::Const(_)))) else { return e.clone() };
    let Node::Const(c) = e.nodes[at] else { return e.clone() };
    let max_change = options.perturbation * temperature + 1.0 + 0.1;
    let factor = max_change.powf(rng.uniform());
    let mut v = if rng.uniform() < 0.5 { c * factor } else { c / factor };
    if rng.uniform() < options.negate_constant {
        v = -v;
    }
    let mut out = e.clone();
    out.nodes[at] = Node::Const(v);
    out
}

fn mutate_operator(e: &Expr, rng: &mut RngStream, ops: &Operators) -> Expr {
    let Some(at) = pick(rng, &indices(e, |n| n.arity() > 0)) else { return e.clone() };
    let mut out = e.clone();
    out.nodes[at] = match e.nodes[at] {
        Node::Unary(_) if !ops.unary.is_empty() => Node::Unary(ops.unary[rng.below(ops.unary.len())]),
        Node::Binary(_) => Node::Binary(random_binary(rng, ops)),
        other => other,
    };
    out
}

fn mutate_feature(e: &Expr, rng: &mut RngStream, nvars: usize) -> Expr {
    let Some(at) = pick(rng, &indices(e, |n| matches!(n, Node::Var(_)))) else { return e.clone() };
    let mut out = e.clone();
    out.nodes[at] = Node::Var(rng.below(nvars.max(1)) as u8);
    out
}

fn swap_operands(e: &Expr, rng: &mut RngStream) -> Expr {
    let Some(at) = pick(rng, &indices(e, |n| n.arity() == 2)) else { return e.clone() };
    let (a, b) = (e.subtree(at + 1), e.subtree(e.subtree_end(at + 1)));
    let Node::Binary(op) = e.nodes[at] else { return e.clone() };
    e.replaced(at, &Expr::binary(op, &b, &a))
}

/// A tree rotation at a random binary node with a binary operand: op1(op2(a, b), c) becomes
/// op2(a, op1(b, c)), or the mirror image.
fn rotate_tree(e: &Expr, rng: &mut RngStream) -> Expr {
    let mut candidates = Vec::new();
    for at in indices(e, |n| n.arity() == 2) {
        let left = at + 1;
        let right = e.subtree_end(left);
        if e.nodes[left].arity() == 2 {
            candidates.push((at, true));
        }
        if e.nodes[right].arity() == 2 {
            candidates.push((at, false));
        }
    }
    if candidates.is_empty() {
        return e.clone();
    }
    let (at, left_pivot) = candidates[rng.below(candidates.len())];
    let (Node::Binary(op1), left) = (e.nodes[at], at + 1) else { return e.clone() };
    let right = e.subtree_end(left);
    let rotated = if left_pivot {
        let Node::Binary(op2) = e.nodes[left] else { return e.clone() };
        let (a, b, c) = (e.subtree(left + 1), e.subtree(e.subtree_end(left + 1)), e.subtree(right));
        Expr::binary(op2, &a, &Expr::binary(op1, &b, &c))
    } else {
        let Node::Binary(op2) = e.nodes[right] else { return e.clone() };
        let (a, b, c) = (e.subtree(left), e.subtree(right + 1), e.subtree(e.subtree_end(right + 1)));
        Expr::binary(op2, &Expr::binary(op1, &a, &b), &c)
    };
    e.replaced(at, &rotated)
}

/// One mutation, chosen by weight (mutations that cannot apply to this tree have weight 0).
pub fn mutate(
    e: &Expr,
    rng: &mut RngStream,
    options: &SearchOptions,
    nvars: usize,
    temperature: f64,
) -> (Expr, Mutation) {
    let w = &options.weights;
    let has_const = e.nodes.iter().any(|n| matches!(n, Node::Const(_)));
    let has_op = e.nodes.iter().any(|n| n.arity() > 0);
    let has_binary = e.nodes.iter().any(|n| n.arity() == 2);
    let choices = [
        (Mutation::AddNode, w.add_node),
        (Mutation::InsertNode, w.insert_node),
        (Mutation::DeleteNode, if has_op { w.delete_node } else { 0.0 }),
        (Mutation::DoNothing, w.do_nothing),
        (Mutation::MutateConstant, if has_const { w.mutate_constant } else { 0.0 }),
        (Mutation::MutateOperator, if has_op { w.mutate_operator } else { 0.0 }),
        (Mutation::MutateFeature, w.mutate_feature),
        (Mutation::SwapOperands, if has_binary { w.swap_operands } else { 0.0 }),
        (Mutation::RotateTree, if has_binary { w.rotate_tree } else { 0.0 }),
        (Mutation::Randomize, w.randomize),
        (Mutation::Simplify, w.simplify),
    ];
    let total: f64 = choices.iter().map(|c| c.1).sum();
    let mut u = rng.uniform() * total;
    let mut chosen = Mutation::DoNothing;
    for (m, weight) in choices {
        if u < weight {
            chosen = m;
            break;
        }
        u -= weight;
    }
    let ops = &options.operators;
    let child = match chosen {
        Mutation::AddNode => add_node(e, rng, ops, nvars),
        Mutation::InsertNode => insert_node(e, rng, ops, nvars),
        Mutation::DeleteNode => delete_node(e, rng),
        Mutation::DoNothing => e.clone(),
        Mutation::MutateConstant => mutate_constant(e, rng, options, temperature),
        Mutation::MutateOperator => mutate_operator(e, rng, ops),
        Mutation::MutateFeature => mutate_feature(e, rng, nvars),
        Mutation::SwapOperands => swap_operands(e, rng),
        Mutation::RotateTree => rotate_tree(e, rng),
        Mutation::Randomize => {
            let size = 1 + rng.below(options.maxsize);
            random_tree(rng, ops, nvars, size)
        }
        Mutation::Simplify => simplify(e),
    };
    (child, chosen)
}

/// Swaps a random subtree of `a` with a random subtree of `b`.
pub fn crossover(a: &Expr, b: &Expr, rng: &mut RngStream) -> (Expr, Expr) {
    let (i, j) = (rng.below(a.complexity()), rng.below(b.complexity()));
    let (sa, sb) = (a.subtree(i), b.subtree(j));
    (a.replaced(i, &sb), b.replaced(j, &sa))
}

/// Whether a tree is within the search's limits.
pub fn within_limits(e: &Expr, options: &SearchOptions) -> bool {
    e.complexity() <= options.maxsize && e.depth() <= options.maxdepth
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::symreg::expr::Unary;

    /// Every mutation and crossover gives a well-formed tree; the mutations the weights favour
    /// are the ones chosen; children that break the limits are what `within_limits` catches.
    #[test]
    fn mutations_and_crossover_give_valid_trees() {
        let options = SearchOptions {
            operators: Operators::with_unary(&[Unary::Neg, Unary::Square, Unary::Cos]),
            ..SearchOptions::cli_default()
        };
        let mut rng = RngStream::new(3, 0);
        let mut counts = std::collections::HashMap::new();
        let mut trees: Vec<Expr> = (0..20).map(|k| random_tree(&mut rng, &options.operators, 2, 1 + k)).collect();
        for step in 0..20_000 {
            let k = rng.below(trees.len());
            let (child, m) = mutate(&trees[k], &mut rng, &options, 2, 1.0);
            assert!(child.check().is_ok(), "{m:?} broke {} into {:?}", trees[k], child.nodes);
            *counts.entry(format!("{m:?}")).or_insert(0usize) += 1;
            if within_limits(&child, &options) {
                trees[k] = child;
            }
            if step % 10 == 0 {
                let j = rng.below(trees.len());
                let (a, b) = crossover(&trees[k], &trees[j], &mut rng);
                assert!(a.check().is_ok() && b.check().is_ok());
                assert_eq!(a.complexity() + b.complexity(), trees[k].complexity() + trees[j].complexity());
            }
        }
        assert!(trees.iter().all(|t| within_limits(t, &options)));
        // Rotation (4.26) and adding (2.47) are the favourites.
        assert!(
            counts["RotateTree"] > counts["MutateFeature"] && counts["AddNode"] > counts["SwapOperands"],
            "{counts:?}"
        );
        for e in &trees {
            assert!(
                e.nodes.iter().all(|n| !matches!(n, Node::Unary(Unary::Sin | Unary::Exp))),
                "an operator not enabled: {e}"
            );
        }
    }

    #[test]
    fn rotation_and_deletion_do_what_they_say() {
        // (x0 + x1) * 2 rotates to x0 + (x1 * 2) at the root.
        let e =
            Expr::binary(Binary::Mul, &Expr::binary(Binary::Add, &Expr::var(0), &Expr::var(1)), &Expr::constant(2.0));
        let mut rng = RngStream::new(1, 1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.insert(rotate_tree(&e, &mut rng).to_string());
            let d = delete_node(&e, &mut rng);
            assert!(d.complexity() < e.complexity());
        }
        assert!(seen.contains("(x0 + (x1 * 2.0))"), "{seen:?}");
    }
}
