//! What every compute kernel does the same way, written once: compile a composed shader into
//! a pipeline (with wgpu's validation errors turned into a `GpuError`), lay a dispatch out on
//! a 2D grid that no dimension overflows, and make the buffers a readback goes through.
//! The kernels (`rng_fill`, `plan_run`) keep only what is their own.

use super::readback::read_bytes;
use super::GpuError;
use crate::exec::shader_source::composed;

/// Threads per workgroup of every compute kernel (`@workgroup_size(64)` in the shaders).
pub const WORKGROUP_SIZE: u32 = 64;

/// Workgroups in x and y for `count` threads so that no dimension exceeds the device's limit
/// (a kernel recovers its index as `y * x_groups * WORKGROUP_SIZE + x`).
pub fn dispatch_grid(count: u32, max_per_dimension: u32) -> (u32, u32) {
    let groups = count.div_ceil(WORKGROUP_SIZE).max(1);
    let x = groups.min(max_per_dimension);
    (x, groups.div_ceil(x))
}

/// The compute pipeline of `entry` in shaders/`file` (composed with what it requires).
pub async fn compute_pipeline(
    device: &wgpu::Device,
    file: &str,
    entry: &str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let source = composed(file).map_err(|e| GpuError::Validation(e.to_string()))?;
    compute_pipeline_from_source(device, file, &source, entry).await
}

/// The compute pipeline of `entry` in a composed `source` (a variant the host built, such as
/// the f16 evaluation kernel); `label` names it in errors.
pub async fn compute_pipeline_from_source(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    entry: &str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(error) = scope.pop().await {
        return Err(GpuError::Validation(error.to_string()));
    }
    Ok(pipeline)
}

/// A buffer a kernel writes and a readback copies from.
pub fn storage_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A buffer the host maps to read what a copy put in it.
/// A buffer that holds `contents` (padded with zeros to a multiple of 4 bytes, at least 16),
/// written through the queue instead of mapped at creation. In a browser, creating a mapped
/// buffer throws once the device is lost, which wgpu turns into a panic; this only makes an
/// invalid buffer, whose use the error scopes and the device-lost callback report.
pub fn filled_buffer(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let mut padded = contents.to_vec();
    padded.resize(padded.len().max(16).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT as usize), 0);
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: padded.len() as u64,
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&buffer, 0, &padded);
    buffer
}

pub fn staging_buffer(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The first `bytes` of `buffer`, copied through a staging buffer and read without blocking
/// the browser.
pub async fn read_back(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, GpuError> {
    let size = bytes.max(8).next_multiple_of(4);
    let staging = staging_buffer(device, "readback", size);
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size.min(buffer.size()));
    queue.submit([encoder.finish()]);
    let mut read = read_bytes(device, &staging).await?;
    read.truncate(bytes as usize);
    Ok(read)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn the_dispatch_grid_covers_every_thread_within_the_limit() {
        assert_eq!(dispatch_grid(1, 65535), (1, 1));
        assert_eq!(dispatch_grid(64 * 10, 65535), (10, 1));
        let (x, y) = dispatch_grid(u32::MAX, 65535);
        assert!(x <= 65535 && y <= 65535);
        assert!(u64::from(x) * u64::from(y) * 64 >= u64::from(u32::MAX));
    }
}
