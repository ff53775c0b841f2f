//! Web Workers that run sampler runs on the CPU's other cores, so that the page's thread only
//! draws. No memory is shared (that would need cross-origin isolation and a nightly build of
//! the standard library): a run is split by particles (`exec::split_run`), each part is posted
//! to an idle worker as a message, and the parts are joined when all are back. Every particle
//! draws its noise by its global index, so the result is the page thread's, bit for bit.
//!
//! The workers load the page's own module and wasm (found from the `<link>`s trunk writes
//! into the page), so there is no second build to ship or keep in step.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker, WorkerOptions, WorkerType};

use super::worker_entry::READY;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{RunOptions, RunResult};
use crate::exec::split_run::{decode_result, join, split, PartReply, PartRequest};

/// At most this many workers, whatever the processor reports.
const MAX_WORKERS: usize = 8;

/// Runs below this many particles per part are not worth a message.
const MIN_PART: usize = 256;

/// What to do with a run's result (or why it failed), and the milliseconds it took.
pub type Done = Box<dyn FnOnce(Result<RunResult, String>, f64)>;

struct Slot {
    worker: Worker,
    ready: bool,
    alive: bool,
    /// The (job, part) it is running.
    busy: Option<(u64, usize)>,
}

struct Pending {
    options: RunOptions,
    requests: Vec<PartRequest>,
    params: Vec<f32>,
    results: Vec<Option<RunResult>>,
    done: Option<Done>,
    started_ms: f64,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// Parts waiting for a worker: (job, part, header).
    queue: VecDeque<(u64, usize, String)>,
    jobs: HashMap<u64, Pending>,
}

/// The page's workers. Cloning shares them.
#[derive(Clone)]
pub struct WorkerPool {
    state: Rc<RefCell<State>>,
}

fn now_ms() -> f64 {
    super::browser::now_ms()
}

/// The absolute address of the first `<link>` matching `selector`.
fn link_address(document: &web_sys::Document, selector: &str) -> Result<String, String> {
    let link = document
        .query_selector(selector)
        .ok()
        .flatten()
        .ok_or_else(|| format!("the page has no {selector} to load the workers from"))?;
    let href = link.get_attribute("href").ok_or("a link without an address")?;
    let base = document.base_uri().ok().flatten().unwrap_or_default();
    Url::new_with_base(&href, &base).map(|u| u.href()).map_err(|_| format!("'{href}' is not an address"))
}

/// The workers' script: load the page's module and wasm, then serve.
fn script_address() -> Result<String, String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let module = link_address(&document, r#"link[rel="modulepreload"][href$=".js"]"#)?;
    let wasm = link_address(&document, r#"link[rel="preload"][href$=".wasm"]"#)?;
    let source = format!(
        "import init, {{ nde_worker_serve }} from {module:?};\nawait init({{ module_or_path: {wasm:?} }});\nnde_worker_serve();\n"
    );
    let parts = Array::of1(&source.into());
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "no Blob for the workers")?;
    Url::create_object_url_with_blob(&blob).map_err(|_| "no object address for the workers".to_string())
}

