//! The deep equilibrium lab: a DEQ classifier whose layer is a fixed point, found by four
//! root finders and differentiated four ways. Plain state with no DOM in it, tested
//! natively; `ui::deq` draws it.

pub mod lab;
pub mod settings;

pub use lab::DeqLab;
pub use settings::DeqSettings;
