//! The hall of fame (the lowest-loss expression at each complexity seen), the Pareto front
//! in (complexity, loss), each front member's score −Δ ln(loss) / Δ complexity against the
//! previous one, and PySR's "best" rule: the highest score among members whose loss is at
//! most 1.5 times the lowest.

use super::expr::Expr;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub expr: Expr,
    pub loss: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HallOfFame {
    /// by_size[c]: the best expression of complexity c.
    by_size: Vec<Option<Entry>>,
}

/// One member of the front.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontEntry {
    pub complexity: usize,
    pub loss: f64,
    pub score: f64,
    pub expr: Expr,
}

/// Losses below this are treated as this (the log of an exact fit is finite).
const LOSS_FLOOR: f64 = 1e-300;

impl HallOfFame {
    pub fn new(maxsize: usize) -> Self {
        HallOfFame { by_size: vec![None; maxsize + 1] }
    }

    /// Keeps `expr` if it is the best at its complexity (finite losses only).
    pub fn consider(&mut self, expr: &Expr, loss: f64) {
        let c = expr.complexity();
        if !loss.is_finite() || c >= self.by_size.len() {
            return;
        }
        if self.by_size[c].as_ref().is_none_or(|e| loss < e.loss) {
            self.by_size[c] = Some(Entry { expr: expr.clone(), loss });
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.by_size.iter().enumerate().filter_map(|(c, e)| e.as_ref().map(|e| (c, e)))
    }

    /// The members no simpler member beats: each has a lower loss than every simpler one.
    pub fn front(&self) -> Vec<FrontEntry> {
        let mut out: Vec<FrontEntry> = Vec::new();
        for (c, e) in self.entries() {
            if out.last().is_none_or(|last| e.loss < last.loss) {
                let score = match out.last() {
                    Some(last) => {
                        -(e.loss.max(LOSS_FLOOR).ln() - last.loss.max(LOSS_FLOOR).ln()) / (c - last.complexity) as f64
                    }
                    None => 0.0,
                };
                out.push(FrontEntry { complexity: c, loss: e.loss, score, expr: e.expr.clone() });
            }
        }
        out
    }
}

/// PySR's "best": among front members with loss at most 1.5 × the lowest, the highest score.
pub fn best(front: &[FrontEntry]) -> Option<&FrontEntry> {
    let lowest = front.iter().map(|e| e.loss).fold(f64::INFINITY, f64::min);
    front.iter().filter(|e| e.loss <= 1.5 * lowest).max_by(|a, b| a.score.total_cmp(&b.score))
}

/// The front member with the highest score (PySR's "score" rule, the thesis example's).
pub fn highest_score(front: &[FrontEntry]) -> Option<&FrontEntry> {
    front.iter().max_by(|a, b| a.score.total_cmp(&b.score))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::symreg::expr::{Binary, Node};

    fn sized(c: usize) -> Expr {
        // x0 + x0 + ... with c nodes (c odd) or neg-free padding by constants.
        let mut nodes = Vec::new();
        for _ in 0..c / 2 {
            nodes.push(Node::Binary(Binary::Add));
            nodes.push(Node::Var(0));
        }
        nodes.push(Node::Var(1));
        Expr::new(nodes).unwrap()
    }

    /// The notebook's hall of fame for output 1: 4.9e-2 (1), 2.7e-2 (3), 6.2e-4 (5), 4.5e-4 (7):
    /// the knee at 5 has the largest score, 1.9, and "best" picks it too.
    #[test]
    fn the_notebooks_front_has_its_knee_at_five() {
        let mut hof = HallOfFame::new(20);
        for (c, loss) in [(1, 4.9e-2), (3, 2.7e-2), (5, 6.2e-4), (7, 4.5e-4), (9, 5.0e-4)] {
            hof.consider(&sized(c), loss);
        }
        hof.consider(&sized(5), 7.0e-4); // worse at its size: ignored
        let front = hof.front();
        assert_eq!(front.iter().map(|e| e.complexity).collect::<Vec<_>>(), vec![1, 3, 5, 7], "9 is dominated");
        let knee = highest_score(&front).unwrap();
        assert_eq!(knee.complexity, 5);
        assert!((knee.score - 1.886).abs() < 1e-3, "score {}", knee.score);
        assert_eq!(best(&front).unwrap().complexity, 5);
        assert_eq!(front[0].score, 0.0);
    }
}
