//! The page (wasm only): Yew components over pure state. Components stay thin; what can
//! be computed without the DOM lives in `core` or `exec` and is tested natively.

mod app;
mod backend_badge;
mod browser;
mod charts;
mod controls;
mod detect_backend;
mod paint;
mod panic_page;

pub use detect_backend::detect_backend;

/// Mounts the page into `#app` (index.html), after installing the panic page.
pub fn start() {
    panic_page::install();
    let document = web_sys::window().and_then(|w| w.document()).expect("a page has a document");
    let root = document.get_element_by_id("app").expect("index.html has <div id=\"app\">");
    yew::Renderer::<app::App>::with_root(root).render();
}
