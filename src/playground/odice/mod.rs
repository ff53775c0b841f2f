//! The ODICE lab (LABS.md, Lab F) in the page: the three value-update rules trained side by
//! side on the continuous navigation data, their V maps, rollouts and gradient curves.

pub mod lab;
pub mod settings;

pub use lab::OdiceLab;
pub use settings::OdiceSettings;
