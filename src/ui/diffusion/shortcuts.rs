//! The diffusion lab's keys. Space: play/pause; S or period: one step; R: run the samplers;
//! P: play the scrubber; arrows: move the scrubber. Keys typed into a field are the field's.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::ui::controls::Act;

/// Whether the diffusion lab's tab is the one shown (the shell marks it on its root), so that
/// keys pressed on another lab's tab do not drive this one unseen.
fn diffusion_is_open() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(".app").ok().flatten())
        .and_then(|app| app.get_attribute("data-lab"))
        .is_some_and(|lab| lab == "diffusion")
}

pub fn install_shortcuts(act: Act) {
    let handler = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if typing || e.ctrl_key() || e.meta_key() || e.alt_key() || !diffusion_is_open() {
            return;
        }
        match e.key().as_str() {
            " " => act.run(|engine| {
                engine.toggle_training();
                Ok(())
            }),
            "s" | "." => act.run(|engine| {
                engine.step_once();
                Ok(())
            }),
            "r" => act.run(|engine| {
                engine.run_samplers();
                Ok(())
            }),
            "p" => act.run(|engine| {
                engine.toggle_scrub_play();
                Ok(())
            }),
            "ArrowLeft" | "ArrowRight" => {
                let delta = if e.key() == "ArrowLeft" { -0.05 } else { 0.05 };
                act.run(|engine| {
                    engine.nudge_scrub(delta);
                    Ok(())
                })
            }
            _ => return,
        };
        e.prevent_default();
    });
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        let _ = document.add_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
    }
    handler.forget();
}
