//! The animation-frame loop: each frame the lab works for a slice of the frame, GPU jobs are
//! handed out, and the page re-renders when the lab says something changed. It also reports
//! each frame's own work to a test hook, which the end-to-end test's timing checks read.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::browser;
use super::controls::Act;
use super::gpu_runner::{spawn_flow_job, spawn_gpu_job, spawn_path_job, spawn_train_job, SharedRunner};
use super::worker_pool::WorkerPool;
use crate::playground::deq::DeqLab;
use crate::playground::diffusion::comparison::Executor;
use crate::playground::inverse::InverseLab;
use crate::playground::labs::{LabId, LABS};
use crate::playground::ncde::NcdeLab;
use crate::playground::node::NodeLab;
use crate::playground::nsde::NsdeLab;
use crate::playground::odice::OdiceLab;
use crate::playground::symreg::SymregLab;

/// Engine work per animation frame, all labs together, in milliseconds: with rendering and
/// painting the frame stays well under 50 ms.
const FRAME_BUDGET_MS: f64 = 8.0;
/// While only numbers move (training), the page re-renders at most this often.
const NUMBERS_INTERVAL_MS: f64 = 100.0;

type FrameCallback = Closure<dyn FnMut()>;

thread_local! {
    /// When the current animation frame's work began (None outside a frame).
    static FRAME_START: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
    /// How much of it the labs' ticks and the job hand-out took (the rest is the render and
    /// its painting), so that a test can say where a slow frame went.
    static FRAME_TICK: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Reports one frame's own work (engine tick, render, painting) and the tick's share of it to
/// `window.__ndeFrameWork(work, tick)` when a test has installed such a function; otherwise
/// does nothing.
pub fn report_frame_work() {
    let Some(start) = FRAME_START.with(|f| f.take()) else { return };
    let work = browser::now_ms() - start;
    let Some(window) = web_sys::window() else { return };
    if let Ok(hook) = js_sys::Reflect::get(&window, &"__ndeFrameWork".into()) {
        if let Some(hook) = hook.dyn_ref::<js_sys::Function>() {
            let tick = FRAME_TICK.with(|t| t.get());
            let _ = hook.call2(&JsValue::NULL, &work.into(), &tick.into());
        }
    }
}

/// Starts the loop; it runs for the page's life. Every lab opened so far works in its slice (a
/// lab with nothing running returns at once), so training goes on while another tab is open;
/// a lab not yet opened waits until it is.
pub fn start_frame_loop(
    act: Act,
    node: Act<NodeLab>,
    ncde: Act<NcdeLab>,
    nsde: Act<NsdeLab>,
    symreg: Act<SymregLab>,
    deq: Act<DeqLab>,
    odice: Act<OdiceLab>,
    inverse: Act<InverseLab>,
    open_lab: Rc<RefCell<LabId>>,
    runner: SharedRunner,
    workers: Rc<RefCell<Option<WorkerPool>>>,
) {
    let slot: Rc<RefCell<Option<FrameCallback>>> = Rc::new(RefCell::new(None));
    let rendered = Rc::new(RefCell::new((u64::MAX, u64::MAX, f64::NEG_INFINITY)));
    let again = slot.clone();
    let mut visited: Vec<LabId> = Vec::new();
    *slot.borrow_mut() = Some(Closure::new(move || {
        FRAME_START.with(|f| f.set(Some(browser::now_ms())));
        // A lost device cannot be used again: the labs go back to the CPU.
        let lost = runner.borrow().as_ref().and_then(|g| g.lost());
        if let Some(message) = lost {
            *runner.borrow_mut() = None;
            act.run(|engine| {
                engine.gpu_lost(&message);
                Ok(())
            });
        }
        let gpu = runner.borrow().clone();
        let pool = workers.borrow().clone();
        // New sampler runs go to the workers while any is alive (one that failed gives its
        // runs back to the page's thread).
        act.engine.borrow_mut().workers = pool.as_ref().map_or(0, WorkerPool::alive);
        node.engine.borrow_mut().set_gpu(gpu.as_ref().map(|g| g.software));
        nsde.engine.borrow_mut().set_gpu(gpu.as_ref().map(|g| g.software));
        // The open lab works first, with the whole budget; the others share what it leaves
        // (each still takes one piece a frame), so a lab busy in the background cannot make
        // the frames of the one on show long.
        let frame_start = browser::now_ms();
        let left = || (FRAME_BUDGET_MS - (browser::now_ms() - frame_start)).max(0.0);
        let open = *open_lab.borrow();
        if !visited.contains(&open) {
            visited.push(open);
        }
        // Labs never opened do not work: their opening computations (sampler panels, flows,
        // restorations) would only slow the frames of the lab on show, and run when opened.
        let order =
            std::iter::once(open).chain(LABS.iter().map(|l| l.id).filter(|id| *id != open && visited.contains(id)));
        for id in order {
            match id {
                LabId::Diffusion => {
                    act.engine.borrow_mut().tick(left(), &browser::now_ms);
                }
                LabId::Node => {
                    node.engine.borrow_mut().tick(left(), &browser::now_ms);
                }
                LabId::Ncde => {
                    ncde.engine.borrow_mut().tick(left(), &browser::now_ms);
                }
                LabId::Nsde => {
                    nsde.engine.borrow_mut().tick(left(), &browser::now_ms);
                }
                LabId::Symreg => symreg.engine.borrow_mut().tick(left(), &browser::now_ms),
                LabId::Deq => deq.engine.borrow_mut().tick(left(), &browser::now_ms),
                LabId::Odice => odice.engine.borrow_mut().tick(left(), &browser::now_ms),
                LabId::Inverse => inverse.engine.borrow_mut().tick(left(), &browser::now_ms),
            }
        }
        if let Some(gpu) = gpu {
            let jobs = act.engine.borrow_mut().take_jobs(Executor::Gpu);
            for job in jobs {
                spawn_gpu_job(gpu.clone(), job, act.clone());
            }
            let training = act.engine.borrow_mut().take_train_job(browser::now_ms());
            if let Some(job) = training {
                spawn_train_job(gpu.clone(), job, act.clone());
            }
            let flow = node.engine.borrow_mut().take_flow_job();
            if let Some(job) = flow {
                spawn_flow_job(gpu.clone(), job, node.clone());
            }
            let paths = nsde.engine.borrow_mut().take_path_job();
            if let Some(job) = paths {
                spawn_path_job(gpu.clone(), job, nsde.clone());
            }
        }
        if let Some(pool) = pool {
            let (jobs, waiting) = {
                let mut engine = act.engine.borrow_mut();
                (engine.take_jobs(Executor::Workers), engine.waiting_jobs())
            };
            pool.retain(|id| waiting.contains(&id));
            for job in jobs {
                let act = act.clone();
                let id = job.id;
                pool.submit(
                    id,
                    &job.plan,
                    &job.model,
                    &job.options,
                    Box::new(move |result, elapsed| {
                        act.engine.borrow_mut().finish_job(id, result, elapsed);
                        act.update.force_update();
                    }),
                );
            }
        }
        FRAME_TICK.with(|t| t.set(browser::now_ms() - frame_start));
        // Re-render at once when the canvases change, and a few times a second when only
        // the numbers do: a render of the whole page costs several milliseconds.
        let (revision, view) = {
            let (engine, node, ncde, nsde, symreg, deq, odice, inverse) = (
                act.engine.borrow(),
                node.engine.borrow(),
                ncde.engine.borrow(),
                nsde.engine.borrow(),
                symreg.engine.borrow(),
                deq.engine.borrow(),
                odice.engine.borrow(),
                inverse.engine.borrow(),
            );
            (
                engine
                    .status
                    .revision
                    .wrapping_add(node.status.revision)
                    .wrapping_add(ncde.status.revision)
                    .wrapping_add(nsde.status.revision)
                    .wrapping_add(symreg.status.revision)
                    .wrapping_add(deq.status.revision)
                    .wrapping_add(odice.status.revision)
                    .wrapping_add(inverse.status.revision),
                engine
                    .status
                    .view_revision
                    .wrapping_add(node.status.view_revision)
                    .wrapping_add(ncde.status.view_revision)
                    .wrapping_add(nsde.status.view_revision)
                    .wrapping_add(symreg.status.view_revision)
                    .wrapping_add(deq.status.view_revision)
                    .wrapping_add(odice.status.view_revision)
                    .wrapping_add(inverse.status.view_revision),
            )
        };
        let now = browser::now_ms();
        let (last_revision, last_view, last_time) = *rendered.borrow();
        if view != last_view || (revision != last_revision && now - last_time > NUMBERS_INTERVAL_MS) {
            *rendered.borrow_mut() = (revision, view, now);
            // The render and its painting effect end the frame's work.
            act.update.force_update();
        } else {
            report_frame_work();
        }
        if let (Some(window), Some(callback)) = (web_sys::window(), again.borrow().as_ref()) {
            let _ = window.request_animation_frame(callback.as_ref().unchecked_ref());
        }
    }));
    if let (Some(window), Some(callback)) = (web_sys::window(), slot.borrow().as_ref()) {
        let _ = window.request_animation_frame(callback.as_ref().unchecked_ref());
    }
    std::mem::forget(slot);
}
