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

/// The f16 build of the op-major evaluation kernel (the host's variant of mlp_tiled.wgsl)
/// validates with f16 allowed, and not without it.
#[test]
fn the_f16_evaluation_kernel_validates() {
    use nde_playground::exec::gpu::op_major::{tiled_source, Precision};
    let text = tiled_source(Precision::F16).expect("the f16 variant is built");
    assert!(text.starts_with("enable f16;") && text.contains("alias tile_t = f16;"));
    let module = naga::front::wgsl::parse_str(&text).map_err(|e| e.emit_to_string_with_path(&text, "f16")).unwrap();
    let validate = |caps| naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps).validate(&module);
    validate(naga::valid::Capabilities::SHADER_FLOAT16).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&text)));
    assert!(validate(naga::valid::Capabilities::empty()).is_err(), "f16 must need the capability");
}

#[test]
fn naga_rejects_broken_wgsl() {
    // The check above must be able to fail: a type error is caught.
    assert!(validate("broken.wgsl", "fn f() -> u32 { return 1.5; }").is_err());
    assert!(validate("broken.wgsl", "fn f( {").is_err());
}

// ----- the Rust–WGSL contract -----

use nde_playground::exec::gpu::abi::{host_layouts, HostLayout, CODES, CODE_PREFIXES};

fn module_of(name: &str) -> naga::Module {
    let text = composed(name).unwrap_or_else(|e| panic!("{e}"));
    naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&text, name)))
}

/// The differences between a host struct and its twin in `module` (empty when they agree).
fn layout_differences(module: &naga::Module, host: &HostLayout) -> Vec<String> {
    let Some((_, ty)) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(host.name)) else {
        return vec![format!("{}: no struct {} in the shader", host.shader, host.name)];
    };
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        return vec![format!("{}: {} is not a struct", host.shader, host.name)];
    };
    let mut problems = Vec::new();
    if *span as usize != host.size {
        problems.push(format!("{}: {} is {} bytes in WGSL, {} in Rust", host.shader, host.name, span, host.size));
    }
    let shader: Vec<(String, usize)> =
        members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect();
    let rust: Vec<(String, usize)> = host.members.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    if shader != rust {
        problems.push(format!("{}: {} members differ:\n  WGSL {shader:?}\n  Rust {rust:?}", host.shader, host.name));
    }
    problems
}

#[test]
fn every_host_struct_matches_its_shader_twin_member_by_member() {
    let layouts = host_layouts();
    assert!(layouts.len() >= 4, "the host structs are all listed");
    let problems: Vec<String> =
        layouts.iter().flat_map(|host| layout_differences(&module_of(host.shader), host)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layout_check_catches_a_moved_member() {
    let mut host = host_layouts().into_iter().find(|l| l.name == "RunParams").unwrap();
    let module = module_of(host.shader);
    assert!(layout_differences(&module, &host).is_empty());
    host.members.swap(0, 1);
    assert!(!layout_differences(&module, &host).is_empty(), "a swapped pair of members must be caught");
    host.members.swap(0, 1);
    host.size += 16;
    assert!(!layout_differences(&module, &host).is_empty(), "a size change must be caught");
}

/// The shader constants named like a code table's (OP_, PROCESS_, PARAM_, ACT_) in `module`.
fn shader_codes(module: &naga::Module) -> Vec<(String, u32)> {
    module
        .constants
        .iter()
        .filter_map(|(_, c)| {
            let name = c.name.clone()?;
            CODE_PREFIXES.iter().any(|p| name.starts_with(p)).then_some(())?;
            match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => Some((name, v)),
                ref other => panic!("{name} is not a u32 literal: {other:?}"),
            }
        })
        .collect()
}

#[test]
fn every_code_table_matches_the_shaders() {
    let mut found: Vec<(String, u32)> = Vec::new();
    for name in files_on_disk() {
        for code in shader_codes(&module_of(&name)) {
            if !found.contains(&code) {
                found.push(code);
            }
        }
    }
    for (name, value) in CODES {
        let in_shader: Vec<u32> = found.iter().filter(|(n, _)| n == name).map(|(_, v)| *v).collect();
        assert_eq!(in_shader, vec![value], "{name}: Rust says {value}, the shaders say {in_shader:?}");
    }
    for (name, value) in &found {
        assert!(CODES.iter().any(|(n, _)| n == name), "the shaders declare {name} = {value}, which Rust does not");
    }
    // A code table is a set of distinct numbers.
    for prefix in CODE_PREFIXES {
        let mut values: Vec<u32> = CODES.iter().filter(|(n, _)| n.starts_with(prefix)).map(|(_, v)| *v).collect();
        let count = values.len();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), count, "two {prefix} codes share a number");
    }
}

/// The switches name their cases: a bare number in a `case` would bypass the table above.
#[test]
fn shader_switches_use_the_named_codes() {
    for name in files_on_disk() {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders").join(&name))
                .unwrap();
        for (line_number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("case ") {
                let bare =
                    rest.split([',', ':']).map(str::trim).any(|s| s.chars().next().is_some_and(|c| c.is_ascii_digit()));
                assert!(!bare, "shaders/{name}:{}: a case with a bare number: {line}", line_number + 1);
            }
        }
    }
}

/// The private arrays are sized by named constants, equal to the Rust limits they mirror.
#[test]
fn array_sizes_are_the_named_limits_of_the_rust_side() {
    use nde_playground::exec::gpu::abi::SIZES;
    for (constant, value, arrays) in SIZES {
        let mut declared = false;
        let mut sized = Vec::new();
        for name in files_on_disk() {
            let module = module_of(&name);
            for (_, c) in module.constants.iter() {
                if c.name.as_deref() == Some(constant) {
                    declared = true;
                    let literal = &module.global_expressions[c.init];
                    assert!(
                        matches!(literal, naga::Expression::Literal(naga::Literal::U32(v)) if *v == value),
                        "{name}: {constant} is {literal:?}, Rust says {value}"
                    );
                }
            }
            for (_, g) in module.global_variables.iter() {
                let Some(global) = g.name.as_deref().filter(|n| arrays.contains(n)) else { continue };
                match module.types[g.ty].inner {
                    naga::TypeInner::Array { size: naga::ArraySize::Constant(n), .. } => {
                        assert_eq!(n.get(), value, "{name}: {global} has {n} elements, {constant} is {value}");
                        sized.push(global.to_string());
                    }
                    ref other => panic!("{name}: {global} is not a fixed-size array: {other:?}"),
                }
            }
        }
        assert!(declared, "no shader declares {constant}");
        for array in arrays {
            assert!(sized.iter().any(|s| s == array), "no shader declares the array {array} sized by {constant}");
        }
    }
}
