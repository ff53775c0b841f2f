//! The symbolic regression lab's core (LABS.md, Lab D): expressions as prefix node vectors
//! with their evaluation and gradients, the simplifier, the mutations and crossover,
//! regularised evolution over populations with the hall of fame and the Pareto front, and
//! the constants' fit.

pub mod evolve;
pub mod expr;
pub mod fit;
pub mod mutate;
pub mod options;
pub mod pareto;
pub mod pipeline;
pub mod simplify;
