//! The controllable-generation lab (LABS.md, Lab G): conditional sampling with an unconditional
//! score (class guidance, inpainting, colourisation) and restoration with the mean-reverting
//! samplers, every method measured against the exact answer of a Gaussian mixture.

pub mod lab;
pub mod settings;

pub use lab::InverseLab;
pub use settings::InverseSettings;
