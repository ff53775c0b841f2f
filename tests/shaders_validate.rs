//! Test layer (b): every file under shaders/ parses and validates with naga, the WGSL
//! front end that wgpu itself uses, composed with the files it `requires`.
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::exec::shader_source::{composed, SHADER_FILES};

fn files_on_disk() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn validate(name: &str, text: &str) -> Result<naga::valid::ModuleInfo, String> {
    let module = naga::front::wgsl::parse_str(text).map_err(|e| e.emit_to_string_with_path(text, name))?;
    // WebGPU's baseline: no optional capabilities, so what passes here runs in every browser.
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(text, name))
}

#[test]
fn every_shader_file_is_registered() {
    let registered: Vec<String> = SHADER_FILES.iter().map(|(name, _)| name.to_string()).collect();
    let on_disk = files_on_disk();
    assert!(!on_disk.is_empty(), "shaders/ is empty");
    for name in &on_disk {
        assert!(name.ends_with(".wgsl"), "shaders/{name} is not a .wgsl file");
        assert!(registered.contains(name), "shaders/{name} is missing from SHADER_FILES in src/exec/shader_source.rs");
    }
    assert_eq!(registered.len(), on_disk.len(), "SHADER_FILES lists files that are not on disk");
}

#[test]
fn every_shader_file_validates_with_naga() {
    let mut failures = Vec::new();
    for name in files_on_disk() {
        let text = composed(&name).unwrap_or_else(|e| panic!("{e}"));
        match validate(&name, &text) {
            Ok(_) => println!("naga ok: {name}"),
            Err(report) => failures.push(report),
        }
    }
    assert!(failures.is_empty(), "WGSL that naga rejects:\n{}", failures.join("\n"));
}

#[test]
fn naga_rejects_broken_wgsl() {
    // The check above must be able to fail: a type error is caught.
    assert!(validate("broken.wgsl", "fn f() -> u32 { return 1.5; }").is_err());
    assert!(validate("broken.wgsl", "fn f( {").is_err());
}
