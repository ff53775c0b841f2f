//! A panic must never leave a blank page: the hook writes the message into the page (and
//! the console), then wasm traps as usual.

/// Must go through Yew: its renderer replaces any hook not set by `set_custom_panic_hook`.
pub fn install() {
    yew::set_custom_panic_hook(Box::new(|info| {
        let message = info.to_string();
        web_sys::console::error_1(&format!("NDE Playground crashed: {message}").into());
        show(&message);
    }));
}

fn show(message: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let panel = match document.get_element_by_id("fatal-error") {
        Some(panel) => panel,
        None => {
            let Ok(panel) = document.create_element("div") else { return };
            panel.set_id("fatal-error");
            if let Some(body) = document.body() {
                let _ = body.append_child(&panel);
            }
            panel
        }
    };
    let _ = panel.set_attribute("data-testid", "fatal-error");
    let _ = panel.set_attribute("role", "alert");
    panel.set_text_content(Some(&format!(
        "Something went wrong and the playground stopped: {message}\n\nReload the page to start again. \
         If it happens again, please report it with this message."
    )));
    let _ = panel.set_attribute("style", "display: block");
}
