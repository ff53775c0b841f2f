// requires: mlp.wgsl
// The MLP's parameter gradient over a batch of rows, the backward pass of src/core/nn/backprop.rs
// on the GPU, as tiled matrix products whose sums run in a fixed order, so that a batch repeats
// bit for bit on one adapter:
//
// 1. `forward_tiles` per layer: every hidden layer's output (`post`) and pre-activation are
//    kept, and the outputs written (for the objective); then `backward_tiles` per hidden layer,
//    last first: the pre-activation is overwritten with the layer's delta
//    dL/dz = act'(z) * (W_next^T d_next).
// 2. `weight_tiles` per layer: each parameter's gradient summed over each chunk of rows, in row
//    order: d[o] * h_in[i] for weight (o, i), d[o] for bias o.
// 3. `chunk_totals`, one invocation per parameter: the chunks' partial sums added in chunk order.
//
// Storage is row-major per hidden layer: post[(l * rows + r) * width + j], and likewise the
// deltas. The parameters are the shared layout of src/core/nn/mlp.rs in model_data.

struct GradientParams {
    shape: MlpShape,
    rows: u32,
    chunk_rows: u32,
    chunks: u32,
    params: u32,
    // Invocations along x per row of the dispatch grid (the 2D grid's row length).
    row_length: u32,
    // The layer a dispatch works on.
    layer: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> gradient_params: GradientParams;
@group(0) @binding(1) var<storage, read> features: array<f32>;
@group(0) @binding(3) var<storage, read> d_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> post: array<f32>;
@group(0) @binding(5) var<storage, read_write> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;
@group(0) @binding(8) var<storage, read_write> gradient: array<f32>;

// Hidden layer l's input value i for row r: the features for the first layer.
fn layer_input(l: u32, r: u32, i: u32) -> f32 {
    let p = gradient_params;
    if (l == 0u) {
        return features[r * p.shape.input_dim + i];
    }
    return post[((l - 1u) * p.rows + r) * p.shape.width + i];
}

// Layer l's delta for row r, output o: the given output gradient for the last layer.
fn layer_delta(l: u32, r: u32, o: u32) -> f32 {
    let p = gradient_params;
    if (l == p.shape.depth) {
        return d_out[r * p.shape.outputs + o];
    }
    return delta[(l * p.rows + r) * p.shape.width + o];
}

// Layer l's weights and bias offsets and its input and output counts.
struct LayerSpan {
    weights: u32,
    bias: u32,
    inputs: u32,
    outputs: u32,
}

fn layer_span(l: u32) -> LayerSpan {
    let s = gradient_params.shape;
    var offset = s.base;
    var inputs = s.input_dim;
    for (var k = 0u; k < l; k++) {
        offset += s.width * inputs + s.width;
        inputs = s.width;
    }
    let outputs = select(s.width, s.outputs, l == s.depth);
    return LayerSpan(offset, offset + outputs * inputs, inputs, outputs);
}

// The three products of a step are one tiled kernel. Each is a matrix product C = A B (M x N,
// over K) with an epilogue:
//
// - forward through layer l: C[r, o] = b[o] + sum_i X_l[r, i] W_l[o, i]; hidden layers keep
//   the pre-activation in delta and the output in post, the last layer writes the outputs;
// - backward into hidden layer l: C[r, j] = sum_o D_{l+1}[r, o] W_{l+1}[o, j], times act' of
//   the kept pre-activation, overwriting it with layer l's delta;
// - layer l's parameter gradient over one chunk of rows: C[o, i] = sum_r D_l[r, o] X_l[r, i],
//   with a column of ones after the inputs (i = inputs), whose sums are the bias gradient.
//
// A workgroup owns a TILE_M x TILE_N block of C. At each step along K it loads TILE_K columns
// of A and rows of B into workgroup memory (each value read from storage once for the whole
// block), and each invocation adds them into its 4 x 4 outputs in registers. Every output is
// summed over K in order (a step's k in order, steps in order), one invocation per output, so
// the sums never depend on scheduling. Values past the edges load as zeros and are never stored.

const TILE_M: u32 = 32u;
const TILE_N: u32 = 32u;
const TILE_K: u32 = 16u;
const TILE_THREADS: u32 = 64u; // 8 x 8 invocations, each 4 x 4 outputs

// k-major: tile_a[k * TILE_M + m], tile_b[k * TILE_N + n].
var<workgroup> tile_a: array<f32, 512>; // TILE_K * TILE_M
var<workgroup> tile_b: array<f32, 512>; // TILE_K * TILE_N

const PRODUCT_FORWARD: u32 = 0u;
const PRODUCT_BACKWARD: u32 = 1u;
const PRODUCT_WEIGHTS: u32 = 2u;

// One product: which, the layer it works on, that layer's span (the next layer's for the
// backward product, whose weights it reads), the first row of the chunk (weights only) and the
// sizes.
struct Product {
    kind: u32,
    l: u32,
    span: LayerSpan,
    first_row: u32,
    m: u32,
    n: u32,
    k: u32,
}

fn product_a(job: Product, m: u32, k: u32) -> f32 {
    switch job.kind {
        case PRODUCT_FORWARD: {
            return layer_input(job.l, m, k);
        }
        case PRODUCT_BACKWARD: {
            return layer_delta(job.l + 1u, m, k);
        }
        default: {
            return layer_delta(job.l, job.first_row + k, m);
        }
    }
}

fn product_b(job: Product, k: u32, n: u32) -> f32 {
    switch job.kind {
        case PRODUCT_FORWARD: {
            return model_data[job.span.weights + n * job.span.inputs + k];
        }
        case PRODUCT_BACKWARD: {
            return model_data[job.span.weights + k * job.span.inputs + n];
        }
        default: {
            if (n == job.span.inputs) {
                return 1.0;
            }
            return layer_input(job.l, job.first_row + k, n);
        }
    }
}

// Where output (m, n) goes, once summed.
fn product_store(job: Product, m: u32, n: u32, sum: f32) {
    let p = gradient_params;
    switch job.kind {
        case PRODUCT_FORWARD: {
            if (job.l == p.shape.depth) {
                outputs[m * p.shape.outputs + n] = sum;
            } else {
                let at = (job.l * p.rows + m) * p.shape.width + n;
                delta[at] = sum;
                post[at] = activation_apply(p.shape.activation, sum);
            }
        }
        case PRODUCT_BACKWARD: {
            let at = (job.l * p.rows + m) * p.shape.width + n;
            delta[at] = sum * activation_derivative(p.shape.activation, delta[at]);
        }
        default: {
            let at = select(job.span.weights + m * job.span.inputs + n, job.span.bias + m, n == job.span.inputs);
            partials[(job.first_row / p.chunk_rows) * p.params + at - p.shape.base] = sum;
        }
    }
}

// The block of C at (m0, n0), by the workgroup's TILE_THREADS invocations.
fn product_tile(job: Product, m0: u32, n0: u32, lane: u32) {
    let tm = (lane / 8u) * 4u;
    let tn = (lane % 8u) * 4u;
    // The forward product starts each sum at the bias, as the CPU's layer does.
    var start = vec4<f32>(0.0);
    if (job.kind == PRODUCT_FORWARD) {
        for (var b = 0u; b < 4u; b++) {
            if (n0 + tn + b < job.n) {
                start[b] = model_data[job.span.bias + n0 + tn + b];
            }
        }
    }
    var acc = array<vec4<f32>, 4>(start, start, start, start);
    for (var k0 = 0u; k0 < job.k; k0 += TILE_K) {
        for (var e = lane; e < TILE_K * TILE_M; e += TILE_THREADS) {
            let k = k0 + e / TILE_M;
            let m = m0 + e % TILE_M;
            var value = 0.0;
            if (m < job.m && k < job.k) {
                value = product_a(job, m, k);
            }
            tile_a[e] = value;
        }
        for (var e = lane; e < TILE_K * TILE_N; e += TILE_THREADS) {
            let k = k0 + e / TILE_N;
            let n = n0 + e % TILE_N;
            var value = 0.0;
            if (n < job.n && k < job.k) {
                value = product_b(job, k, n);
            }
            tile_b[e] = value;
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE_K; k++) {
            let a = vec4<f32>(tile_a[k * TILE_M + tm], tile_a[k * TILE_M + tm + 1u], tile_a[k * TILE_M + tm + 2u], tile_a[k * TILE_M + tm + 3u]);
            let b = vec4<f32>(tile_b[k * TILE_N + tn], tile_b[k * TILE_N + tn + 1u], tile_b[k * TILE_N + tn + 2u], tile_b[k * TILE_N + tn + 3u]);
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
        workgroupBarrier();
    }
    for (var a = 0u; a < 4u; a++) {
        for (var b = 0u; b < 4u; b++) {
            let m = m0 + tm + a;
            let n = n0 + tn + b;
            if (m < job.m && n < job.n) {
                product_store(job, m, n, acc[a][b]);
            }
        }
    }
}

// Forward through layer `layer`: C = rows x outputs over the layer's inputs.
@compute @workgroup_size(64)
fn forward_tiles(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let p = gradient_params;
    let span = layer_span(p.layer);
    let job = Product(PRODUCT_FORWARD, p.layer, span, 0u, p.rows, span.outputs, span.inputs);
    product_tile(job, group.y * TILE_M, group.x * TILE_N, lane);
}

// Backward into hidden layer `layer`: C = rows x width over the next layer's outputs.
@compute @workgroup_size(64)
fn backward_tiles(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let p = gradient_params;
    let next = layer_span(p.layer + 1u);
    let job = Product(PRODUCT_BACKWARD, p.layer, next, 0u, p.rows, p.shape.width, next.outputs);
    product_tile(job, group.y * TILE_M, group.x * TILE_N, lane);
}

// Layer `layer`'s parameter gradient over each chunk of rows: C = outputs x (inputs + 1) over
// the chunk's rows; y counts the blocks of outputs of chunk 0, then of chunk 1, and so on.
@compute @workgroup_size(64)
fn weight_tiles(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let p = gradient_params;
    let span = layer_span(p.layer);
    let m_blocks = (span.outputs + TILE_M - 1u) / TILE_M;
    let chunk = group.y / m_blocks;
    let first = chunk * p.chunk_rows;
    let rows = min(p.chunk_rows, p.rows - first);
    let job = Product(PRODUCT_WEIGHTS, p.layer, span, first, span.outputs, span.inputs + 1u, rows);
    product_tile(job, (group.y % m_blocks) * TILE_M, group.x * TILE_N, lane);
}

@compute @workgroup_size(64)
fn chunk_totals(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = gradient_params;
    let k = id.x + id.y * p.row_length;
    if (k >= p.params) {
        return;
    }
    var sum = 0.0;
    for (var c = 0u; c < p.chunks; c++) {
        sum += partials[c * p.params + k];
    }
    gradient[k] = sum;
}
