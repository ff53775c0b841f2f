//! Test layer (c): the render pipeline (shaders/draw.wgsl) drawing offscreen on Vulkan
//! (lavapipe in CI): 10^5 particles land where the data is and nowhere else, a trajectory
//! inks the pixels on its path, and the field's colour map runs from blue (low) to red (high).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::data::GaussianMixture;
use nde_playground::exec::gpu::draw::{render_to_rgba, FieldGrid, Scene};

const SIZE: u32 = 256;

/// The RGBA of the pixel where data point p lands (row 0 at the top), for a view of
/// half-width 4 around the origin.
fn pixel_at(pixels: &[u8], p: [f32; 2]) -> [u8; 4] {
    let column = ((p[0] / 4.0 * 0.5 + 0.5) * SIZE as f32) as usize;
    let row = ((0.5 - p[1] / 4.0 * 0.5) * SIZE as f32) as usize;
    let at = (row.min(SIZE as usize - 1) * SIZE as usize + column.min(SIZE as usize - 1)) * 4;
    [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
}

fn is_white(c: [u8; 4]) -> bool {
    c[0] > 250 && c[1] > 250 && c[2] > 250
}

#[test]
fn particles_trajectories_and_field_draw_where_they_should() {
    let Some(ctx) = gpu_or_skip("particles_trajectories_and_field_draw_where_they_should") else { return };
    let mixture = GaussianMixture::eight_gaussians();
    let particles: Vec<[f32; 2]> = mixture.sample(100_000, 1).iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let mut scene = Scene::new(particles);
    scene.trajectories = vec![vec![[-3.5, 3.0], [0.0, 3.0], [3.5, 3.0]]];
    let pixels = pollster::block_on(render_to_rgba(&ctx.device, &ctx.queue, (SIZE, SIZE), &scene)).unwrap();
    // Every mode's centre is inked; the empty centre and a far corner are not.
    for k in 0..8 {
        let a = std::f32::consts::TAU * k as f32 / 8.0;
        let mode = [2.0 * a.cos(), 2.0 * a.sin()];
        let c = pixel_at(&pixels, mode);
        assert!(!is_white(c) && c[2] > c[0], "mode {k} at {mode:?} is not drawn: {c:?}");
    }
    assert!(is_white(pixel_at(&pixels, [0.0, 1.0])), "between the modes should be empty");
    assert!(is_white(pixel_at(&pixels, [3.7, 3.7])), "the corner should be empty");
    // The trajectory runs along y = 3, clear of the data, in its orange.
    // (A one-pixel line at a pixel boundary may land on either neighbour.)
    let step = 4.0 / (SIZE as f32 / 2.0);
    for p in [[-1.0f32, 3.0f32], [2.0, 3.0]] {
        let near: Vec<[u8; 4]> = (-1..=1).map(|d| pixel_at(&pixels, [p[0], p[1] + d as f32 * step])).collect();
        assert!(near.iter().any(|c| c[0] > 200 && c[2] < 100), "no trajectory pixel near {p:?}: {near:?}");
    }
    let inked = pixels.chunks(4).filter(|c| !is_white([c[0], c[1], c[2], c[3]])).count();
    let share = inked as f64 / (SIZE * SIZE) as f64;
    assert!(share > 0.03 && share < 0.5, "inked share {share}");

    // A field equal to x: blue on the left, red on the right, white-ish in the middle.
    let (columns, rows) = (64u32, 64u32);
    let values = (0..rows).flat_map(|_| (0..columns).map(move |c| c as f32)).collect();
    let mut field_scene = Scene::new(vec![]);
    field_scene.field = Some(FieldGrid { columns, rows, values });
    let pixels = pollster::block_on(render_to_rgba(&ctx.device, &ctx.queue, (SIZE, SIZE), &field_scene)).unwrap();
    let (left, right) = (pixel_at(&pixels, [-3.9, 0.0]), pixel_at(&pixels, [3.9, 0.0]));
    assert!(left[2] > left[0] + 80, "left should be blue: {left:?}");
    assert!(right[0] > right[2] + 80, "right should be red: {right:?}");
}

/// A run kept on the GPU (`resident`): its read-back sample is the whole run's first
/// particles bit for bit, on both GPU paths, and drawing a frame in place from its frames
/// buffer gives the same pixels as uploading that frame from the host.
#[test]
fn a_resident_run_reads_a_sample_and_draws_its_frames_in_place() {
    use nde_playground::core::param::Parameterisation;
    use nde_playground::core::process::Process;
    use nde_playground::core::sample::model::{ExactMixtureModel, MlpModel, Model};
    use nde_playground::core::sample::{build, SamplerOptions};
    use nde_playground::exec::agreement::{test_mixture, trained_mlp};
    use nde_playground::exec::cpu::RunOptions;
    use nde_playground::exec::gpu::op_major::GpuPath;
    use nde_playground::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
    use nde_playground::exec::gpu::resident::execute_resident;

    let Some(ctx) = gpu_or_skip("a_resident_run_reads_a_sample_and_draws_its_frames_in_place") else { return };
    let kernel = pollster::block_on(PlanKernel::new(&ctx.device)).unwrap();
    let (particles, sample) = (6_000, 250);
    let options = RunOptions { particles, seed: 5, traced: (0..particles).collect(), inputs: vec![] };
    let sampler = SamplerOptions { nfe: 8, ..SamplerOptions::default() };
    let exact_plan = build("ddim", Process::vp(), Parameterisation::Score, &sampler).unwrap();
    let exact = ExactMixtureModel::new(test_mixture(), Process::vp()).data();
    let mlp_plan = build("ddim", Process::vp(), Parameterisation::Eps, &sampler).unwrap();
    let mlp =
        MlpModel::new(trained_mlp(Process::vp(), Parameterisation::Eps, 50).unwrap(), Parameterisation::Eps).data();
    let interpreter = GpuRunSettings { path: Some(GpuPath::Interpreter), ..GpuRunSettings::for_adapter(&ctx.info) };
    let op_major = GpuRunSettings { path: Some(GpuPath::OpMajor), ..interpreter };
    for (plan, model, settings, expected) in
        [(&exact_plan, &exact, interpreter, GpuPath::Interpreter), (&mlp_plan, &mlp, op_major, GpuPath::OpMajor)]
    {
        assert_eq!(chosen_path(settings, plan, model), expected);
        let whole =
            pollster::block_on(execute_plan_with(&ctx.device, &ctx.queue, &kernel, settings, plan, model, &options))
                .unwrap();
        let kept = pollster::block_on(execute_resident(
            &ctx.device,
            &ctx.queue,
            &kernel,
            settings,
            plan,
            model,
            &options,
            sample,
        ))
        .unwrap();
        let path = expected.name();
        assert_eq!(kept.particles, particles);
        assert_eq!(kept.frame_count, whole.frames.len(), "{path}");
        assert_eq!(kept.sample.positions, whole.positions[..sample], "{path}: the sample is the first particles");
        assert_eq!(kept.sample.nfe, whole.nfe, "{path}");
        for (f, frame) in kept.sample.frames.iter().enumerate() {
            assert_eq!(frame[..], whole.frames[f][..sample], "{path}: frame {f}");
        }
        for f in [0, kept.frame_count - 1] {
            let uploaded = Scene::new(whole.frames[f].clone());
            let mut in_place = Scene::new(Vec::new());
            in_place.gpu_particles = Some(kept.frame(f));
            let draw = |scene: &Scene| pollster::block_on(render_to_rgba(&ctx.device, &ctx.queue, (SIZE, SIZE), scene));
            let (a, b) = (draw(&uploaded).unwrap(), draw(&in_place).unwrap());
            let inked = b.chunks(4).filter(|c| !is_white([c[0], c[1], c[2], c[3]])).count();
            assert!(inked > 500, "{path}: frame {f} drew only {inked} pixels");
            assert!(a == b, "{path}: frame {f} drawn in place differs from the uploaded frame");
        }
    }
}
