//! The symbolic regression lab: regularised evolution (SymbolicRegression.jl's algorithm)
//! recovers the equations behind a learned vector field, output by output; the visitor picks
//! from each Pareto front, fine-tunes the constants through the ODE solve and rounds them.
//! Plain state with no DOM in it, tested natively; `ui::symreg` draws it.

pub mod lab;
pub mod settings;

pub use lab::SymregLab;
pub use settings::SymregSettings;
