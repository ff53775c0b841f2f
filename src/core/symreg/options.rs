//! The search's settings, with PySR's current defaults (LABS.md, Lab D) and the page's smaller
//! ones, and the operator set.

use super::expr::{Binary, Unary};

/// Which operators the trees may use. The four binary operators are always on.
#[derive(Debug, Clone, PartialEq)]
pub struct Operators {
    pub unary: Vec<Unary>,
    pub binary: Vec<Binary>,
}

impl Operators {
    pub fn with_unary(unary: &[Unary]) -> Self {
        Operators { unary: unary.to_vec(), binary: Binary::ALL.to_vec() }
    }

    /// Parses "neg,square" (empty: no unary operators).
    pub fn parse_unary(list: &str) -> Result<Self, String> {
        let mut unary = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let op = Unary::from_name(name)?;
            if !unary.contains(&op) {
                unary.push(op);
            }
        }
        Ok(Self::with_unary(&unary))
    }
}

impl Default for Operators {
    /// neg only: sin, cos, exp and square are off unless asked for.
    fn default() -> Self {
        Self::with_unary(&[Unary::Neg])
    }
}

/// Relative weights of the mutations (SymbolicRegression.jl's `MutationWeights`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MutationWeights {
    pub add_node: f64,
    pub insert_node: f64,
    pub delete_node: f64,
    pub do_nothing: f64,
    pub mutate_constant: f64,
    pub mutate_operator: f64,
    pub mutate_feature: f64,
    pub swap_operands: f64,
    pub rotate_tree: f64,
    pub randomize: f64,
    pub simplify: f64,
}

impl Default for MutationWeights {
    fn default() -> Self {
        MutationWeights {
            add_node: 2.47,
            insert_node: 0.0112,
            delete_node: 0.870,
            do_nothing: 0.273,
            mutate_constant: 0.0346,
            mutate_operator: 0.293,
            mutate_feature: 0.1,
            swap_operands: 0.198,
            rotate_tree: 4.26,
            randomize: 0.000502,
            simplify: 0.00209,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub populations: usize,
    pub population_size: usize,
    /// Iterations (each: cycles of evolution, then simplify, optimise, migrate, update the hall
    /// of fame).
    pub iterations: usize,
    pub cycles: usize,
    pub maxsize: usize,
    pub maxdepth: usize,
    pub tournament_size: usize,
    pub tournament_p: f64,
    pub crossover: f64,
    pub parsimony: f64,
    /// Scale of the frequency-based adaptive parsimony (0: off).
    pub adaptive_parsimony: f64,
    /// Simulated annealing of the acceptance (off by default), with its alpha.
    pub annealing: bool,
    pub alpha: f64,
    pub weights: MutationWeights,
    pub perturbation: f64,
    pub negate_constant: f64,
    /// Share of members migrated from other populations and from the hall of fame.
    pub migration: f64,
    pub hof_migration: f64,
    /// Constant optimisation: the share of members each iteration, iterations and restarts.
    pub optimize_probability: f64,
    pub optimizer_iterations: usize,
    pub optimizer_restarts: usize,
    pub operators: Operators,
    pub seed: u64,
}

impl SearchOptions {
    /// PySR's current defaults.
    pub fn pysr() -> Self {
        SearchOptions {
            populations: 31,
            population_size: 27,
            iterations: 40,
            cycles: 380,
            maxsize: 30,
            maxdepth: 30,
            tournament_size: 15,
            tournament_p: 0.982,
            crossover: 0.0259,
            parsimony: 0.0,
            adaptive_parsimony: 1040.0,
            annealing: false,
            alpha: 3.17,
            weights: MutationWeights::default(),
            perturbation: 0.129,
            negate_constant: 0.01,
            migration: 0.00036,
            hof_migration: 0.0614,
            optimize_probability: 0.14,
            optimizer_iterations: 8,
            optimizer_restarts: 2,
            operators: Operators::default(),
            seed: 0,
        }
    }

    /// The CLI's budget: PySR's algorithm at a size that runs in seconds on two cores.
    pub fn cli_default() -> Self {
        SearchOptions { populations: 16, population_size: 27, iterations: 30, cycles: 100, maxsize: 20, ..Self::pysr() }
    }

    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, String); 8] = [
            (
                (1..=256).contains(&self.populations),
                format!("--populations must be 1 to 256, got {}", self.populations),
            ),
            (
                (4..=1000).contains(&self.population_size),
                format!("--population-size must be 4 to 1000, got {}", self.population_size),
            ),
            (
                (1..=10_000).contains(&self.iterations),
                format!("--iterations must be 1 to 10000, got {}", self.iterations),
            ),
            ((1..=100_000).contains(&self.cycles), format!("--cycles must be 1 to 100000, got {}", self.cycles)),
            ((3..=60).contains(&self.maxsize), format!("--maxsize must be 3 to 60, got {}", self.maxsize)),
            (
                (2..=self.population_size).contains(&self.tournament_size),
                format!(
                    "--population-size must be at least the tournament size {}, got {}",
                    self.tournament_size, self.population_size
                ),
            ),
            (
                (0.0..=1.0).contains(&self.tournament_p) && (0.0..=1.0).contains(&self.crossover),
                "the tournament and crossover probabilities must be in [0, 1]".into(),
            ),
            (
                self.parsimony.is_finite() && self.parsimony >= 0.0 && self.adaptive_parsimony.is_finite(),
                format!("--parsimony must be a number at least 0, got {}", self.parsimony),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(message),
            None => Ok(()),
        }
    }
}
