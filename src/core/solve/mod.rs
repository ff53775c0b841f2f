//! ODE and SDE solvers. A solver is a step over one interval; Runge-Kutta methods are
//! tableaus (data); the loops (fixed or PID-controlled) live apart from the steps.

pub mod brownian;
pub mod ode;
pub mod ode_batch;
pub mod order;
pub mod pid;
pub mod rk;
pub mod sde;
pub mod tableau;
