//! `nde lab <lab> <verb> … --json`: the labs on the command line. A lab's name here is its
//! name in the page's address (`?lab=NAME`); each verb prints one JSON object with `--json`
//! (the page's exports are the same objects), and errors go to stderr with status 2.

use clap::{Args, Subcommand};

use super::{lab_deq, lab_inverse, lab_ncde, lab_node, lab_nsde, lab_odice, lab_symreg};

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub lab: LabKind,
}

#[derive(Subcommand, Debug)]
pub enum LabKind {
    /// Neural ODEs: fit a neural or hybrid field to trajectories; compare gradient methods.
    Node(lab_node::NodeArgs),
    /// Neural CDEs: classify irregular, partly missing series; time as a channel.
    Ncde(lab_ncde::NcdeArgs),
    /// Neural SDEs: a latent SDE as a generative model of time series; Ito or Stratonovich; the Brownian tree.
    Nsde(lab_nsde::NsdeArgs),
    /// Symbolic regression: recover the equations behind a (learned) vector field by regularised evolution.
    Symreg(lab_symreg::SymregArgs),
    /// Deep equilibrium models: fixed points found four ways; implicit gradients against unrolled ones.
    Deq(lab_deq::DeqArgs),
    /// ODICE: semi-, true- and orthogonal-gradient value learning, on a tabular grid and a continuous navigation task.
    Odice(lab_odice::OdiceArgs),
    /// Inverse problems: conditional sampling with an unconditional score, against exact conditionals (no page yet).
    Inverse(lab_inverse::InverseArgs),
}

pub fn check(args: &LabArgs) -> Result<(), String> {
    match &args.lab {
        LabKind::Node(node) => lab_node::check(node),
        LabKind::Ncde(ncde) => lab_ncde::check(ncde),
        LabKind::Nsde(nsde) => lab_nsde::check(nsde),
        LabKind::Symreg(symreg) => lab_symreg::check(symreg),
        LabKind::Deq(deq) => lab_deq::check(deq),
        LabKind::Odice(odice) => lab_odice::check(odice),
        LabKind::Inverse(inverse) => lab_inverse::check(inverse),
    }
}

pub fn run(args: &LabArgs) -> Result<(), String> {
    match &args.lab {
        LabKind::Node(node) => lab_node::run(node),
        LabKind::Ncde(ncde) => lab_ncde::run(ncde),
        LabKind::Nsde(nsde) => lab_nsde::run(nsde),
        LabKind::Symreg(symreg) => lab_symreg::run(symreg),
        LabKind::Deq(deq) => lab_deq::run(deq),
        LabKind::Odice(odice) => lab_odice::run(odice),
        LabKind::Inverse(inverse) => lab_inverse::run(inverse),
    }
}
