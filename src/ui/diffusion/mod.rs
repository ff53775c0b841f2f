//! The diffusion lab's page: three columns (data and training | the main view | sampler
//! panels and metrics) over one `Engine`. Each column is a function of the engine's state
//! in its own file; this component owns the canvases and paints them after each render.

mod canvases;
pub(crate) mod charts;
mod data_column;
mod main_view;
pub(crate) mod paint;
mod samplers_column;
pub mod shortcuts;

use yew::prelude::*;

use crate::ui::controls::Act;
use crate::ui::gpu_runner::RunnerRef;
use canvases::{paint_after_render, Canvases, PaintState};

#[derive(Properties, PartialEq)]
pub struct DiffusionLabProps {
    pub act: Act,
    /// The shell's render count: the lab renders whenever the shell does (its engine changed).
    pub render: u64,
    /// The link that reopens this view (shown in the share box).
    pub link: AttrValue,
    /// The GPU runner, which draws the panels whose particles stay on the GPU.
    pub runner: RunnerRef,
}

#[component]
pub fn DiffusionLab(props: &DiffusionLabProps) -> Html {
    let act = props.act.clone();
    let canvases = use_memo((), |_| Canvases::default());
    let painted = use_mut_ref(PaintState::default);
    let draw_mode = use_state(|| false);
    {
        let (act, canvases, painted, runner) = (act.clone(), canvases.clone(), painted.clone(), props.runner.clone());
        use_effect(move || paint_after_render(&act, &canvases, &mut painted.borrow_mut(), &runner));
    }
    let engine = act.engine.borrow();
    html! {
        <>
            { main_view::progress_row(&engine, &act) }
            <main class="columns">
                { data_column::view(&engine, &act, &canvases) }
                { main_view::view(&engine, &act, &canvases, &draw_mode, &props.link) }
                { samplers_column::view(&engine, &act, &canvases) }
            </main>
        </>
    }
}
