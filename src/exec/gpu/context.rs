//! Finding an adapter and a device, natively (Vulkan) or in the browser (WebGPU).

use super::GpuError;

/// A device and its queue, with what we learnt of the adapter behind them.
pub struct GpuContext {
    /// Kept for what needs the instance and adapter after the device: a canvas surface.
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
}

impl GpuContext {
    /// The first adapter of `backends` and a device with the adapter's own limits (never
    /// assumed: later kernels size their chunks from `limits`).
    pub async fn new(backends: wgpu::Backends) -> Result<Self, GpuError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(no_adapter_hint(backends, &e.to_string())))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        // f16 shaders where the adapter has them (the op-major path's f16 kernel); nothing else
        // optional, so what runs here runs on any adapter.
        let required_features = adapter.features() & wgpu::Features::SHADER_F16;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("nde device"),
                required_limits: limits.clone(),
                required_features,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoDevice(e.to_string()))?;
        Ok(Self { instance, adapter, device, queue, info, limits })
    }

    /// The native default: Vulkan (on this project's CI, Mesa's lavapipe).
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn native() -> Result<Self, GpuError> {
        Self::new(wgpu::Backends::VULKAN).await
    }

    /// The browser's WebGPU.
    #[cfg(target_arch = "wasm32")]
    pub async fn browser() -> Result<Self, GpuError> {
        Self::new(wgpu::Backends::BROWSER_WEBGPU).await
    }

    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }

    /// True for CPU-emulated adapters (lavapipe, SwiftShader): fine for correctness, slow.
    pub fn is_software(&self) -> bool {
        is_software_adapter(self.info.device_type, &[&self.info.name, &self.info.driver])
    }
}

/// The one definition of a software (CPU-emulated) adapter: a CPU device type, or a name
/// that says so (browsers report SwiftShader as a GPU, and some drivers report llvmpipe so).
pub fn is_software_adapter(device_type: wgpu::DeviceType, names: &[&str]) -> bool {
    device_type == wgpu::DeviceType::Cpu
        || names.iter().any(|name| {
            let name = name.to_lowercase();
            ["llvmpipe", "lavapipe", "swiftshader"].iter().any(|s| name.contains(s))
        })
}

/// "name (backend, device type)" or, where the browser hides the name, what is known.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    let name = if info.name.trim().is_empty() { "unnamed adapter" } else { info.name.trim() };
    format!("{name} ({:?}, {:?})", info.backend, info.device_type)
}

fn no_adapter_hint(backends: wgpu::Backends, error: &str) -> String {
    if backends.contains(wgpu::Backends::BROWSER_WEBGPU) {
        format!("{error}; this browser offers no WebGPU adapter (in Chromium, WebGPU may need --enable-unsafe-webgpu)")
    } else {
        format!("{error}; install a Vulkan driver (on Debian: apt-get install mesa-vulkan-drivers)")
    }
}
