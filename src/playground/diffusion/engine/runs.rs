//! Sampler runs: the panels, the quality-versus-NFE sweep, the clicked particle's paths,
//! and the jobs handed to the GPU.

use super::*;

impl Engine {
    /// What the quality chart draws besides the finished points: the sweep's size and the
    /// panels' samplers (names and colours), so that a new sweep or a changed panel repaints it.
    pub fn sweep_signature(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.sweep.len().hash(&mut hasher);
        self.runs_started.hash(&mut hasher);
        for panel in &self.panels {
            panel.settings.sampler.name.hash(&mut hasher);
            panel.settings.nfe.hash(&mut hasher);
        }
        hasher.finish()
    }

    pub(super) fn clear_runs(&mut self) {
        for panel in &mut self.panels {
            panel.run = None;
            panel.seeded = None;
        }
        self.sweep.clear();
        self.snapshot = None;
    }

    pub fn add_panel(&mut self) -> Result<(), String> {
        if self.panels.len() >= MAX_PANELS {
            return Err(format!("at most {MAX_PANELS} sampler panels"));
        }
        // The registry's samplers that run here, the page's favourites first, an unused one
        // if there is one.
        let offered = samplers_for(&self.settings.process, self.settings.param);
        let favourite = |s: &&'static Sampler| ["ddim", "pf-heun", "unipc", "edm-heun", "pc"].contains(&s.name);
        let unused = |s: &&'static Sampler| !self.panels.iter().any(|p| p.settings.sampler == *s);
        let sampler = offered
            .iter()
            .copied()
            .find(|s| favourite(s) && unused(s))
            .or_else(|| offered.iter().copied().find(unused))
            .or_else(|| offered.first().copied())
            .ok_or("no sampler runs on this process")?;
        self.panels.push(Panel { settings: PanelSettings { sampler, nfe: 20 }, run: None, seeded: None });
        self.status.changed();
        Ok(())
    }

    pub fn remove_panel(&mut self, index: usize) {
        if index < self.panels.len() {
            self.panels.remove(index);
            self.sweep.clear();
            self.status.changed();
        }
    }

    pub fn set_panel_sampler(&mut self, index: usize, sampler: &'static Sampler) -> Result<(), String> {
        sampler
            .supports(&self.settings.process, &ModelCaps::network(self.settings.param))
            .map_err(|r| r.to_string())?;
        let panel = self.panels.get_mut(index).ok_or("no such panel")?;
        panel.settings.sampler = sampler;
        panel.run = None;
        panel.seeded = None;
        self.status.changed();
        Ok(())
    }

    pub fn set_panel_nfe(&mut self, index: usize, text: &str) -> Result<(), String> {
        let nfe = limits::PAGE_NFE.parse("NFE", text)?;
        let panel = self.panels.get_mut(index).ok_or("no such panel")?;
        panel.settings.nfe = nfe;
        panel.run = None;
        panel.seeded = None;
        self.status.changed();
        Ok(())
    }

    pub fn set_particles(&mut self, text: &str) -> Result<(), String> {
        self.settings.particles = limits::PAGE_PARTICLES.parse("particles", text)?;
        self.status.changed();
        Ok(())
    }

    pub(super) fn plan_for(&self, sampler: &Sampler, nfe: usize) -> Result<Plan, String> {
        let options = SamplerOptions { nfe, ..SamplerOptions::default() };
        sampler.build(self.settings.process, self.session.param, &options).map_err(|e| e.to_string())
    }

    pub(super) fn current_model(&self) -> MlpModel {
        MlpModel::new(self.session.trainer.mlp.clone(), self.session.param)
    }

