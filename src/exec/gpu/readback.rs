//! Copying a storage buffer back to the host without blocking the browser.
//!
//! Natively we poll the device until the mapping is done; in the browser polling does
//! nothing and the mapping completes only once control returns to the event loop, so the
//! result always travels through a oneshot channel that the caller awaits.

use super::GpuError;

/// The bytes of `buffer` (which must have MAP_READ usage).
pub async fn read_bytes(device: &wgpu::Device, buffer: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
    let slice = buffer.slice(..);
    let (sender, receiver) = futures_channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    #[cfg(not(target_arch = "wasm32"))]
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    receiver
        .await
        .map_err(|_| GpuError::Readback("the mapping callback never ran (device lost?)".into()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let bytes = slice.get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
    buffer.unmap();
    Ok(bytes)
}
