//! The navigation learners' weights as a file (`nde lab odice run --env nav --out`, the
//! page's export and import, and the fit the page ships): every rule's V, V̄ and π with the
//! settings that made them, checked on the way in so that a file for other data or networks
//! is refused with a message that says which setting differs.

use serde::{Deserialize, Serialize};

use super::learner::{NavConfig, NavLearner, StepFigures};
use super::objective::UpdateRule;

/// One rule's networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleWeights {
    pub update: String,
    pub value: Vec<f32>,
    pub target: Vec<f32>,
    pub policy: Vec<f32>,
    /// The run's step figures, thinned to at most [`HISTORY_POINTS`] (the page's curves
    /// and late-gradient figures for a shipped fit).
    #[serde(default)]
    pub history: Vec<StepFigures>,
}

/// Most step figures a weights file keeps per rule.
pub const HISTORY_POINTS: usize = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdiceWeights {
    pub config: NavConfig,
    /// The behaviour data's episodes and action noise.
    pub episodes: usize,
    pub noise: f64,
    pub steps: usize,
    pub rules: Vec<RuleWeights>,
}

impl OdiceWeights {
    pub fn of(learners: &[NavLearner], episodes: usize, noise: f64) -> Self {
        OdiceWeights {
            config: learners.first().map_or_else(NavConfig::default, |l| l.config),
            episodes,
            noise,
            steps: learners.iter().map(|l| l.steps_done).min().unwrap_or(0),
            rules: learners
                .iter()
                .map(|l| RuleWeights {
                    update: l.rule.name().into(),
                    value: l.value.clone(),
                    target: l.target.clone(),
                    policy: l.policy.clone(),
                    history: l
                        .history
                        .iter()
                        .step_by(l.history.len().div_ceil(HISTORY_POINTS).max(1))
                        .copied()
                        .collect(),
                })
                .collect(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not an ODICE weights file ({e})"))
    }

    /// Puts the weights into `learners` (one per rule, fresh at `config`), after checking
    /// that they were made with the same data and networks. Nothing changes on an error.
    pub fn load_into(
        &self,
        learners: &mut [NavLearner],
        config: &NavConfig,
        episodes: usize,
        noise: f64,
    ) -> Result<(), String> {
        let c = &self.config;
        for (name, here, there) in [
            ("seed", config.seed as f64, c.seed as f64),
            ("width", config.width as f64, c.width as f64),
            ("episodes", episodes as f64, self.episodes as f64),
            ("noise", noise, self.noise),
        ] {
            if here != there {
                return Err(format!("the file was made with {name} {there}, the lab has {name} {here}"));
            }
        }
        let mut loaded = learners.to_vec();
        for learner in &mut loaded {
            let rule = learner.rule;
            let w = self
                .rules
                .iter()
                .find(|r| UpdateRule::from_name(&r.update) == Ok(rule))
                .ok_or_else(|| format!("the file has no weights for the {} rule", rule.name()))?;
            let (nv, np) = (learner.value.len(), learner.policy.len());
            if w.value.len() != nv || w.target.len() != nv || w.policy.len() != np {
                return Err(format!("the {} rule's networks have the wrong sizes", rule.name()));
            }
            if !w.value.iter().chain(&w.target).chain(&w.policy).all(|v| v.is_finite()) {
                return Err(format!("the {} rule's weights are not all finite", rule.name()));
            }
            learner.value = w.value.clone();
            learner.target = w.target.clone();
            learner.policy = w.policy.clone();
            learner.history = w.history.clone();
            learner.steps_done = self.steps;
        }
        learners.clone_from_slice(&loaded);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn learners(config: NavConfig) -> Vec<NavLearner> {
        UpdateRule::ALL.iter().map(|r| NavLearner::new(*r, config).unwrap()).collect()
    }

    #[test]
    fn weights_round_trip_and_a_mismatched_file_changes_nothing() {
        let config = NavConfig::default();
        let mut a = learners(config);
        a[1].value[0] = 0.25;
        a[2].policy[3] = -0.5;
        let text = serde_json::to_string(&OdiceWeights::of(&a, 300, 0.3)).unwrap();
        let mut b = learners(config);
        OdiceWeights::parse(&text).unwrap().load_into(&mut b, &config, 300, 0.3).unwrap();
        assert_eq!(b[1].value, a[1].value);
        assert_eq!(b[2].policy, a[2].policy);
        let fresh = learners(config);
        let mut c = learners(config);
        let err = OdiceWeights::parse(&text).unwrap().load_into(&mut c, &config, 100, 0.3).unwrap_err();
        assert!(err.contains("episodes"), "{err}");
        let mut w = OdiceWeights::parse(&text).unwrap();
        w.rules[2].policy[0] = f32::NAN;
        assert!(w.load_into(&mut c, &config, 300, 0.3).unwrap_err().contains("finite"));
        w.rules.pop();
        assert!(w.load_into(&mut c, &config, 300, 0.3).unwrap_err().contains("orthogonal"));
        assert_eq!(c[0].value, fresh[0].value);
        assert!(OdiceWeights::parse("{").unwrap_err().contains("not an ODICE"));
    }
}
