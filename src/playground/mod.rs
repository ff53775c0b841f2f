//! The playground page's model: plain state and the work it schedules, with no DOM in it, so
//! that native tests drive everything the page does. `ui` only draws this and forwards events.

pub mod comparison;
pub mod engine;
pub mod field;
pub mod settings;
pub mod training;
