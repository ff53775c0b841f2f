//! The centre column: the main canvas (data, field, clicked particles' paths and, when
//! asked, the panels' samples), the field controls, the scrubber, exports and the share
//! link; and the progress row above the columns.

use yew::prelude::*;

use super::canvases::Canvases;
use super::paint;
use crate::playground::diffusion::settings::FieldView;
use crate::playground::diffusion::Engine;
use crate::ui::browser;
use crate::ui::controls::{input, select, Act, Choice};

const MAIN_SIZE: u32 = 480;

/// What is running and how far along it is; it keeps its place when idle, so that starting
/// a run does not move the whole page (a relayout costs a frame).
pub fn progress_row(e: &Engine, act: &Act) -> Html {
    html! {
        <div class="progress" data-testid="progress">
            if let Some(steps) = e.replay_pending {
                <span>{ format!("the link records {steps} training steps") }</span>
                <button class="small" data-testid="replay-link" onclick={act.on_click(|en| { en.start_replay(); Ok(()) })}>{ "Replay" }</button>
            } else if let Some((label, fraction)) = e.progress() {
                <span>{ label }</span>
                <progress max="1" value={format!("{fraction:.3}")}></progress>
            } else {
                <span class="idle">{ "idle" }</span>
            }
        </div>
    }
}

