//! Which executor runs the page's work, and how the page says so. Pure state: the browser
//! detection that fills it lives in `ui::detect_backend`.

/// The outcome of looking for WebGPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendStatus {
    /// Still asking the browser.
    Detecting,
    /// WebGPU works: its adapter, and whether it is a software (CPU-emulated) one.
    WebGpu { adapter: String, software: bool },
    /// No usable WebGPU: the CPU executor runs everything, for this reason.
    Cpu { reason: String },
}

impl BackendStatus {
    /// The text of the page's backend badge.
    pub fn badge_text(&self) -> String {
        match self {
            BackendStatus::Detecting => "Detecting WebGPU…".to_string(),
            BackendStatus::WebGpu { adapter, .. } => format!("WebGPU: {adapter}"),
            BackendStatus::Cpu { reason } => format!("CPU (no WebGPU: {reason})"),
        }
    }

    /// A one-word class for styling and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendStatus::Detecting => "detecting",
            BackendStatus::WebGpu { .. } => "webgpu",
            BackendStatus::Cpu { .. } => "cpu",
        }
    }
}

/// A readable adapter label from what the browser tells about it (GPUAdapterInfo).
/// Browsers often leave `description` empty; vendor and architecture then name it.
pub fn adapter_label(vendor: &str, architecture: &str, description: &str) -> String {
    let description = description.trim();
    if !description.is_empty() {
        return description.to_string();
    }
    let parts: Vec<&str> = [vendor.trim(), architecture.trim()].into_iter().filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        "unnamed adapter".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn badge_texts_name_the_backend_and_reason() {
        let gpu = BackendStatus::WebGpu { adapter: "google swiftshader".into(), software: true };
        assert_eq!(gpu.badge_text(), "WebGPU: google swiftshader");
        let cpu = BackendStatus::Cpu { reason: "no adapter".into() };
        assert_eq!(cpu.badge_text(), "CPU (no WebGPU: no adapter)");
        assert_eq!(cpu.kind(), "cpu");
    }

    #[test]
    fn adapter_label_prefers_description_then_vendor_and_architecture() {
        assert_eq!(adapter_label("google", "swiftshader", ""), "google swiftshader");
        assert_eq!(adapter_label("nvidia", "", "NVIDIA H200"), "NVIDIA H200");
        assert_eq!(adapter_label("", " ", ""), "unnamed adapter");
    }
}