    /// Starts every panel (and the quality-versus-NFE sweep) from the same noise, with the
    /// weights as they are now.
    pub fn run_samplers(&mut self) {
        self.runs_started += 1;
        self.snapshot = Some(self.current_model());
        self.sweep.clear();
        let seed = self.settings.sample_seed;
        let particles = if self.gpu && self.gpu_canvas {
            self.settings.particles
        } else {
            self.settings.particles.min(limits::PAGE_CPU_PARTICLES)
        };
        if particles < self.settings.particles {
            self.status.notice(format!(
                "{} particles per panel need a GPU that draws them in place (a hardware adapter); {} run here",
                self.settings.particles, particles
            ));
        }
        for index in 0..self.panels.len() {
            let settings = self.panels[index].settings.clone();
            match self.plan_for(settings.sampler, settings.nfe) {
                Ok(plan) => {
                    let run = PanelRun::new(plan, particles, seed, true);
                    self.panels[index].run = Some(self.assign(run));
                    for nfe in SWEEP_NFES {
                        if let Ok(plan) = self.plan_for(settings.sampler, nfe) {
                            let run = self.assign(PanelRun::new(plan, SWEEP_PARTICLES, seed, false));
                            self.sweep.push(SweepPoint { sampler: settings.sampler, run });
                        }
                    }
                }
                Err(e) => self.status.error(format!("{}: {e}", settings.sampler.name)),
            }
            self.panels[index].seeded = None;
        }
        if let Some(point) = self.seed_point {
            self.seed_at(point);
        }
        self.status.changed();
    }

    /// Marks a run for the GPU when the page has one, else for the workers when it has them.
    pub(super) fn assign(&mut self, mut run: PanelRun) -> PanelRun {
        run.executor = if self.gpu {
            Executor::Gpu
        } else if self.workers > 0 {
            Executor::Workers
        } else {
            return run;
        };
        run.external = Some(self.next_job);
        self.next_job += 1;
        // A panel's particles stay on the GPU, which draws them; the sweep's come back whole.
        run.resident = run.executor == Executor::Gpu && run.keep_frames && self.gpu_canvas;
        run
    }

    pub(super) fn runs_mut(&mut self) -> impl Iterator<Item = &mut PanelRun> {
        self.panels.iter_mut().filter_map(|p| p.run.as_mut()).chain(self.sweep.iter_mut().map(|s| &mut s.run))
    }

    /// The ids of the runs still waiting for another executor (a job whose run was replaced
    /// is not among them: its result would be thrown away).
    pub fn waiting_jobs(&self) -> Vec<u64> {
        let panels = self.panels.iter().filter_map(|p| p.run.as_ref());
        panels.chain(self.sweep.iter().map(|s| &s.run)).filter(|r| r.is_waiting()).filter_map(|r| r.external).collect()
    }

    /// The runs waiting for `executor` that have not been handed out yet.
    pub fn take_jobs(&mut self, executor: Executor) -> Vec<GpuJob> {
        let model = self
            .snapshot
            .get_or_insert_with(|| MlpModel::new(self.session.trainer.mlp.clone(), self.session.param))
            .data();
        let mut jobs = Vec::new();
        let handed = &mut self.handed_out;
        for run in self.panels.iter().filter_map(|p| p.run.as_ref()).chain(self.sweep.iter().map(|s| &s.run)) {
            if let (Some(id), true) = (run.external, run.is_waiting() && run.executor == executor) {
                if !handed.contains(&id) {
                    handed.push(id);
                    jobs.push(GpuJob {
                        id,
                        plan: run.plan.clone(),
                        options: run.whole_run_options(),
                        precision: job_precision(self.settings.gpu_precision, self.gpu_f16, &run.plan, &model),
                        model: model.clone(),
                        resident: run.resident,
                    });
                }
            }
        }
        jobs
    }

    /// Records which of the GPU's paths runs job `id` (the panel names it).
    pub fn note_gpu_path(&mut self, id: u64, path: &'static str) {
        if let Some(run) = self.runs_mut().find(|r| r.external == Some(id)) {
            run.gpu_path = Some(path);
        }
    }

