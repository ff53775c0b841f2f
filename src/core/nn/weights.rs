//! Weights files: versioned JSON that `nde`, the page and the GPU executor all read.
//! Loading validates everything (format, version, shape, finite values) and says what is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mlp::{Mlp, MlpConfig};
use crate::core::limits::PARAMETER_MAGNITUDE;

pub const FORMAT: &str = "nde-playground-mlp";
pub const VERSION: u32 = 1;

/// The file as written. `meta` carries what the model means (process, parameterisation,
/// data set), as strings, so readers can refuse a model trained for something else.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WeightsFile {
    format: String,
    version: u32,
    config: MlpConfig,
    #[serde(default)]
    meta: BTreeMap<String, String>,
    /// Option so that a `null` (how JSON writers spell NaN) gets our message, not serde's.
    params: Vec<Option<f64>>,
}

/// Serialises a model and its metadata.
pub fn save(mlp: &Mlp, meta: &BTreeMap<String, String>) -> String {
    let file = WeightsFile {
        format: FORMAT.into(),
        version: VERSION,
        config: mlp.config,
        meta: meta.clone(),
        params: mlp.params.iter().map(|p| Some(f64::from(*p))).collect(),
    };
    serde_json::to_string(&file).expect("weights serialise")
}

/// Reads and validates a weights file.
pub fn load(text: &str) -> Result<(Mlp, BTreeMap<String, String>), String> {
    let probe: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON file ({e}); expected weights written by `nde train`"))?;
    match probe.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format is '{other}', expected '{FORMAT}': this is not a weights file")),
        None => return Err(format!("no \"format\" field: expected a '{FORMAT}' weights file written by `nde train`")),
    }
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => return Err(format!("weights version {v} is not supported (this build reads version {VERSION})")),
        None => return Err("no \"version\" field in the weights file".into()),
    }
    let file: WeightsFile = serde_json::from_value(probe).map_err(|e| format!("malformed weights file: {e}"))?;
    file.config.validate().map_err(|e| format!("weights file config: {e}"))?;
    let expected = file.config.param_count();
    if file.params.len() != expected {
        return Err(format!(
            "the weights file has {} parameters but its config (width {}, depth {}) needs {expected}",
            file.params.len(),
            file.config.width,
            file.config.depth
        ));
    }
    let mut params = Vec::with_capacity(expected);
    for (i, p) in file.params.iter().enumerate() {
        match p {
            Some(v) if v.is_finite() && v.abs() <= PARAMETER_MAGNITUDE => params.push(*v as f32),
            Some(v) if v.is_finite() => {
                return Err(format!(
                    "params[{i}] is {v:e}, beyond the ±{PARAMETER_MAGNITUDE:e} a trained network has: the model diverged or the file was edited"
                ))
            }
            _ => return Err(format!("params[{i}] is not a finite number: the model diverged or the file is damaged")),
        }
    }
    Ok((Mlp { config: file.config, params }, file.meta))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn round_trip_keeps_every_bit() {
        let mlp = Mlp::new(MlpConfig::default(), 5).unwrap();
        let meta = BTreeMap::from([("process".to_string(), "vp".to_string())]);
        let (back, back_meta) = load(&save(&mlp, &meta)).unwrap();
        assert_eq!(back, mlp);
        assert_eq!(back_meta, meta);
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let mlp = Mlp::new(MlpConfig { width: 16, depth: 1, ..MlpConfig::default() }, 5).unwrap();
        let good: serde_json::Value = serde_json::from_str(&save(&mlp, &BTreeMap::new())).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            load(&v.to_string()).unwrap_err()
        };
        assert!(load("not json").unwrap_err().contains("not a JSON file"));
        assert!(edit(&|v| v["format"] = "other".into()).contains("not a weights file"));
        assert!(edit(&|v| v["version"] = 2.into()).contains("version 2 is not supported"));
        assert!(edit(&|v| v["config"]["width"] = 1000.into()).contains("width 1000"));
        assert!(edit(&|v| v["params"].as_array_mut().unwrap().pop().map(|_| ()).unwrap()).contains("needs"));
        assert!(edit(&|v| v["params"][3] = serde_json::Value::Null).contains("params[3] is not a finite number"));
        assert!(edit(&|v| v["params"][4] = 1e300.into()).contains("params[4]"));
        assert!(edit(&|v| v["params"][5] = 2e6.into()).contains("params[5] is 2e6"));
    }
}
