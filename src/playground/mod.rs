//! The playground page's model, with no DOM in it: the shell (which lab is open, its part
//! of the address, the messages every lab shows) and the labs, each a DOM-free state module
//! tested natively. `ui` only draws these and forwards events.

pub mod deq;
pub mod diffusion;
pub mod inverse;
pub mod labs;
pub mod ncde;
pub mod node;
pub mod nsde;
pub mod odice;
pub mod shell;
pub mod symreg;
