//! Looking for WebGPU in this browser, and saying why not when there is none.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::exec::backend::{adapter_label, BackendStatus};
use crate::exec::gpu::context::is_software_adapter;
use crate::exec::gpu::GpuContext;

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string_field(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

/// Asks the browser for an adapter (to name it, and to give a reason when there is none),
/// then has wgpu open a device on it, so the badge says WebGPU only when the GPU path works.
/// Returns the device too, for the page to draw and compute with.
pub async fn detect_backend() -> (BackendStatus, Option<GpuContext>) {
    let cpu = |reason: &str| (BackendStatus::Cpu { reason: reason.to_string() }, None);
    let Some(window) = web_sys::window() else { return cpu("not running in a browser window") };
    let gpu = get(&window.navigator(), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return cpu("this browser has no navigator.gpu");
    }
    let Ok(request_adapter) = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>() else {
        return cpu("navigator.gpu.requestAdapter is missing");
    };
    let adapter = match request_adapter.call0(&gpu) {
        Ok(promise) => match JsFuture::from(js_sys::Promise::from(promise)).await {
            Ok(adapter) => adapter,
            Err(e) => return cpu(&format!("requestAdapter failed: {}", describe_js_error(&e))),
        },
        Err(e) => return cpu(&format!("requestAdapter failed: {}", describe_js_error(&e))),
    };
    if adapter.is_null() || adapter.is_undefined() {
        return cpu("the browser offers no GPU adapter (WebGPU is disabled or blocked here)");
    }
    let info = get(&adapter, "info");
    let label = adapter_label(
        &string_field(&info, "vendor"),
        &string_field(&info, "architecture"),
        &string_field(&info, "description"),
    );
    let fallback = get(&info, "isFallbackAdapter").as_bool().unwrap_or(false);
    match GpuContext::browser().await {
        Ok(context) => (
            BackendStatus::WebGpu {
                software: fallback
                    || is_software_adapter(
                        context.info.device_type,
                        &[&context.info.name, &context.info.driver, &label],
                    ),
                adapter: label,
            },
            Some(context),
        ),
        Err(e) => cpu(&e.to_string()),
    }
}

fn describe_js_error(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
