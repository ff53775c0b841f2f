//! The few browser services the page needs, each wrapped so that a failure becomes a message
//! for the banner rather than a panic.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn window() -> Result<web_sys::Window, String> {
    web_sys::window().ok_or_else(|| "not running in a browser window".to_string())
}

/// Milliseconds from the page's start (performance.now, or Date where it is missing).
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or_else(js_sys::Date::now, |p| p.now())
}

/// The page's query string (with its '?').
pub fn query() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

/// The page's address without its query.
pub fn base_url() -> String {
    web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))
        })
        .unwrap_or_default()
}

/// Puts `query` in the address bar without reloading or adding a history entry.
pub fn replace_query(query: &str) {
    if let Ok(history) = window().and_then(|w| w.history().map_err(|_| String::new())) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("?{query}")));
    }
}

/// Offers `text` as a file download called `name`.
pub fn download_text(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not make a file to download".to_string())?;
    let url =
        web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "could not make a download link".to_string())?;
    let result = download_url(name, &url);
    let _ = web_sys::Url::revoke_object_url(&url);
    result
}

/// Offers a URL (a data: or blob: URL) as a download called `name`.
pub fn download_url(name: &str, url: &str) -> Result<(), String> {
    let document = window()?.document().ok_or("no document")?;
    let anchor = document
        .create_element("a")
        .map_err(|_| "could not make a download link".to_string())?
        .dyn_into::<web_sys::HtmlAnchorElement>()
        .map_err(|_| "could not make a download link".to_string())?;
    anchor.set_href(url);
    anchor.set_download(name);
    anchor.click();
    Ok(())
}

/// The text of the first file chosen in a file input, with its name.
pub async fn read_chosen_file(input: &web_sys::HtmlInputElement) -> Result<Option<(String, String)>, String> {
    let Some(file) = input.files().and_then(|files| files.get(0)) else { return Ok(None) };
    let cap = crate::core::limits::FILE_BYTES as f64;
    if file.size() > cap {
        return Err(format!(
            "{}: {:.0} MB is more than the {:.0} MB the page reads",
            file.name(),
            file.size() / 1e6,
            cap / 1e6
        ));
    }
    let text = JsFuture::from(file.text())
        .await
        .map_err(|_| format!("{}: the browser could not read the file", file.name()))?;
    let text = text.as_string().ok_or_else(|| format!("{}: the file is not text", file.name()))?;
    Ok(Some((file.name(), text)))
}

/// Copies text to the clipboard (where the page is allowed to).
pub async fn copy_to_clipboard(text: &str) -> Result<(), String> {
    let clipboard = window()?.navigator().clipboard();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|_| "the browser refused the clipboard; copy the link by hand".to_string())
}

/// The canvas's 2D context.
pub fn context_2d(canvas: &web_sys::HtmlCanvasElement) -> Option<web_sys::CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
}

/// Runs `paint` on the 2D context of the canvas behind `node` with its size in pixels (does
/// nothing before the canvas is mounted).
pub fn with_context(node: &yew::NodeRef, paint: impl FnOnce(&web_sys::CanvasRenderingContext2d, f64, f64)) {
    if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
        if let Some(ctx) = context_2d(&canvas) {
            paint(&ctx, f64::from(canvas.width()), f64::from(canvas.height()));
        }
    }
}
