//! The `nde` binary's contract: help, `info --json`, and errors with status 2.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn nde(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).output().expect("nde runs")
}

#[test]
fn help_lists_the_commands() {
    let out = nde(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("info"), "{text}");
}

#[test]
fn info_json_is_one_object_with_version_adapter_and_features() {
    let out = nde(&["info", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object");
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
    let found = value["adapter"]["found"].as_bool().expect("adapter.found is a bool");
    if found {
        assert!(value["adapter"]["name"].is_string());
    } else {
        assert!(!value["adapter"]["why"].as_str().unwrap_or("").is_empty(), "a missing adapter says why");
    }
    assert!(value["features"].as_array().is_some_and(|f| !f.is_empty()));
}

#[test]
fn unknown_commands_and_flags_fail_with_status_2() {
    for args in [&["bogus"][..], &["info", "--no-such-flag"][..]] {
        let out = nde(args);
        assert_eq!(out.status.code(), Some(2), "nde {args:?}");
        assert!(out.stdout.is_empty(), "errors go to stderr only");
        assert!(!out.stderr.is_empty());
    }
}
