//! What the main view shows besides the data: the field at time t, and the scrubber that
//! moves every panel through its steps.

use super::*;

impl Engine {
    /// Draws (or stops drawing) every panel's samples over the data in the main view.
    pub fn toggle_show_samples(&mut self) {
        self.settings.show_samples = !self.settings.show_samples;
        self.status.changed();
    }

    pub fn set_scrub(&mut self, fraction: f64) {
        self.settings.scrub = fraction.clamp(0.0, 1.0);
        self.scrub_playing = false;
        self.status.changed();
    }

    /// Moves the scrubber by `delta` (a fraction of the steps), as the arrow keys do.
    pub fn nudge_scrub(&mut self, delta: f64) {
        self.set_scrub(self.settings.scrub + delta);
    }

    /// Plays the scrubber from where it is (from the start when it is at the end) to the
    /// end, moving every panel through its steps; again to stop.
    pub fn toggle_scrub_play(&mut self) {
        self.scrub_playing = !self.scrub_playing;
        if self.scrub_playing && self.settings.scrub >= 1.0 {
            self.settings.scrub = 0.0;
        }
        self.scrub_clock = None;
        self.status.changed();
    }

    pub(super) fn animate_scrub(&mut self, now: f64) {
        if !self.scrub_playing {
            return;
        }
        let last = self.scrub_clock.replace(now).unwrap_or(now);
        self.settings.scrub = (self.settings.scrub + (now - last) / SCRUB_ANIMATION_MS).min(1.0);
        if self.settings.scrub >= 1.0 {
            self.scrub_playing = false;
        }
        self.status.changed();
    }

    pub fn set_field_t(&mut self, text: &str) -> Result<(), String> {
        self.settings.field_t = limits::FIELD_T.parse("field time t", text)?;
        self.field_stale = true;
        self.status.changed();
        Ok(())
    }

    pub fn set_field_view(&mut self, view: FieldView) -> Result<(), String> {
        self.settings.field_view = view;
        self.field_stale = true;
        self.status.changed();
        Ok(())
    }

    pub(super) fn compute_field(&mut self, now: f64) {
        let process = self.session.trainer.process;
        let t = self.settings.field_t.min(process.t_max());
        let mut model = self.current_model();
        let view = self.settings.field_view;
        let needs = field::Needs {
            arrows: view == FieldView::Arrows,
            error: view == FieldView::Error,
            density: view == FieldView::Density,
        };
        self.field =
            Some(field::compute(&mut model, self.session.param, &process, t, self.mixture.as_ref(), &self.data, needs));
        self.field_stale = false;
        self.field_time = now;
        self.status.changed();
    }
}
