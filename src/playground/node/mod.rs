//! The neural ODE lab: fit a neural or hybrid vector field to trajectories of a known system,
//! watch both flows in the phase portrait, and see how each gradient method is right or wrong.
//! Plain state with no DOM in it, tested natively; `ui::node` draws it.

pub mod cloud;
pub mod lab;
pub mod settings;

pub use lab::NodeLab;
pub use settings::NodeSettings;
