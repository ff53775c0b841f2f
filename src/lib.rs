//! NDE Playground: neural differential equations and score-based diffusion on toy 2D data.
//!
//! Layers (dependencies point down only):
//! - [`core`]: pure numerics, no web, GPU or I/O; builds for every target.
//! - [`exec`]: the executors (CPU reference and wgpu) and the GPU plumbing.
//! - `ui` (wasm only): the Yew page.
//! - `cli` (native only): the `nde` command-line tool.

pub mod core;
pub mod exec;
pub mod playground;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;

#[cfg(target_arch = "wasm32")]
pub mod ui;

// Unit tests of the library run in the browser too (the wasm-pack layer), in a dedicated
// worker: the numerical tests compute for tens of seconds, and on the page's main thread that
// trips chromedriver's 30-second renderer timeout.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);
