//! The neural CDE lab: classify irregular, partly missing spirals by their orientation (or,
//! as a control, by their speed), with the interpolation, the dropped points, time as a
//! channel and the mask channels as toggles. Plain state with no DOM in it, tested natively;
//! `ui::ncde` draws it.

pub mod lab;
pub mod settings;
pub mod sweep;

pub use lab::NcdeLab;
pub use settings::NcdeSettings;
