// One training step's work around the MLP's gradient (mlp_gradient.wgsl), for every objective
// of src/core/train/objective.rs written as a weighted regression: with eps-hat = a out + b,
// a row's loss is w |eps-hat - z|^2 (Objective::as_regression). The host draws each row
// (features and a, w, b, z) from the CPU trainer's counters; here:
//
// 1. `row_losses`, per row: the loss, and d_out = 2 w a (eps-hat - z) / batch (the mean's
//    gradient), which the backward pass then takes; or `row_cross_entropy` for a classifier
//    (the noise-level classifier of DLG, src/core/train/level_classifier.rs): with the row's
//    label k in its record, the loss log sum exp(out) - out_k and d_out = (softmax(out) -
//    onehot(k)) / batch;
// 2. `norm_partials`, per chunk of NORM_CHUNK parameters: the sum of squared gradients, in order;
// 3. `step_totals`, one invocation: the loss sum over rows and the squared norm, in order, and
//    the flag: 1 when either is not finite. A flag halts the run: every later step of the same
//    submission run is flagged too (totals[4], cleared by the host), so several steps can be
//    submitted with one readback and none of them moves past a refused one. Each step also
//    leaves its loss and flag in its slot of the history (totals[8 + 2 slot]);
// 4. `adam_update`, per parameter: unless flagged, Adam with the gradient clipped to the norm
//    `clip`, then the EMA (src/core/nn/adam.rs, in f32 as there). A flagged step changes
//    nothing, so the host refuses it and the weights stay as they were.

const NORM_CHUNK: u32 = 256u;

struct StepParams {
    rows: u32,
    params: u32,
    norm_chunks: u32,
    // Invocations along x per row of the dispatch grid.
    row_length: u32,
    inv_batch: f32,
    // Adam's bias-corrected step size and epsilon (as the CPU's Adam folds them).
    step_size: f32,
    epsilon: f32,
    beta1: f32,
    beta2: f32,
    // The gradient's largest L2 norm (0: no clipping).
    clip: f32,
    // The EMA's decay this step.
    ema_decay: f32,
    // This step's place in the history of its run of steps.
    slot: u32,
    // The network's outputs (the classifier's levels).
    outputs: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> step_params: StepParams;
// Per row: a, w, b0, b1, z0, z1 and two unused (a classifier's row: its label, then unused).
@group(0) @binding(1) var<storage, read> records: array<f32>;
@group(0) @binding(2) var<storage, read> outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(5) var<storage, read> gradient: array<f32>;
@group(0) @binding(6) var<storage, read_write> norm_partial: array<f32>;
// loss sum, squared norm, flag (1: not finite), the scale the clipping applied; halted (1: a
// step of this run was flagged); three unused; then per step of the run, its loss sum and flag
// (2: not taken because an earlier step halted the run).
@group(0) @binding(7) var<storage, read_write> totals: array<f32>;
@group(0) @binding(8) var<storage, read_write> parameters: array<f32>;
// Adam's first moments, then its second moments.
@group(0) @binding(9) var<storage, read_write> moments: array<f32>;
@group(0) @binding(10) var<storage, read_write> ema: array<f32>;

@compute @workgroup_size(64)
fn row_losses(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = step_params;
    let r = id.x + id.y * p.row_length;
    if (r >= p.rows) {
        return;
    }
    let at = r * 8u;
    let a = records[at];
    let w = records[at + 1u];
    let residual = vec2<f32>(
        a * outputs[2u * r] + records[at + 2u] - records[at + 4u],
        a * outputs[2u * r + 1u] + records[at + 3u] - records[at + 5u],
    );
    row_loss[r] = w * dot(residual, residual);
    let slope = 2.0 * w * a * p.inv_batch;
    d_out[2u * r] = slope * residual.x;
    d_out[2u * r + 1u] = slope * residual.y;
}

@compute @workgroup_size(64)
fn row_cross_entropy(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = step_params;
    let r = id.x + id.y * p.row_length;
    if (r >= p.rows) {
        return;
    }
    let k = u32(records[r * 8u]);
    let at = r * p.outputs;
    var largest = outputs[at];
    for (var j = 1u; j < p.outputs; j++) {
        largest = max(largest, outputs[at + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < p.outputs; j++) {
        sum += exp(outputs[at + j] - largest);
    }
    let log_norm = largest + log(sum);
    row_loss[r] = log_norm - outputs[at + k];
    for (var j = 0u; j < p.outputs; j++) {
        let onehot = select(0.0, 1.0, j == k);
        d_out[at + j] = (exp(outputs[at + j] - log_norm) - onehot) * p.inv_batch;
    }
}

@compute @workgroup_size(64)
fn norm_partials(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = step_params;
    let chunk = id.x + id.y * p.row_length;
    if (chunk >= p.norm_chunks) {
        return;
    }
    var sum = 0.0;
    for (var k = chunk * NORM_CHUNK; k < min((chunk + 1u) * NORM_CHUNK, p.params); k++) {
        sum += gradient[k] * gradient[k];
    }
    norm_partial[chunk] = sum;
}

fn finite(x: f32) -> bool {
    // NaN fails both comparisons; infinities fail the bound.
    return abs(x) <= 3.0e38;
}

@compute @workgroup_size(1)
fn step_totals() {
    let p = step_params;
    let history = 8u + 2u * p.slot;
    if (totals[4] != 0.0) {
        totals[2] = 1.0;
        totals[history] = 0.0;
        totals[history + 1u] = 2.0;
        return;
    }
    var loss = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        loss += row_loss[r];
    }
    var norm_sq = 0.0;
    for (var c = 0u; c < p.norm_chunks; c++) {
        norm_sq += norm_partial[c];
    }
    let norm = sqrt(norm_sq);
    totals[0] = loss;
    totals[1] = norm_sq;
    let flag = select(1.0, 0.0, finite(loss) && finite(norm_sq));
    totals[2] = flag;
    totals[3] = select(1.0, p.clip / norm, p.clip > 0.0 && norm > p.clip);
    totals[4] = flag;
    totals[history] = loss;
    totals[history + 1u] = flag;
}

@compute @workgroup_size(64)
fn adam_update(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = step_params;
    let k = id.x + id.y * p.row_length;
    if (k >= p.params || totals[2] != 0.0) {
        return;
    }
    let g = gradient[k] * totals[3];
    let m = p.beta1 * moments[k] + (1.0 - p.beta1) * g;
    let v = p.beta2 * moments[p.params + k] + (1.0 - p.beta2) * g * g;
    moments[k] = m;
    moments[p.params + k] = v;
    let value = parameters[k] - p.step_size * m / (sqrt(v) + p.epsilon);
    parameters[k] = value;
    ema[k] = p.ema_decay * ema[k] + (1.0 - p.ema_decay) * value;
}
