// requires: rng.wgsl
// Fills a buffer with consecutive Philox draws of one stream: the GPU half of the
// CPU/GPU bit-identity test, and the smallest useful compute kernel (the smoke test).

struct RngFillParams {
    seed: vec2<u32>,
    stream: vec2<u32>,
    first_counter: vec2<u32>,
    count: u32,
    // Draws per row of the dispatch grid: the grid is 2D so that more than
    // 65535 workgroups' worth of draws fit in one dispatch.
    row_length: u32,
}

@group(0) @binding(0) var<uniform> params: RngFillParams;
@group(0) @binding(1) var<storage, read_write> bits_out: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> normals_out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn fill(@builtin(global_invocation_id) id: vec3<u32>) {
    let index = id.x + id.y * params.row_length;
    if (index >= params.count) {
        return;
    }
    let counter = add_u64(params.first_counter, index);
    bits_out[index] = random_u32x4(params.seed, params.stream, counter);
    normals_out[index] = normal4(params.seed, params.stream, counter);
}
