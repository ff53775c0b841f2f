//! Reverse-mode differentiation for composed models: [`tape::Tape`].

pub mod tape;
