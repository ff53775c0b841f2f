//! The `nde` command-line tool; all of it lives in `nde_playground::cli`.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    nde_playground::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    // `nde` is a native tool; the browser build is the `playground` binary.
}
