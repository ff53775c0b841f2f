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
