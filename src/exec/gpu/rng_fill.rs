//! The RNG fill kernel (shaders/rng_fill.wgsl): `count` consecutive Philox draws of one
//! stream, as raw u32x4 and as Box-Muller normals. It is the GPU half of the RNG agreement
//! tests and the smallest end-to-end use of the GPU path.

use wgpu::util::DeviceExt;

use super::kernel::{compute_pipeline, dispatch_grid, read_back, storage_buffer, WORKGROUP_SIZE};
use super::GpuError;
use crate::core::rng::{normal4, random_u32x4};

/// Which draws to make: counters `first_counter .. first_counter + count` of `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngFillRequest {
    pub seed: u64,
    pub stream: u64,
    pub first_counter: u64,
    pub count: u32,
}

/// What the kernel wrote: one entry per counter.
#[derive(Debug, Clone, PartialEq)]
pub struct RngFillOutput {
    pub bits: Vec<[u32; 4]>,
    pub normals: Vec<[f32; 4]>,
}

/// Mirrors `RngFillParams` in the shader (32 bytes, vec2<u32> aligned to 8).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RngFillParams {
    seed: [u32; 2],
    stream: [u32; 2],
    first_counter: [u32; 2],
    count: u32,
    row_length: u32,
}

/// `RngFillParams`'s layout, for the check against the shader's struct.
pub(crate) fn params_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "rng_fill.wgsl",
        "RngFillParams",
        RngFillParams,
        [seed, stream, first_counter, count, row_length]
    )
}

fn split_u64(value: u64) -> [u32; 2] {
    [value as u32, (value >> 32) as u32]
}

/// Runs the fill on the given device. Pure in the wgpu-examples sense: no global state, so a
/// test can pass its own device.
pub async fn execute_rng_fill(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    request: RngFillRequest,
) -> Result<RngFillOutput, GpuError> {
    let count = request.count as u64;
    let bytes = count * 16;
    let limits = device.limits();
    if bytes > limits.max_storage_buffer_binding_size || bytes > limits.max_buffer_size {
        return Err(GpuError::Validation(format!(
            "{count} draws need {bytes} bytes, over this device's storage limit of {} bytes; ask for fewer at a time",
            limits.max_storage_buffer_binding_size
        )));
    }
    let (groups_x, groups_y) = dispatch_grid(request.count, limits.max_compute_workgroups_per_dimension);
    let params = RngFillParams {
        seed: split_u64(request.seed),
        stream: split_u64(request.stream),
        first_counter: split_u64(request.first_counter),
        count: request.count,
        row_length: groups_x * WORKGROUP_SIZE,
    };

    let pipeline = compute_pipeline(device, "rng_fill.wgsl", "fill").await?;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let params_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("rng fill params"),
        contents: bytemuck::bytes_of(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let (bits_buffer, normals_buffer) =
        (storage_buffer(device, "rng bits", bytes), storage_buffer(device, "rng normals", bytes));
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("rng fill bindings"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: params_buffer.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: bits_buffer.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: normals_buffer.as_entire_binding() },
        ],
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("rng fill") });
    {
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("rng fill"), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups_x, groups_y, 1);
    }
    queue.submit([encoder.finish()]);
    if let Some(error) = scope.pop().await {
        return Err(GpuError::Validation(error.to_string()));
    }
    let bits_bytes = read_back(device, queue, &bits_buffer, bytes).await?;
    let normals_bytes = read_back(device, queue, &normals_buffer, bytes).await?;
    let bits: &[[u32; 4]] = bytemuck::cast_slice(&bits_bytes);
    let normals: &[[f32; 4]] = bytemuck::cast_slice(&normals_bytes);
    Ok(RngFillOutput {
        bits: bits[..request.count as usize].to_vec(),
        normals: normals[..request.count as usize].to_vec(),
    })
}

/// How far GPU normals may stray from the CPU's. WGSL lets `log` err by 2^-21 and `sin`/`cos`
/// by 2^-11 on [-pi, pi]; times a Box-Muller radius of at most 5.8 that is about 3e-3.
pub const NORMAL_TOLERANCE: f32 = 3e-3;

/// How the GPU's draws compare with `core::rng` for the same request.
#[derive(Debug, Clone, PartialEq)]
pub struct RngAgreement {
    /// How many u32 values were compared (4 per counter).
    pub u32_draws: usize,
    /// The first counter offset whose bits differ, with (gpu, cpu) bits.
    pub first_bit_mismatch: Option<(usize, [u32; 4], [u32; 4])>,
    /// The largest |gpu - cpu| over all normals.
    pub max_normal_error: f32,
}

/// Recomputes every draw of `request` on the CPU and compares.
pub fn compare_with_cpu(request: RngFillRequest, output: &RngFillOutput) -> RngAgreement {
    let mut first_bit_mismatch = None;
    let mut max_normal_error = 0.0f32;
    for (i, (bits, normals)) in output.bits.iter().zip(&output.normals).enumerate() {
        let counter = request.first_counter.wrapping_add(i as u64);
        let cpu_bits = random_u32x4(request.seed, request.stream, counter);
        if first_bit_mismatch.is_none() && *bits != cpu_bits {
            first_bit_mismatch = Some((i, *bits, cpu_bits));
        }
        let cpu_normals = normal4(request.seed, request.stream, counter);
        for (g, c) in normals.iter().zip(cpu_normals) {
            // A NaN on either side counts as an infinite error.
            let error = if g.is_finite() { (g - c).abs() } else { f32::INFINITY };
            max_normal_error = max_normal_error.max(error);
        }
    }
    if output.bits.len() != request.count as usize && first_bit_mismatch.is_none() {
        first_bit_mismatch = Some((output.bits.len(), [0; 4], [0; 4]));
    }
    RngAgreement { u32_draws: output.bits.len() * 4, first_bit_mismatch, max_normal_error }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn comparison_spots_a_flipped_bit_and_a_bad_normal() {
        let request = RngFillRequest { seed: 1, stream: 2, first_counter: 3, count: 3 };
        let mut output = RngFillOutput {
            bits: (3..6).map(|c| random_u32x4(1, 2, c)).collect(),
            normals: (3..6).map(|c| normal4(1, 2, c)).collect(),
        };
        let clean = compare_with_cpu(request, &output);
        assert_eq!(clean.first_bit_mismatch, None);
        assert_eq!(clean.max_normal_error, 0.0);
        assert_eq!(clean.u32_draws, 12);
        output.bits[1][2] ^= 1;
        output.normals[2][0] = f32::NAN;
        let broken = compare_with_cpu(request, &output);
        assert_eq!(broken.first_bit_mismatch.map(|m| m.0), Some(1));
        assert!(broken.max_normal_error > NORMAL_TOLERANCE);
    }

    #[test]
    fn params_match_the_shader_layout() {
        assert_eq!(std::mem::size_of::<RngFillParams>(), 32);
        assert_eq!(split_u64(0x1234_5678_9abc_def0), [0x9abc_def0, 0x1234_5678]);
    }
}