impl WorkerPool {
    /// Starts `count` workers (at most `MAX_WORKERS`), or says why it cannot.
    pub fn start(count: usize) -> Result<WorkerPool, String> {
        let address = script_address()?;
        let pool = WorkerPool { state: Rc::new(RefCell::new(State::default())) };
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        for index in 0..count.clamp(1, MAX_WORKERS) {
            let worker = Worker::new_with_options(&address, &options)
                .map_err(|e| format!("a worker did not start: {}", describe(&e)))?;
            let on_message = {
                let pool = pool.clone();
                Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| pool.received(index, &event.data()))
            };
            let on_error = {
                let pool = pool.clone();
                // A script that fails to load fires a plain Event, an exception an ErrorEvent.
                Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    let message = js_sys::Reflect::get(&event, &"message".into()).ok().and_then(|m| m.as_string());
                    pool.stopped(index, message.unwrap_or_else(|| "its script did not load".into()))
                })
            };
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            // The handlers live as long as the workers, which live as long as the page.
            on_message.forget();
            on_error.forget();
            pool.state.borrow_mut().slots.push(Slot { worker, ready: false, alive: true, busy: None });
        }
        Ok(pool)
    }

    /// Workers that are loaded and answering.
    pub fn ready(&self) -> usize {
        self.state.borrow().slots.iter().filter(|s| s.alive && s.ready).count()
    }

    /// Ends every worker (a pool made for a measurement).
    pub fn stop(&self) {
        for slot in &mut self.state.borrow_mut().slots {
            slot.alive = false;
            slot.worker.terminate();
        }
    }

    /// Workers not known to have failed (loading or ready).
    pub fn alive(&self) -> usize {
        self.state.borrow().slots.iter().filter(|s| s.alive).count()
    }

    /// Runs `plan` on `model` for `options` across the workers as job `job` (the caller's
    /// id, unique among its jobs); `done` gets the joined result.
    pub fn submit(&self, job: u64, plan: &Plan, model: &ModelData, options: &RunOptions, done: Done) {
        let parts = self.alive().min(options.particles.div_ceil(MIN_PART)).max(1);
        let (requests, params) = match split(job, plan, model, options, parts) {
            Ok(split) => split,
            Err(e) => return done(Err(e), 0.0),
        };
        let mut headers = Vec::with_capacity(requests.len());
        for request in &requests {
            match serde_json::to_string(request) {
                Ok(h) => headers.push((job, request.part, h)),
                Err(e) => return done(Err(format!("a part did not serialise: {e}")), 0.0),
            }
        }
        {
            let mut state = self.state.borrow_mut();
            let results = vec![None; requests.len()];
            let pending =
                Pending { options: options.clone(), requests, params, results, done: Some(done), started_ms: now_ms() };
            state.jobs.insert(job, pending);
            state.queue.extend(headers);
        }
        self.pump();
    }

    /// Forgets the jobs `wanted` rejects (runs the page has replaced): their queued parts are
    /// dropped and a part already running is thrown away when it comes back, so a new run
    /// never waits behind old ones. Their `done` is not called.
    pub fn retain(&self, wanted: impl Fn(u64) -> bool) {
        let mut state = self.state.borrow_mut();
        state.queue.retain(|(job, _, _)| wanted(*job));
        state.jobs.retain(|job, _| wanted(*job));
    }

    /// Hands queued parts to idle workers.
    fn pump(&self) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        for slot in state.slots.iter_mut().filter(|s| s.alive && s.ready && s.busy.is_none()) {
            let Some((job, part, header)) = state.queue.pop_front() else { break };
            let Some(pending) = state.jobs.get(&job) else { continue };
            let params = Float32Array::new_with_length(pending.params.len() as u32);
            params.copy_from(&pending.params);
            if slot.worker.post_message(&Array::of2(&header.clone().into(), &params)).is_ok() {
                slot.busy = Some((job, part));
            } else {
                state.queue.push_front((job, part, header));
                break;
            }
        }
    }

    /// A worker's message: that it is ready, or a part's result.
    fn received(&self, index: usize, data: &JsValue) {
        if data.as_string().as_deref() == Some(READY) {
            if let Some(slot) = self.state.borrow_mut().slots.get_mut(index) {
                slot.ready = true;
            }
            return self.pump();
        }
        let message = Array::from(data);
        let reply: Result<PartReply, String> = message
            .get(0)
            .as_string()
            .ok_or_else(|| "a worker answered without a header".to_string())
            .and_then(|h| serde_json::from_str(&h).map_err(|e| format!("a worker's answer did not read: {e}")));
        let busy = self.state.borrow_mut().slots.get_mut(index).and_then(|s| s.busy.take());
        let Some((job, part)) = busy else { return self.pump() };
        let words = message.get(1).dyn_into::<Float32Array>().map(|a| a.to_vec()).unwrap_or_default();
        let result = reply.and_then(|r| match r.outcome {
            _ if (r.job, r.part) != (job, part) => Err("a worker answered for another part".to_string()),
            Ok(shape) => decode_result(&shape, &words),
            Err(e) => Err(e),
        });
        match result {
            Ok(result) => self.store(job, part, result),
            Err(e) => self.fail(job, e),
        }
        self.pump();
    }

    /// Keeps a part's result; the last one joins the run and hands it over.
    fn store(&self, job: u64, part: usize, result: RunResult) {
        let finished = {
            let mut state = self.state.borrow_mut();
            let Some(pending) = state.jobs.get_mut(&job) else { return };
            if let Some(place) = pending.results.get_mut(part) {
                *place = Some(result);
            }
            if pending.results.iter().all(Option::is_some) {
                state.jobs.remove(&job)
            } else {
                None
            }
        };
        if let Some(mut pending) = finished {
            let results: Vec<RunResult> = pending.results.drain(..).flatten().collect();
            let joined = join(&pending.options, &pending.requests, &results);
            if let Some(done) = pending.done.take() {
                done(joined, now_ms() - pending.started_ms);
            }
        }
    }

    /// Drops a job and its queued parts, and says why.
    fn fail(&self, job: u64, reason: String) {
        let pending = {
            let mut state = self.state.borrow_mut();
            state.queue.retain(|(j, _, _)| *j != job);
            state.jobs.remove(&job)
        };
        if let Some(done) = pending.and_then(|mut p| p.done.take()) {
            done(Err(reason), 0.0);
        }
    }

    /// A worker failed (its script did not load, or it stopped): its part's job fails, and
    /// when none is left every job does, so that the page runs them itself.
    fn stopped(&self, index: usize, message: String) {
        let (busy, none_left) = {
            let mut state = self.state.borrow_mut();
            let busy = state.slots.get_mut(index).and_then(|slot| {
                slot.alive = false;
                slot.worker.terminate();
                slot.busy.take()
            });
            (busy, state.slots.iter().all(|s| !s.alive))
        };
        let reason = format!("a worker stopped: {message}");
        if let Some((job, _)) = busy {
            self.fail(job, reason.clone());
        }
        if none_left {
            let jobs: Vec<u64> = self.state.borrow().jobs.keys().copied().collect();
            for job in jobs {
                self.fail(job, reason.clone());
            }
        }
    }
}

fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// How many workers to start: one per logical core the browser reports (the page's thread
/// only draws while they sample), at least one.
pub fn worker_count() -> usize {
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    (cores as usize).clamp(1, MAX_WORKERS)
}
