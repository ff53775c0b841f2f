//! The model and its training: the network's settings, the training session, the link's
//! replay of training steps, and weights in and out.

use super::*;

/// What a weights file records of the settings it was trained with.
fn meta_of(settings: &Settings) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("process".to_string(), settings.process.name().to_string()),
        ("param".to_string(), settings.param.name().to_string()),
        ("target".to_string(), settings.dataset.name().to_string()),
    ])
}

/// The network a settings value describes, checked.
fn config_of(settings: &Settings) -> Result<MlpConfig, String> {
    let config = settings.network();
    config.validate()?;
    Ok(config)
}

impl Engine {
    /// About how long replaying the link's training steps takes in the browser.
    pub fn replay_seconds(settings: &Settings) -> f64 {
        let Ok(config) = config_of(settings) else { return 0.0 };
        // Forward and backward: about three forward passes' multiply-adds per sample.
        let macs = 3.0 * config.macs_per_eval() as f64 * settings.batch as f64;
        settings.train_steps as f64 * macs / limits::BROWSER_TRAINING_MACS_PER_S
    }

    /// Replays the training steps a link recorded but did not replay when it opened.
    pub fn start_replay(&mut self) {
        if let Some(steps) = self.replay_pending.take() {
            self.replay_to = steps;
            self.run_after_replay = true;
            self.playing = false;
            // The runs on the starting weights would read as the link's results: clear them
            // until the replayed model has run.
            self.clear_runs();
            self.status.changed();
        }
    }

    /// Whether the shipped model was trained for exactly these settings.
    pub fn default_model_fits(&self) -> bool {
        Self::fits(&self.settings, &self.default_model)
    }

    pub(super) fn fits(settings: &Settings, default_model: &Option<(Mlp, BTreeMap<String, String>)>) -> bool {
        let Some((mlp, meta)) = default_model else { return false };
        let Ok(config) = config_of(settings) else { return false };
        let DataChoice::Toy(set) = settings.dataset else { return false };
        let says = |key: &str, value: &str| meta.get(key).map(String::as_str) == Some(value);
        mlp.config == config
            && says("target", set.name())
            && says("process", settings.process.name())
            && says("param", settings.param.name())
            && (set.mixture().is_some() || settings.noise == set.default_noise())
    }

    pub(super) fn new_session(
        settings: &Settings,
        data: &[Point],
        default_model: &Option<(Mlp, BTreeMap<String, String>)>,
    ) -> Result<TrainingSession, String> {
        settings.check_model()?;
        let (process, param) = (settings.process, settings.param);
        let mlp = match default_model {
            Some((mlp, _)) if settings.start == Start::Default && Self::fits(settings, default_model) => mlp.clone(),
            _ => Mlp::new(config_of(settings)?, settings.train_seed)?,
        };
        let objective = if process.is_flow() {
            Objective::FlowMatching
        } else {
            Objective::Dsm { param, weighting: Weighting::Default }
        };
        let config = TrainConfig {
            batch: settings.batch,
            learning_rate: settings.learning_rate,
            ema_decay: 0.999,
            seed: settings.train_seed,
        };
        let trainer = Trainer::new(mlp, process, objective, data.to_vec(), None, config)?;
        Ok(TrainingSession::new(trainer, param).with_schedule(settings.rate_changes.clone()))
    }

    pub(super) fn rebuild_model(&mut self) {
        // A new network starts at the rates shown now; the old one's changes are history.
        self.settings.rate_changes.clear();
        match Self::new_session(&self.settings, &self.data, &self.default_model) {
            Ok(session) => {
                self.session = session;
                self.settings.start =
                    if Self::fits(&self.settings, &self.default_model) && self.settings.start == Start::Default {
                        Start::Default
                    } else {
                        Start::Fresh
                    };
            }
            Err(e) => self.status.error(e),
        }
        self.playing = false;
        self.train_job = None;
        self.replay_to = 0;
        self.replay_pending = None;
        self.clear_runs();
        self.field_stale = true;
        let offered = samplers_for(&self.settings.process, self.settings.param);
        let before = self.panels.len();
        self.panels.retain(|p| offered.contains(&p.settings.sampler));
        if self.panels.len() < before {
            self.status.notice(format!(
                "removed {} panel(s) whose sampler does not run on {}",
                before - self.panels.len(),
                self.settings.process.name()
            ));
        }
    }

    /// A new process: a new network (a flow predicts a velocity; the others default to eps).
    pub fn set_process(&mut self, process: Process) -> Result<(), String> {
        let mut next = self.settings.clone();
        next.process = process;
        if process.is_flow() || next.param == Parameterisation::Flow {
            next.param = default_param(&process);
        }
        self.change_model(next)
    }

