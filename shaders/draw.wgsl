// Drawing the sampler view with a render pipeline: a field as a colour map (one full-screen
// triangle that looks the field up per pixel), trajectories as line strips, and particles as
// small instanced quads (so 10^5 and more cost one draw call). Positions are in data
// coordinates; `view` maps them to clip space.

struct View {
    // Data-space centre and half extents of the visible square.
    centre: vec2<f32>,
    half_extent: vec2<f32>,
    // Particle quad half size in clip units (x, y).
    point_size: vec2<f32>,
    // The field grid: columns, rows.
    field_size: vec2<u32>,
    particle_color: vec4<f32>,
    trajectory_color: vec4<f32>,
    // The field's value range for the colour map.
    field_min: f32,
    field_max: f32,
    // Where the particles start in `points`: a frame of a run's snapshots, which stay on the
    // GPU, is drawn in place.
    first_point: u32,
    padding: f32,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> points: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> field: array<f32>;

fn to_clip(p: vec2<f32>) -> vec2<f32> {
    return (p - view.centre) / view.half_extent;
}

struct PointOut {
    @builtin(position) position: vec4<f32>,
}

// Six vertices (two triangles) per particle; `instance` picks the particle.
@vertex
fn particle_vertex(@builtin(vertex_index) corner: u32, @builtin(instance_index) instance: u32) -> PointOut {
    var offsets = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, 1.0), vec2<f32>(-1.0, 1.0));
    let centre = to_clip(points[view.first_point + instance]);
    return PointOut(vec4<f32>(centre + offsets[corner] * view.point_size, 0.0, 1.0));
}

@fragment
fn particle_fragment() -> @location(0) vec4<f32> {
    return view.particle_color;
}

// Trajectories: `points` holds each traced particle's frames in order; one line strip per draw
// (the host offsets `first_vertex`).
@vertex
fn trajectory_vertex(@builtin(vertex_index) index: u32) -> PointOut {
    return PointOut(vec4<f32>(to_clip(points[index]), 0.0, 1.0));
}

@fragment
fn trajectory_fragment() -> @location(0) vec4<f32> {
    return view.trajectory_color;
}

struct FieldOut {
    @builtin(position) position: vec4<f32>,
    // 0..1 across the view, y up.
    @location(0) uv: vec2<f32>,
}

@vertex
fn field_vertex(@builtin(vertex_index) index: u32) -> FieldOut {
    // One triangle that covers the screen.
    let xy = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u)) * 2.0 - 1.0;
    return FieldOut(vec4<f32>(xy, 0.0, 1.0), xy * 0.5 + 0.5);
}

// A blue-white-red diverging map of t in [0, 1].
fn diverging(t: f32) -> vec3<f32> {
    let blue = vec3<f32>(0.23, 0.30, 0.75);
    let white = vec3<f32>(0.97, 0.97, 0.97);
    let red = vec3<f32>(0.71, 0.02, 0.15);
    if (t < 0.5) {
        return mix(blue, white, t * 2.0);
    }
    return mix(white, red, (t - 0.5) * 2.0);
}

@fragment
fn field_fragment(input: FieldOut) -> @location(0) vec4<f32> {
    let cell = min(vec2<u32>(input.uv * vec2<f32>(view.field_size)), view.field_size - vec2<u32>(1u));
    let value = field[cell.y * view.field_size.x + cell.x];
    let t = clamp((value - view.field_min) / max(view.field_max - view.field_min, 1e-12), 0.0, 1.0);
    return vec4<f32>(diverging(t), 1.0);
}
