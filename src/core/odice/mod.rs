//! ODICE (Mao et al., ICLR 2024; LABS.md, Lab F): V-DICE's value objective with the Pearson
//! χ² conjugate, and its three update rules — semi-gradient (through V(s) only, with a target
//! network for V(s′)), true gradient, and the orthogonal-gradient update that projects the
//! backward gradient onto the normal plane of the forward one. This part holds the objective
//! and the rules (`objective`), the tabular 7×7 grid and its behaviour data (`grid`), and the
//! exact tabular analysis of each rule's fixed point (`tabular`). The grid is this project's
//! own layout: the paper's toy layout was not available.

pub mod grid;
pub mod learner;
pub mod nav;
pub mod objective;
pub mod tabular;
pub mod weights;
