//! The web page's entry point (trunk builds this binary for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    nde_playground::ui::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    eprintln!("error: the playground runs in a browser: run `make serve` and open http://127.0.0.1:8080");
    std::process::ExitCode::from(2)
}
