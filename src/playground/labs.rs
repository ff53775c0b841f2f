//! The registry of labs. A lab is a DOM-free state module under `playground/<lab>/` and thin
//! components under `ui/<lab>/`; adding one is its two modules and one line in `LABS` (and
//! the matching arm in `ui::app`, which the compiler asks for). A lab is listed only once it
//! works: the page shows no placeholder tabs.

/// Which lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabId {
    Diffusion,
    Node,
    Ncde,
    Nsde,
    Symreg,
    Deq,
    Odice,
    Inverse,
}

/// What the shell shows of a lab.
#[derive(Debug, Clone, Copy)]
pub struct LabInfo {
    pub id: LabId,
    /// Its name in the address (`?lab=NAME`).
    pub name: &'static str,
    /// Its tab's label.
    pub title: &'static str,
    /// The line under the title while it is open.
    pub tagline: &'static str,
}

/// Every lab, in tab order.
pub const LABS: [LabInfo; 8] = [
    LabInfo {
        id: LabId::Diffusion,
        name: "diffusion",
        title: "Diffusion",
        tagline: "train a diffusion model on toy 2D data and race samplers on it",
    },
    LabInfo {
        id: LabId::Node,
        name: "node",
        title: "Neural ODE",
        tagline:
            "fit a neural or hybrid vector field to trajectories, and see how each gradient method is right or wrong",
    },
    LabInfo {
        id: LabId::Ncde,
        name: "ncde",
        title: "Neural CDE",
        tagline: "classify irregular, partly missing time series, and see why time must be a channel",
    },
    LabInfo {
        id: LabId::Nsde,
        name: "nsde",
        title: "Neural SDE",
        tagline: "learn a distribution of time series with a latent SDE, and check it against exact marginals",
    },
    LabInfo {
        id: LabId::Symreg,
        name: "symreg",
        title: "Symbolic regression",
        tagline: "recover the equations behind a learned vector field by regularised evolution",
    },
    LabInfo {
        id: LabId::Deq,
        name: "deq",
        title: "Deep equilibrium",
        tagline: "a layer that is a fixed point: four root finders, and implicit gradients against unrolled ones",
    },
    LabInfo {
        id: LabId::Odice,
        name: "odice",
        title: "ODICE",
        tagline:
            "offline RL's value learning three ways: semi-, true- and orthogonal-gradient, from and away from the data",
    },
    LabInfo {
        id: LabId::Inverse,
        name: "inverse",
        title: "Controllable generation",
        tagline: "condition an unconditional score: classes, inpainting, colourisation and restoration, against exact answers",
    },
];

/// The lab an address without `lab=` opens.
pub const DEFAULT_LAB: LabId = LabId::Diffusion;

impl LabId {
    pub fn info(self) -> &'static LabInfo {
        LABS.iter().find(|l| l.id == self).expect("every lab is in LABS")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Result<LabId, String> {
        LABS.iter().find(|l| l.name == name).map(|l| l.id).ok_or_else(|| {
            let names: Vec<&str> = LABS.iter().map(|l| l.name).collect();
            format!("unknown lab '{name}': the labs are {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_lab_is_found_by_its_name_and_names_are_unique() {
        for lab in LABS {
            assert_eq!(LabId::from_name(lab.name).unwrap(), lab.id);
            assert_eq!(LABS.iter().filter(|l| l.name == lab.name).count(), 1);
        }
        assert!(LabId::from_name("ode").unwrap_err().contains("diffusion"));
    }
}
