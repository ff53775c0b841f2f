// requires: mlp.wgsl
// One `Eval` op of a plan for a tile of particles at once (the op-major GPU path,
// src/exec/gpu/op_major.rs): R[into] = out_scale * mlp(R[at], t) + x_scale * R[at] + offset.
//
// A workgroup owns EVAL_TILE particles. Their activations stay in workgroup memory from layer
// to layer (two halves of one array, read one and write the other), and each invocation
// computes some of a layer's outputs for every particle of the tile, so each weight it reads
// from storage serves EVAL_TILE multiply-adds, four inputs at a time. The weights come in the
// quad order of src/exec/gpu/tiled_weights.rs: one `vec4` load per four inputs, and the
// invocations of a workgroup read consecutive `vec4`s. The tile's rows are padded with zeros
// to whole quads, so the padded weights (zero) multiply zeros: never an inf or a NaN left
// there by a wider layer. The features are computed in the tile, and the op's affine
// combination is fused into the last layer's store.
// The registers are the plan interpreter's (particle-major), so the interpreter runs the
// element-wise ops between evaluations on the same buffer.
//
// Precision: `tile_t` is the type of the activations and of the products. The host builds an
// f16 variant (`exec::gpu::op_major::tiled_source`) by replacing the alias line below and
// enabling f16: the products of each four inputs are then summed in f16 and added to f32 sums,
// and each layer's output (the network's too) is stored in f16.

struct EvalParams {
    chunk_particles: u32,
    registers: u32,
    at: u32,
    into: u32,
    // Workgroups along x (the grid is 2D when the particles need more than one row).
    groups_x: u32,
    t: f32,
    out_scale: f32,
    x_scale: f32,
    offset: vec2<f32>,
    condition: vec2<f32>,
    mlp: MlpShape,
}

@group(0) @binding(0) var<uniform> eval_params: EvalParams;
@group(0) @binding(3) var<storage, read_write> eval_registers: array<vec2<f32>>;
// Each layer's weights as quads of inputs: quad q of output o at `layer start + q * outputs + o`.
@group(0) @binding(4) var<storage, read> tiled_weights: array<vec4<f32>>;

// Particles per workgroup: two halves of EVAL_TILE x MAX_WIDTH floats fill the 16 KiB of
// workgroup memory every WebGPU adapter offers.
const EVAL_TILE: u32 = 8u;
const EVAL_THREADS: u32 = 64u;
const EVAL_HALF: u32 = 2048u; // EVAL_TILE * MAX_WIDTH
alias tile_t = f32; // the precision line
var<workgroup> tile_act: array<tile_t, 4096>; // 2 * EVAL_HALF

// The features of particle p's x at the op's time, written at tile_act[base + p * MAX_WIDTH]
// (the layout of mlp_features in mlp.wgsl).
fn tile_features(base: u32, p: u32, x: vec2<f32>) {
    let shape = eval_params.mlp;
    let row = base + p * MAX_WIDTH;
    tile_act[row] = tile_t(x.x);
    tile_act[row + 1u] = tile_t(x.y);
    var i = 2u;
    if (shape.condition_dim == 2u) {
        tile_act[row + 2u] = tile_t(eval_params.condition.x);
        tile_act[row + 3u] = tile_t(eval_params.condition.y);
        i = 4u;
    }
    if (i < shape.input_dim) {
        let t = eval_params.t;
        tile_act[row + i] = tile_t(t);
        i += 1u;
        var frequency = 3.141592653589793;
        for (var k = 0u; k < shape.frequencies; k++) {
            // As mlp_features: sin and cos to f32 rounding on every adapter.
            let sin_cos = sin_cos_exact(reduced_phase(frequency * t));
            tile_act[row + i] = tile_t(sin_cos.x);
            tile_act[row + i + 1u] = tile_t(sin_cos.y);
            i += 2u;
            frequency *= 2.0;
        }
    }
    // Zeros to the end of the last quad.
    for (var k = shape.input_dim; k < 4u * quads(shape.input_dim); k++) {
        tile_act[row + k] = tile_t(0.0);
    }
}

// A layer's inputs in whole quads (tiled_weights.rs: `quads`).
fn quads(inputs: u32) -> u32 {
    return (inputs + 3u) / 4u;
}

@compute @workgroup_size(64)
fn eval_tile(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let shape = eval_params.mlp;
    let first = (group.x + group.y * eval_params.groups_x) * EVAL_TILE;
    // Every invocation reaches every barrier: particles past the end are computed on zeros
    // and never stored.
    if (lane < EVAL_TILE) {
        let local = first + lane;
        var x = vec2<f32>(0.0);
        if (local < eval_params.chunk_particles) {
            x = eval_registers[local * eval_params.registers + eval_params.at];
        }
        tile_features(0u, lane, x);
    }
    workgroupBarrier();
    var offset = shape.base;
    var packed = 0u;
    var inputs = shape.input_dim;
    var source = 0u;
    for (var l = 0u; l <= shape.depth; l++) {
        let last = l == shape.depth;
        let outputs = select(shape.width, shape.outputs, last);
        let bias = offset + outputs * inputs;
        let target_half = EVAL_HALF - source;
        let layer_quads = quads(inputs);
        for (var o = lane; o < outputs; o += EVAL_THREADS) {
            var acc: array<f32, 8>;
            for (var p = 0u; p < EVAL_TILE; p++) {
                acc[p] = model_data[bias + o];
            }
            for (var q = 0u; q < layer_quads; q++) {
                let w = vec4<tile_t>(tiled_weights[packed + q * outputs + o]);
                for (var p = 0u; p < EVAL_TILE; p++) {
                    let a = source + p * MAX_WIDTH + 4u * q;
                    acc[p] += f32(dot(w, vec4<tile_t>(tile_act[a], tile_act[a + 1u], tile_act[a + 2u], tile_act[a + 3u])));
                }
            }
            for (var p = 0u; p < EVAL_TILE; p++) {
                var value = acc[p];
                if (!last) {
                    value = activation_apply(shape.activation, value);
                }
                tile_act[target_half + p * MAX_WIDTH + o] = tile_t(value);
            }
        }
        // Zeros to the end of the outputs' last quad, which the next layer reads.
        if (lane < EVAL_TILE) {
            for (var k = outputs; k < 4u * quads(outputs); k++) {
                tile_act[target_half + lane * MAX_WIDTH + k] = tile_t(0.0);
            }
        }
        workgroupBarrier();
        source = target_half;
        offset = bias + outputs;
        packed += layer_quads * outputs;
        inputs = outputs;
    }
    // The op's quantity from the network's first two outputs, for each particle of the tile
    // (one invocation per particle: it writes the whole register, so no two invocations write
    // parts of one).
    if (lane < EVAL_TILE) {
        let local = first + lane;
        if (local < eval_params.chunk_particles) {
            let a = source + lane * MAX_WIDTH;
            let out = vec2<f32>(f32(tile_act[a]), f32(tile_act[a + 1u]));
            let slot = local * eval_params.registers;
            let x = eval_registers[slot + eval_params.at];
            eval_registers[slot + eval_params.into] = eval_params.out_scale * out + eval_params.x_scale * x + eval_params.offset;
        }
    }
}
