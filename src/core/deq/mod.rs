//! Deep equilibrium models (LABS.md, Lab E): a layer defined by a fixed point z* = f(z*, x),
//! found by any root finder. This part holds the root finders, each a loop over one map
//! `z ↦ f(z)` with the same stopping rule and the same record (residual per iteration):
//! plain fixed-point iteration, Anderson acceleration, Broyden's method with a low-rank
//! inverse, and the steady state of the ODE z' = f(z) − z; and the affine test problem
//! whose fixed point and iteration bounds are known.

pub mod affine;
pub mod anderson;
pub mod broyden;
pub mod data;
pub mod fixed_point;
pub mod layer;
pub mod root;
pub mod steady_state;
pub mod train;