    /// A job's result from the GPU or the workers. A failed job is run on the page's thread
    /// instead, with a message saying so.
    pub fn finish_job(&mut self, id: u64, result: Result<RunResult, String>, elapsed_ms: f64) {
        self.handed_out.retain(|h| *h != id);
        let mut failure = None;
        if let Some(run) = self.runs_mut().find(|r| r.external == Some(id)) {
            let outcome = result.and_then(|r| run.complete(r, elapsed_ms));
            if let Err(e) = outcome {
                let what = if run.executor == Executor::Gpu { "the GPU run" } else { "the workers' run" };
                failure = Some(format!("{}: {what} failed ({e}); running it on the CPU instead", run.plan.sampler));
                run.external = None;
                run.executor = Executor::Page;
                // The CPU keeps every particle on the host: at most its own share of them.
                run.resident = false;
                run.particles = run.particles.min(limits::PAGE_CPU_PARTICLES);
            }
        }
        if let Some(message) = failure {
            self.status.error(message);
        }
        self.status.changed();
    }

    /// Drops a particle at `point` (data coordinates) and follows it under each panel's sampler.
    pub fn seed_at(&mut self, point: [f32; 2]) {
        self.seed_point = Some(point);
        let mut model = match &self.snapshot {
            Some(m) => MlpModel::new(m.mlp.clone(), m.param),
            None => self.current_model(),
        };
        for index in 0..self.panels.len() {
            let settings = self.panels[index].settings.clone();
            let path = self
                .plan_for(settings.sampler, settings.nfe)
                .and_then(|plan| seeded_trajectory(&plan, &mut model, point, self.settings.sample_seed));
            self.panels[index].seeded = Some(path);
        }
        self.status.changed();
    }

    /// A panel's final samples as CSV (x,y with a header), which `nde` and the upload read.
    pub fn samples_csv(&self, index: usize) -> Result<String, String> {
        let run = self.panels.get(index).and_then(|p| p.run.as_ref()).ok_or("run the samplers first")?;
        let mut out = String::from("x,y\n");
        for p in &run.positions {
            out.push_str(&format!("{},{}\n", p[0], p[1]));
        }
        Ok(out)
    }
}

/// The precision a GPU job runs in: f16 where the visitor chose it, the page offers it and
/// the plan takes the op-major path (the only one with an f16 kernel); f32 otherwise.
pub fn job_precision(chosen: Precision, offered: bool, plan: &Plan, model: &ModelData) -> Precision {
    if chosen == Precision::F16 && offered && runs_op_major(plan, model) {
        Precision::F16
    } else {
        Precision::F32
    }
}

impl Engine {
    /// The page's checks passed in f16 too: the precision setting may take effect.
    pub fn offer_f16(&mut self) {
        self.gpu_f16 = true;
        self.status.changed();
    }

    /// The page will not offer f16 (`why`: no GPU, no shader-f16, or its check failed). A
    /// link that asked for it says so once and samples in f32, and the setting (and the link
    /// it writes) says f32, what the runs use.
    pub fn refuse_f16(&mut self, why: &str) {
        self.gpu_f16 = false;
        if self.settings.gpu_precision == Precision::F16 {
            self.settings.gpu_precision = Precision::F32;
            self.report(format!("link: precision=f16: {why}; samplers run in f32"));
        }
    }

    /// The GPU precision setting (the next run takes it). f16 is refused where the page does
    /// not offer it, with the reason.
    pub fn set_gpu_precision(&mut self, name: &str) -> Result<(), String> {
        let precision = Precision::from_name(name).map_err(|e| format!("GPU precision: {e}"))?;
        if precision == Precision::F16 && !self.gpu_f16 {
            return Err(
                "GPU precision: f16 needs a GPU whose adapter offers shader-f16 and whose op-major path passed the \
                 page's checks; this page samples in f32"
                    .into(),
            );
        }
        self.settings.gpu_precision = precision;
        self.status.changed();
        Ok(())
    }
}
