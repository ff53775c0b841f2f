//! The lab's data: a toy set or drawn and uploaded points, and what changing them does to
//! the model (a new network: the old weights were trained on other data).

use super::*;

/// The data a settings value describes.
pub(super) fn data_of(settings: &Settings) -> Result<(Vec<Point>, Option<GaussianMixture>), String> {
    match settings.dataset {
        DataChoice::Custom if settings.custom_points.len() < 2 => Err("custom data needs at least 2 points".into()),
        DataChoice::Custom => Ok((settings.custom_points.clone(), None)),
        DataChoice::Toy(set) => Ok((set.sample(settings.points, settings.data_seed, settings.noise), set.mixture())),
    }
}

impl Engine {
    /// Rebuilds the data from the settings and starts the model again (the old weights were
    /// trained on other data).
    pub(super) fn data_changed(&mut self) {
        match data_of(&self.settings) {
            Ok((data, mixture)) => {
                self.data = data;
                self.mixture = mixture;
                self.settings.start = Start::Default;
                self.rebuild_model();
            }
            Err(e) => self.status.error(e),
        }
        self.status.changed();
    }

    pub fn set_dataset(&mut self, choice: DataChoice) -> Result<(), String> {
        match choice {
            DataChoice::Custom if self.settings.custom_points.len() < 2 => {
                return Err("draw points on the canvas (Draw mode) or upload a CSV to make a custom data set".into());
            }
            DataChoice::Custom => {}
            DataChoice::Toy(set) => self.settings.noise = set.default_noise(),
        }
        self.settings.dataset = choice;
        self.data_changed();
        Ok(())
    }

    pub fn set_points(&mut self, text: &str) -> Result<(), String> {
        self.settings.points = limits::PAGE_POINTS.parse("points", text)?;
        self.data_changed();
        Ok(())
    }

    pub fn set_noise(&mut self, text: &str) -> Result<(), String> {
        self.settings.noise = limits::NOISE.parse("noise", text)?;
        self.data_changed();
        Ok(())
    }

    pub fn set_data_seed(&mut self, text: &str) -> Result<(), String> {
        self.settings.data_seed = limits::LINK_SEED.parse("data seed", text)?;
        self.data_changed();
        Ok(())
    }

    /// Adds a drawn point (switching to a custom data set, empty at first).
    pub fn draw_point(&mut self, p: [f32; 2]) {
        if self.settings.dataset != DataChoice::Custom {
            self.settings.custom_points.clear();
            self.settings.dataset = DataChoice::Custom;
        }
        self.settings.custom_points.push([f64::from(p[0]), f64::from(p[1])]);
        if self.settings.custom_points.len() >= 2 {
            self.data_changed();
        } else {
            self.status.changed();
        }
    }

    /// Reads an uploaded CSV of x,y rows; on error nothing changes and the message names the line.
    pub fn load_csv(&mut self, file_name: &str, text: &str) -> Result<(), String> {
        let points = parse_points(text).map_err(|e| format!("{file_name}: {e}"))?;
        if points.len() < 2 {
            return Err(format!("{file_name}: {} point(s); a data set needs at least 2", points.len()));
        }
        limits::UPLOAD_POINTS.check(&format!("{file_name}: the number of points"), points.len())?;
        if let Some((i, p)) = points.iter().enumerate().find(|(_, p)| limits::check_point("", **p).is_err()) {
            return Err(format!(
                "{file_name}: row {} ({}, {}) lies outside ±{} in a coordinate; rescale the data",
                i + 1,
                p[0],
                p[1],
                limits::COORDINATE
            ));
        }
        let outside = points.iter().filter(|p| p[0].abs() > field::EXTENT || p[1].abs() > field::EXTENT).count();
        if outside > 0 {
            self.status.notice(format!(
                "{file_name}: {outside} of {} points lie outside the view [-4.5, 4.5]²; rescale the data to see them",
                points.len()
            ));
        }
        if points.len() > MAX_LINK_POINTS {
            self.status.notice(format!(
                "{file_name}: {} points are too many for a link (at most {}): a shared link opens the default data; send the file with it (Export data saves it)",
                points.len(),
                MAX_LINK_POINTS
            ));
        }
        self.settings.custom_points = points;
        self.settings.dataset = DataChoice::Custom;
        self.data_changed();
        Ok(())
    }

    /// The training data as CSV (x,y with a header): what a link cannot carry travels this way.
    pub fn data_csv(&self) -> String {
        let mut out = String::from("x,y\n");
        for p in &self.data {
            out.push_str(&format!("{},{}\n", p[0], p[1]));
        }
        out
    }
}