    pub fn set_param(&mut self, param: Parameterisation) -> Result<(), String> {
        self.change_model(Settings { param, ..self.settings.clone() })
    }

    pub fn set_width(&mut self, text: &str) -> Result<(), String> {
        self.change_model(Settings { width: limits::WIDTH.parse("width", text)?, ..self.settings.clone() })
    }

    pub fn set_depth(&mut self, text: &str) -> Result<(), String> {
        self.change_model(Settings { depth: limits::DEPTH.parse("depth", text)?, ..self.settings.clone() })
    }

    pub fn set_activation(&mut self, activation: Activation) -> Result<(), String> {
        self.change_model(Settings { activation, ..self.settings.clone() })
    }

    /// Takes `next` if its model is one the page can train, and starts a new network.
    pub(super) fn change_model(&mut self, mut next: Settings) -> Result<(), String> {
        next.check_model()?;
        self.check_batch(&next).map_err(|e| format!("{e}: lower the batch first"))?;
        next.start = Start::Default;
        self.settings = next;
        self.rebuild_model();
        self.status.changed();
        Ok(())
    }

    /// Takes effect at the next step, while training runs.
    pub fn set_learning_rate(&mut self, text: &str) -> Result<(), String> {
        let lr = limits::LEARNING_RATE.parse("learning rate", text)?;
        self.settings.learning_rate = lr;
        self.session.set_rate_and_batch(lr, self.settings.batch);
        self.status.changed();
        Ok(())
    }

    pub fn set_batch(&mut self, text: &str) -> Result<(), String> {
        let batch = limits::BATCH.parse("batch", text)?;
        self.check_batch(&Settings { batch, ..self.settings.clone() })?;
        self.settings.batch = batch;
        self.session.set_rate_and_batch(self.settings.learning_rate, batch);
        // The visitor chose a batch: a link's, kept for the GPU, no longer applies.
        self.link_batch = None;
        self.status.changed();
        Ok(())
    }

    /// Training on from the starting weights gives up the link's unreplayed steps and the
    /// rate changes still to come; what shows is what the session trains at.
    fn give_up_replay(&mut self) {
        if self.replay_pending.take().is_some() {
            self.session.drop_schedule();
            self.settings.learning_rate = self.session.trainer.config.learning_rate;
            self.settings.batch = self.session.trainer.config.batch;
            self.settings.rate_changes = self.session.changes().to_vec();
        }
    }

    pub fn toggle_training(&mut self) {
        self.give_up_replay();
        self.playing = !self.playing;
        if self.playing {
            self.session.stopped_because = None;
        }
        self.status.changed();
    }

    pub fn step_once(&mut self) {
        self.give_up_replay();
        self.playing = false;
        if let Err(e) = self.session.step() {
            self.status.error(format!("{e}; training paused."));
        }
        self.field_stale = true;
        self.status.changed();
    }

    /// Fresh weights from the training seed, and training paused.
    pub fn reset_training(&mut self) {
        self.settings.start = Start::Fresh;
        self.rebuild_model();
        self.status.changed();
    }

    /// The current weights in the format `nde sample --model FILE` reads.
    pub fn weights_json(&self) -> String {
        weights::save(&self.session.trainer.mlp, &meta_of(&self.settings))
    }

    /// Loads weights from a file; the network's shape, process and parameterisation come
    /// from the file. Nothing changes if the file is refused.
    pub fn import_weights(&mut self, file_name: &str, text: &str) -> Result<(), String> {
        let (mlp, meta) = weights::load(text).map_err(|e| format!("{file_name}: {e}"))?;
        if mlp.config.outputs != 2 || mlp.config.condition_dim != 0 {
            return Err(format!("{file_name}: not a score or velocity network for unconditional 2D data"));
        }
        let get = |key: &str| meta.get(key).cloned().ok_or(format!("{file_name}: meta.{key} is missing"));
        let mut next = self.settings.clone();
        next.process = page_process(&get("process")?).map_err(|e| format!("{file_name}: {e}"))?;
        next.param =
            Parameterisation::from_name(&get("param")?).map_err(|e| format!("{file_name}: meta.param: {e}"))?;
        next.check_model().map_err(|e| format!("{file_name}: {e}"))?;
        next.width = mlp.config.width;
        next.depth = mlp.config.depth;
        next.activation = mlp.config.activation;
        next.start = Start::Fresh;
        self.settings = next;
        self.rebuild_model();
        self.session = TrainingSession::new(
            Trainer::new(
                mlp,
                self.session.trainer.process,
                self.session.trainer.objective,
                self.data.clone(),
                None,
                self.session.trainer.config.clone(),
            )?,
            self.session.param,
        );
        self.status.notice(format!("{file_name}: weights loaded; a shared link cannot carry imported weights"));
        self.status.changed();
        Ok(())
    }
}
