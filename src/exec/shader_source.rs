//! The WGSL sources, embedded at compile time, and their composition.
//!
//! WGSL has no `#include`, so a shader file names the files it needs in header lines
//! `// requires: other.wgsl`; [`composed`] prepends them (depth first, each once). Every file
//! under shaders/ must be listed in [`SHADER_FILES`]: the naga test checks the listing against
//! the directory, so a new file cannot slip past validation.

/// (file name, source) of every file under shaders/.
pub const SHADER_FILES: &[(&str, &str)] = &[
    ("draw.wgsl", include_str!("../../shaders/draw.wgsl")),
    ("exact_trig.wgsl", include_str!("../../shaders/exact_trig.wgsl")),
    ("mixture.wgsl", include_str!("../../shaders/mixture.wgsl")),
    ("mlp.wgsl", include_str!("../../shaders/mlp.wgsl")),
    ("mlp_gradient.wgsl", include_str!("../../shaders/mlp_gradient.wgsl")),
    ("mlp_tiled.wgsl", include_str!("../../shaders/mlp_tiled.wgsl")),
    ("model_buffers.wgsl", include_str!("../../shaders/model_buffers.wgsl")),
    ("plan_abi.wgsl", include_str!("../../shaders/plan_abi.wgsl")),
    ("plan_adaptive.wgsl", include_str!("../../shaders/plan_adaptive.wgsl")),
    ("plan_interpreter.wgsl", include_str!("../../shaders/plan_interpreter.wgsl")),
    ("plan_mcmc.wgsl", include_str!("../../shaders/plan_mcmc.wgsl")),
    ("plan_model.wgsl", include_str!("../../shaders/plan_model.wgsl")),
    ("process.wgsl", include_str!("../../shaders/process.wgsl")),
    ("rng.wgsl", include_str!("../../shaders/rng.wgsl")),
    ("rng_fill.wgsl", include_str!("../../shaders/rng_fill.wgsl")),
    ("train_rows.wgsl", include_str!("../../shaders/train_rows.wgsl")),
    ("train_step.wgsl", include_str!("../../shaders/train_step.wgsl")),
];

/// A shader that could not be composed: a missing file or a cycle of `requires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaderSourceError(pub String);

impl std::fmt::Display for ShaderSourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShaderSourceError {}

/// The raw text of one shader file.
pub fn source(name: &str) -> Result<&'static str, ShaderSourceError> {
    SHADER_FILES.iter().find(|(file, _)| *file == name).map(|(_, text)| *text).ok_or_else(|| {
        ShaderSourceError(format!("no shader named {name}: add it to SHADER_FILES in src/exec/shader_source.rs"))
    })
}

/// The file names a source asks for in its `// requires: a.wgsl, b.wgsl` header lines.
pub fn requirements(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("// requires:"))
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect()
}

/// `name` with everything it requires placed before it, ready for naga or wgpu.
pub fn composed(name: &str) -> Result<String, ShaderSourceError> {
    let mut order = Vec::new();
    visit(name, &mut Vec::new(), &mut order)?;
    let mut out = String::new();
    for file in order {
        out.push_str(&format!("// ---- {file} ----\n"));
        out.push_str(source(file)?);
        out.push('\n');
    }
    Ok(out)
}

fn visit<'a>(name: &'a str, path: &mut Vec<&'a str>, order: &mut Vec<&'a str>) -> Result<(), ShaderSourceError> {
    if order.contains(&name) {
        return Ok(());
    }
    if path.contains(&name) {
        return Err(ShaderSourceError(format!("shader requires form a cycle: {} -> {name}", path.join(" -> "))));
    }
    path.push(name);
    let text = source(name)?;
    for required in requirements(text) {
        // Names come from 'static sources, so they can be borrowed for 'a via the table.
        let required =
            SHADER_FILES.iter().find(|(file, _)| *file == required).map(|(file, _)| *file).ok_or_else(|| {
                ShaderSourceError(format!("{name} requires {required}, which is not in SHADER_FILES"))
            })?;
        visit(required, path, order)?;
    }
    path.pop();
    order.push(name);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn requirements_are_read_from_header_lines() {
        assert_eq!(
            requirements("// requires: a.wgsl, b.wgsl\n// requires: c.wgsl\nfn f() {}"),
            vec!["a.wgsl", "b.wgsl", "c.wgsl"]
        );
        assert!(requirements("fn f() {}").is_empty());
    }

    #[test]
    fn composition_puts_dependencies_first() {
        let text = composed("rng_fill.wgsl").unwrap();
        let rng_at = text.find("fn philox4x32_10").unwrap();
        let fill_at = text.find("fn fill").unwrap();
        assert!(rng_at < fill_at);
        assert_eq!(text.matches("fn philox4x32_10").count(), 1);
    }

    #[test]
    fn unknown_shader_is_a_clear_error() {
        let err = composed("nope.wgsl").unwrap_err();
        assert!(err.0.contains("SHADER_FILES"), "{err}");
    }
}
