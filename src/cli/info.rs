//! `nde info`: what this build is and which GPU it would use.

use clap::Args;
use serde_json::json;

use crate::exec::gpu::{describe_adapter, GpuContext};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Compile-time features of this build, for the record.
fn build_features() -> Vec<&'static str> {
    vec!["wgsl", "vulkan (native GPU executor)", "webgpu (browser GPU executor)", "cpu executor"]
}

/// The cooperative-matrix shapes the adapter reports ("MxNxK ab->cr"), for the record of what
/// a GPU offers (the f16 path would use them); wgpu 30 exposes the feature only where 8x8 f32
/// is among them, so this list says why a GPU without the feature lacks it.
fn cooperative_configurations(adapter: &wgpu::Adapter) -> Vec<String> {
    adapter
        .cooperative_matrix_properties()
        .iter()
        .map(|c| format!("{}x{}x{} {:?}->{:?}", c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type))
        .collect()
}

pub fn run(args: &InfoArgs) -> Result<(), String> {
    let gpu = pollster::block_on(GpuContext::native());
    let (adapter_json, adapter_text) = match &gpu {
        Ok(ctx) => (
            json!({
                "found": true,
                "name": ctx.info.name,
                "description": describe_adapter(&ctx.info),
                "backend": format!("{:?}", ctx.info.backend),
                "device_type": format!("{:?}", ctx.info.device_type),
                "driver": ctx.info.driver,
                "driver_info": ctx.info.driver_info,
                "software": ctx.is_software(),
                "max_storage_buffer_binding_size": ctx.limits.max_storage_buffer_binding_size,
                "max_compute_workgroups_per_dimension": ctx.limits.max_compute_workgroups_per_dimension,
                "shader_f16": ctx.adapter.features().contains(wgpu::Features::SHADER_F16),
                "cooperative_matrix": ctx.adapter.features().contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
                "cooperative_matrix_configurations": cooperative_configurations(&ctx.adapter),
            }),
            format!(
                "{}{}",
                describe_adapter(&ctx.info),
                if ctx.is_software() { " — a software adapter: correct but slow" } else { "" }
            ),
        ),
        Err(e) => (json!({ "found": false, "why": e.to_string() }), format!("none ({e})")),
    };
    if args.json {
        let report = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "target": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "adapter": adapter_json,
            "features": build_features(),
        });
        println!("{report}");
    } else {
        println!("nde {} ({} {})", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH, std::env::consts::OS);
        println!("GPU adapter: {adapter_text}");
        println!("features: {}", build_features().join(", "));
    }
    Ok(())
}
