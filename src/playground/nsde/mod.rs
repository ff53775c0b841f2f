//! The neural SDE lab: a latent SDE learns a distribution of time series (Ornstein-Uhlenbeck,
//! the SDE-GAN's time-dependent OU, geometric Brownian motion); its paths against the data's,
//! its marginals against the exact densities, its quadratic variation against the data's, and
//! two answers about SDE solvers (Ito or Stratonovich; one Brownian path at three step sizes).
//! Plain state with no DOM in it, tested natively; `ui::nsde` draws it.

pub mod lab;
pub mod settings;

pub use lab::NsdeLab;
pub use settings::NsdeSettings;
