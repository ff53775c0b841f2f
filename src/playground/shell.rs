//! What the shell around the labs owns: which lab the address opens, the address's lab part,
//! and the status every lab reports to it (its messages and its revision counters). A lab
//! writes its own settings into the address after `lab=`; the shell only splits and joins.

use super::labs::{LabId, DEFAULT_LAB};

/// Messages to show in the banners and the counters that say when to redraw.
#[derive(Debug, Clone, Default)]
pub struct LabStatus {
    /// Problems to show in the error banner (newest last).
    pub errors: Vec<String>,
    /// Things worth saying that are not errors.
    pub notices: Vec<String>,
    /// Bumped whenever what the lab shows changes.
    pub revision: u64,
    /// Bumped when what the canvases show changes (not by training steps alone, which only
    /// move the numbers and charts): the page repaints its canvases only then.
    pub view_revision: u64,
}

impl LabStatus {
    pub fn with_errors(errors: Vec<String>) -> Self {
        LabStatus { errors, ..LabStatus::default() }
    }

    /// Something the canvases show changed.
    pub fn changed(&mut self) {
        self.revision += 1;
        self.view_revision += 1;
    }

    /// Only numbers and charts changed (a training step).
    pub fn numbers_changed(&mut self) {
        self.revision += 1;
    }

    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Adds a notice, unless the banner already says it (a repeated action says it once).
    pub fn notice(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.notices.contains(&message) {
            self.notices.push(message);
        }
    }

    /// The visitor dismissed the banners.
    pub fn dismiss(&mut self) {
        self.errors.clear();
        self.notices.clear();
        self.changed();
    }
}

/// An address split into the lab it opens and that lab's own part of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub lab: LabId,
    /// The query without `lab=` (what the lab parses).
    pub lab_query: String,
    /// A complaint about the `lab=` value, if it named no lab.
    pub problem: Option<String>,
}

/// Applies a lab's part of the address, `key=value` pair by pair, with the lab's own checked
/// `set`: a pair it refuses is named in the returned problems and leaves that setting as it
/// was (the labs' links share this one reader; `%20` reads as a space).
pub fn apply_query<S>(
    settings: &mut S,
    query: &str,
    mut set: impl FnMut(&mut S, &str, &str) -> Result<(), String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for pair in query.trim_start_matches('?').split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Err(e) = set(settings, key, &value.replace("%20", " ")) {
            problems.push(format!("link: {e}; kept {key} at its default"));
        }
    }
    problems
}

/// A setting's number from the address or a field, or a message that names the setting.
pub fn parse_number<T: std::str::FromStr>(key: &str, text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| format!("{key}: '{text}' is not a number"))
}

/// A setting's on/off switch.
pub fn parse_on_off(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{key}: choose on or off, got '{value}'")),
    }
}

impl Location {
    /// Reads `?lab=NAME&...`. A link without `lab=` (every link made before there were
    /// labs) opens the default lab with the whole query, so old links keep working.
    pub fn parse(query: &str) -> Location {
        let query = query.trim_start_matches('?');
        let mut lab = DEFAULT_LAB;
        let mut problem = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.strip_prefix("lab=") {
                Some(name) => match LabId::from_name(name) {
                    Ok(id) => lab = id,
                    Err(e) => problem = Some(format!("link: {e}; opening the {} lab", DEFAULT_LAB.name())),
                },
                None => rest.push(pair),
            }
        }
        Location { lab, lab_query: rest.join("&"), problem }
    }

    /// The query (without '?') for `lab` showing `lab_query`.
    pub fn query(lab: LabId, lab_query: &str) -> String {
        if lab_query.is_empty() {
            format!("lab={}", lab.name())
        } else {
            format!("lab={}&{lab_query}", lab.name())
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn a_link_without_a_lab_opens_the_default_with_its_whole_query() {
        let old = Location::parse("?data=moons&width=32");
        assert_eq!(old.lab, DEFAULT_LAB);
        assert_eq!(old.lab_query, "data=moons&width=32");
        assert!(old.problem.is_none());
    }

    #[test]
    fn the_lab_part_round_trips_and_is_not_passed_to_the_lab() {
        let query = Location::query(LabId::Diffusion, "data=moons");
        assert_eq!(query, "lab=diffusion&data=moons");
        let back = Location::parse(&query);
        assert_eq!((back.lab, back.lab_query.as_str()), (LabId::Diffusion, "data=moons"));
    }

    #[test]
    fn an_unknown_lab_is_named_and_the_default_opens() {
        let bad = Location::parse("lab=nosuch&data=moons");
        assert_eq!(bad.lab, DEFAULT_LAB);
        let problem = bad.problem.unwrap();
        assert!(problem.contains("nosuch") && problem.contains("diffusion"), "{problem}");
        assert_eq!(bad.lab_query, "data=moons");
    }
}
