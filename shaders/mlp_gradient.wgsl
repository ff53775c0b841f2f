// requires: mlp.wgsl
// The MLP's parameter gradient over a batch of rows, the backward pass of src/core/nn/backprop.rs
// on the GPU, in three passes whose sums run in a fixed order, so that a batch repeats bit for
// bit on one adapter:
//
// 1. `forward_layer` per layer, one invocation per (row, unit): every hidden layer's output
//    (`post`) and pre-activation are kept, and the outputs written (for the objective); then
//    `backward_layer` per hidden layer, last first, one invocation per (row, unit): the
//    pre-activation is overwritten with the layer's delta dL/dz = act'(z) * (W_next^T d_next).
//    One dispatch per layer keeps each invocation's loops to one layer's width (a software
//    Vulkan stops an invocation after 65535 loop iterations).
// 2. `chunk_sums`, one invocation per (parameter, chunk of rows): the parameter's gradient summed
//    over the chunk's rows in row order: d[o] * h_in[i] for weight (o, i), d[o] for bias o.
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
    // The layer a forward or backward dispatch works on.
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

// Forward through layer `layer`, one invocation per (row, output): hidden layers keep their
// output in post and their pre-activation in delta; the last layer writes the outputs.
@compute @workgroup_size(64)
fn forward_layer(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = gradient_params;
    let l = p.layer;
    let span = layer_span(l);
    let index = id.x + id.y * p.row_length;
    if (index >= p.rows * span.outputs) {
        return;
    }
    let r = index / span.outputs;
    let o = index % span.outputs;
    var z = model_data[span.bias + o];
    let row = span.weights + o * span.inputs;
    for (var i = 0u; i < span.inputs; i++) {
        z += model_data[row + i] * layer_input(l, r, i);
    }
    if (l == p.shape.depth) {
        outputs[r * p.shape.outputs + o] = z;
    } else {
        let at = (l * p.rows + r) * p.shape.width + o;
        delta[at] = z;
        post[at] = activation_apply(p.shape.activation, z);
    }
}

// Backward into hidden layer `layer`, one invocation per (row, unit): its delta from the next
// layer's, over its pre-activation (which it overwrites).
@compute @workgroup_size(64)
fn backward_layer(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = gradient_params;
    let l = p.layer;
    let width = p.shape.width;
    let index = id.x + id.y * p.row_length;
    if (index >= p.rows * width) {
        return;
    }
    let r = index / width;
    let j = index % width;
    let next = layer_span(l + 1u);
    var sum = 0.0;
    for (var o = 0u; o < next.outputs; o++) {
        sum += model_data[next.weights + o * next.inputs + j] * layer_delta(l + 1u, r, o);
    }
    let at = (l * p.rows + r) * width + j;
    delta[at] = sum * activation_derivative(p.shape.activation, delta[at]);
}

@compute @workgroup_size(64)
fn chunk_sums(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = gradient_params;
    let k = id.x;
    let chunk = id.y;
    if (k >= p.params || chunk >= p.chunks) {
        return;
    }
    // Which layer, and which weight or bias, parameter k is.
    let at = k + p.shape.base;
    var l = 0u;
    var span = layer_span(0u);
    loop {
        if (at < span.bias + span.outputs || l == p.shape.depth) {
            break;
        }
        l += 1u;
        span = layer_span(l);
    }
    let first = chunk * p.chunk_rows;
    let last = min(first + p.chunk_rows, p.rows);
    var sum = 0.0;
    if (at >= span.bias) {
        let o = at - span.bias;
        for (var r = first; r < last; r++) {
            sum += layer_delta(l, r, o);
        }
    } else {
        let o = (at - span.weights) / span.inputs;
        let i = (at - span.weights) % span.inputs;
        for (var r = first; r < last; r++) {
            sum += layer_delta(l, r, o) * layer_input(l, r, i);
        }
    }
    partials[chunk * p.params + k] = sum;
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