pub fn view(e: &Engine, act: &Act, canvases: &Canvases, draw_mode: &UseStateHandle<bool>, link: &AttrValue) -> Html {
    let s = &e.settings;
    let field_choices = Choice::plain(FieldView::ALL.iter().map(|v| v.name()));
    let on_canvas_click = {
        let act = act.clone();
        let draw_mode = draw_mode.clone();
        let main = canvases.main.clone();
        Callback::from(move |ev: MouseEvent| {
            let Some(canvas) = main.cast::<web_sys::HtmlCanvasElement>() else { return };
            let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
            let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
            let p = paint::to_data(
                f64::from(ev.offset_x()) * scale_x,
                f64::from(ev.offset_y()) * scale_y,
                f64::from(canvas.width()),
                f64::from(canvas.height()),
            );
            let drawing = *draw_mode;
            act.run(|engine| {
                if drawing {
                    engine.draw_point(p);
                } else {
                    engine.seed_at(p);
                }
                Ok(())
            });
        })
    };
    let on_weights = act.on_file(|engine, name, text| engine.import_weights(name, text));
    let on_scrub = {
        let act = act.clone();
        Callback::from(move |ev: InputEvent| {
            let element: web_sys::HtmlInputElement = ev.target_unchecked_into();
            let value = element.value_as_number() / 1000.0;
            act.run(|engine| {
                engine.set_scrub(value);
                Ok(())
            });
        })
    };
    let on_copy = {
        let link = link.to_string();
        let act = act.clone();
        Callback::from(move |_| {
            let link = link.clone();
            let act = act.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let result = browser::copy_to_clipboard(&link).await;
                act.run(|engine| {
                    result?;
                    engine.notify("link copied");
                    Ok(())
                });
            });
        })
    };
    let on_png = {
        let main = canvases.main.clone();
        let act = act.clone();
        Callback::from(move |_| {
            act.run(|_| {
                let canvas = main.cast::<web_sys::HtmlCanvasElement>().ok_or("no canvas")?;
                let url = canvas.to_data_url().map_err(|_| "the browser refused to export the canvas".to_string())?;
                browser::download_url("nde-playground.png", &url)
            });
        })
    };
    let on_weights_export =
        act.on_click(|engine| browser::download_text("nde-weights.json", "application/json", &engine.weights_json()));
    let on_data_export = act.on_click(|engine| browser::download_text("nde-data.csv", "text/csv", &engine.data_csv()));
    let toggle_draw = {
        let draw_mode = draw_mode.clone();
        Callback::from(move |_| draw_mode.set(!*draw_mode))
    };
    let drawing = **draw_mode;
    html! {
        <section class="column center" aria-label="The main view" data-testid="column-center">
            <canvas ref={canvases.main.clone()} data-testid="main-canvas" data-renderer="canvas2d" class={classes!("main", drawing.then_some("drawing"))}
                width={MAIN_SIZE.to_string()} height={MAIN_SIZE.to_string()} onclick={on_canvas_click}
                aria-label="the data, the field at time t, the panels' samples when shown, and clicked particles' paths"></canvas>
            <p class="caption">
                { if drawing { "Draw mode: click to add data points." } else { "Click to drop a particle at time T and follow it under each panel's sampler." } }
            </p>
            <div class="row">
                { select(act, "Field view", &field_choices, s.field_view.name(), Some("field-select"), |en, v| en.set_field_view(FieldView::from_name(v)?)) }
                { input(act, "at time t", "number", s.field_t.to_string(), Some("0.05"), Some("field-t-input"), "the diffusion time of the field view", |en, v| en.set_field_t(v)) }
                <button class={classes!(drawing.then_some("active"))} data-testid="draw-toggle" onclick={toggle_draw}>{ if drawing { "Drawing" } else { "Draw" } }</button>
                <label class="check" title="draw every panel's samples (at the scrubber's step) over the data, in the panel's colour">
                    <input type="checkbox" data-testid="show-samples" checked={s.show_samples}
                        onchange={act.on_change(|en| { en.toggle_show_samples(); Ok(()) })} />
                    <span>{ "samples" }</span>
                </label>
            </div>
            <p class="caption" data-testid="field-caption">{ field_caption(e) }</p>
            <label class="scrubber">
                <button class="small" data-testid="scrub-play" title="P: play every panel through its steps"
                    onclick={act.on_click(|en| { en.toggle_scrub_play(); Ok(()) })}>{ if e.scrub_playing { "❚❚" } else { "▶" } }</button>
                <span>{ "Step" }</span>
                <input type="range" min="0" max="1000" step="1" value={((s.scrub * 1000.0).round() as i64).to_string()}
                    data-testid="step-scrubber" aria-label="move every panel through its steps (arrow keys)" oninput={on_scrub} />
                <span data-testid="scrub-value">{ format!("{:.0}%", s.scrub * 100.0) }</span>
            </label>
            <div class="buttons">
                <button data-testid="export-png" onclick={on_png}>{ "Canvas PNG" }</button>
                <button data-testid="export-weights" onclick={on_weights_export}>{ "Weights JSON" }</button>
                <button data-testid="export-data" onclick={on_data_export} title="the training data as x,y rows (what a link cannot carry)">{ "Data CSV" }</button>
                <label class="file-button">{ "Import weights" }
                    <input type="file" accept=".json,application/json" data-testid="weights-upload" aria-label="import weights JSON" onchange={on_weights} />
                </label>
            </div>
            <label class="field share">
                <span>{ "Share link" }</span>
                <input type="text" readonly=true value={link.clone()} data-testid="share-link" aria-label="a link that reproduces this view" />
                <button onclick={on_copy}>{ "Copy" }</button>
            </label>
            <p class="caption">{ "Keys: Space train/pause · S step · R run samplers · P play steps · ←/→ scrub" }</p>
        </section>
    }
}

fn field_caption(engine: &Engine) -> String {
    let Some(field) = &engine.field else { return "Field view off.".into() };
    let what = match engine.settings.field_view {
        FieldView::Off => return "Field view off.".into(),
        FieldView::Arrows if field.exact.is_some() => "Learned score (blue) and exact score (grey), as σ_t·s",
        FieldView::Arrows => "Learned score as σ_t·s (no exact score: the data is not a mixture)",
        FieldView::Error if field.error.is_some() => "Error |σ_t (s_learned − s_exact)|",
        FieldView::Error => "No exact score for this data: the error view needs a mixture (gmm8, gmm25)",
        FieldView::Density if field.density_is_exact => "Exact density of x_t",
        FieldView::Density => "Density of x_t (histogram of noised data)",
    };
    match field.weighted_error {
        Some(err) => format!("{what} at t = {:.2}. Mean error where the data is: {err:.3}.", field.t),
        None => format!("{what} at t = {:.2}.", field.t),
    }
}
