//! Reading a run's particles back: every particle, or only the first few. A run whose frames
//! stay on the GPU to be drawn (`resident`) reads back a subsample for the metrics, so that
//! 10^5 particles cost the page no more host memory or readback than a few thousand.
//!
//! Everything asked for is copied into one staging buffer in one submission and mapped once.

use super::kernel::staging_buffer;
use super::readback::read_bytes;
use super::GpuError;

/// Bytes of one snapshot point (a vec2<f32>).
const POINT_BYTES: u64 = 8;

/// The bytes of `ranges` (buffer, offset, size: multiples of 4), concatenated in order.
pub(super) async fn read_ranges(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    ranges: &[(&wgpu::Buffer, u64, u64)],
) -> Result<Vec<u8>, GpuError> {
    let total: u64 = ranges.iter().map(|r| r.2).sum();
    if total == 0 {
        return Ok(Vec::new());
    }
    let staging = staging_buffer(device, "readout", total.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT));
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readout") });
    let mut at = 0;
    for (buffer, offset, size) in ranges.iter().filter(|r| r.2 > 0) {
        encoder.copy_buffer_to_buffer(buffer, *offset, &staging, at, *size);
        at += size;
    }
    queue.submit([encoder.finish()]);
    let mut bytes = read_bytes(device, &staging).await?;
    bytes.truncate(total as usize);
    Ok(bytes)
}

/// The first `limit` particles' words of a run split into chunks (each chunk's buffer and its
/// particle count, in particle order), `bytes_per_particle` each.
pub(super) async fn read_first_particles(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    chunks: &[(&wgpu::Buffer, usize)],
    bytes_per_particle: u64,
    limit: usize,
) -> Result<Vec<u8>, GpuError> {
    let mut ranges = Vec::new();
    let mut left = limit;
    for (buffer, particles) in chunks {
        if left == 0 {
            break;
        }
        let take = (*particles).min(left);
        ranges.push((*buffer, 0, take as u64 * bytes_per_particle));
        left -= take;
    }
    read_ranges(device, queue, &ranges).await
}

/// The first `limit` traced particles of every frame of `frames` (frame-major:
/// `frames[f * traced + p]`).
pub(super) async fn read_frames(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    frames: &wgpu::Buffer,
    frame_count: usize,
    traced: usize,
    limit: usize,
) -> Result<Vec<Vec<[f32; 2]>>, GpuError> {
    let take = traced.min(limit);
    let ranges: Vec<_> =
        (0..frame_count).map(|f| (frames, (f * traced) as u64 * POINT_BYTES, take as u64 * POINT_BYTES)).collect();
    let flat = points_of(&read_ranges(device, queue, &ranges).await?);
    Ok(if take == 0 { vec![Vec::new(); frame_count] } else { flat.chunks(take).map(<[_]>::to_vec).collect() })
}

/// Little-endian bytes as points (copied: a byte vector need not be aligned for f32).
pub(super) fn points_of(bytes: &[u8]) -> Vec<[f32; 2]> {
    let value = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    bytes.chunks_exact(8).map(|p| [value(&p[..4]), value(&p[4..])]).collect()
}
