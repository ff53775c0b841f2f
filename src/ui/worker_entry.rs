//! The Web Worker's side of the worker pool (`worker_pool`). A worker loads the page's own
//! module and wasm (no second build), then answers each message: a part of a sampler run
//! (`exec::split_run::PartRequest` as JSON, beside the network's parameters as a
//! Float32Array) comes in; the part's result goes back as a `PartReply` in JSON beside its
//! numbers as a Float32Array, whose buffer is transferred rather than copied.

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::exec::split_run::{encode_result, run_part, PartReply, PartRequest};

/// The message a worker posts once it listens: messages sent before would be lost.
pub const READY: &str = "nde-worker-ready";

/// Runs one message to its reply. Anything malformed becomes an error reply (with the part it
/// names, when the header could be read), never a panic.
fn answer(data: &JsValue) -> (PartReply, Vec<f32>) {
    let message = Array::from(data);
    let header = message.get(0).as_string().unwrap_or_default();
    let params = message.get(1).dyn_into::<Float32Array>().map(|a| a.to_vec());
    let request: PartRequest = match serde_json::from_str(&header) {
        Ok(r) => r,
        Err(e) => {
            let outcome = Err(format!("the worker could not read its part: {e}"));
            return (PartReply { job: u64::MAX, part: usize::MAX, outcome }, Vec::new());
        }
    };
    let (job, part) = (request.job, request.part);
    let Ok(params) = params else {
        let outcome = Err("the part came without the network's parameters".to_string());
        return (PartReply { job, part, outcome }, Vec::new());
    };
    match run_part(&request, params) {
        Ok(result) => {
            let (shape, words) = encode_result(&result);
            (PartReply { job, part, outcome: Ok(shape) }, words)
        }
        Err(e) => (PartReply { job, part, outcome: Err(e) }, Vec::new()),
    }
}

/// Starts answering messages; called by the worker's script once the module is loaded.
pub fn serve() -> Result<(), JsValue> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into()?;
    let replier = scope.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let (reply, words) = answer(&event.data());
        let header = serde_json::to_string(&reply).unwrap_or_default();
        let numbers = Float32Array::new_with_length(words.len() as u32);
        numbers.copy_from(&words);
        let message = Array::of2(&JsValue::from_str(&header), &numbers);
        let transfer = Array::of1(&numbers.buffer());
        if replier.post_message_with_transfer(&message, &transfer).is_err() {
            let _ = replier.post_message(&Array::of2(&JsValue::from_str(&header), &Float32Array::new_with_length(0)));
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the page: its handler does too.
    on_message.forget();
    scope.post_message(&READY.into())
}
