//! The diffusion lab: train a score or velocity model on toy 2D data and race samplers on
//! it. Plain state and the work it schedules, with no DOM in it, so that native tests drive
//! everything the lab's page does; `ui::diffusion` only draws this and forwards events.

pub mod comparison;
pub mod engine;
pub mod field;
pub mod settings;

pub use engine::Engine;
pub use settings::Settings;
