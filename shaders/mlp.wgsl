// requires: model_buffers.wgsl, exact_trig.wgsl
// The MLP of src/core/nn/mlp.rs in f32: features, forward pass, and forward-mode Jacobian in
// x (two tangents at once, for the exact divergence). Layer l stores W (out x in, row-major)
// then its bias; hidden layers apply the activation, the last is linear. The same layout
// holds a lab's dense network on the plane (src/core/nn/dense.rs, input (y0, y1), no time
// features), which is how plans integrate a learned vector field.
// Activations live in private arrays: the shared layout allows widths up to 256.

const MLP_MAX_WIDTH: u32 = 256u;
const ACT_SILU: u32 = 0u;
const ACT_TANH: u32 = 1u;
const ACT_SOFTPLUS: u32 = 2u;
const ACT_RELU: u32 = 3u;
// The labs' dense networks' other activations (src/core/nn/dense_activation.rs).
const ACT_LIPSWISH: u32 = 4u;
const ACT_SIGMOID: u32 = 5u;
const ACT_GAUSSIAN: u32 = 6u;
const ACT_IDENTITY: u32 = 7u;
// LipSwish's scale, 0.909 (1-Lipschitz SiLU).
const LIPSWISH_SCALE: f32 = 0.909;

struct MlpShape {
    // Offset of the first parameter in model_data.
    base: u32,
    width: u32,
    depth: u32,
    activation: u32,
    frequencies: u32,
    condition_dim: u32,
    outputs: u32,
    input_dim: u32,
}

// The widest hidden layer (src/core/limits.rs: WIDTH), the size of the private activations.
const MAX_WIDTH: u32 = 256u;

var<private> mlp_value: array<f32, MAX_WIDTH>;
var<private> mlp_next: array<f32, MAX_WIDTH>;
var<private> mlp_tangent0: array<f32, MAX_WIDTH>;
var<private> mlp_tangent1: array<f32, MAX_WIDTH>;
var<private> mlp_next_tangent0: array<f32, MAX_WIDTH>;
var<private> mlp_next_tangent1: array<f32, MAX_WIDTH>;

// tanh that stays finite for every input: some implementations' tanh returns NaN far out
// (SwiftShader's, as (e^2z - 1) / (e^2z + 1), overflows to inf / inf past |z| of about 44,
// which a random network's pre-activations reach). In f32, tanh(15) is already 1.
fn finite_tanh(z: f32) -> f32 {
    return tanh(clamp(z, -15.0, 15.0));
}

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

fn activation_apply(kind: u32, z: f32) -> f32 {
    switch (kind) {
        case ACT_SILU: {
            return z * sigmoid(z);
        }
        case ACT_TANH: {
            return finite_tanh(z);
        }
        case ACT_SOFTPLUS: {
            return max(z, 0.0) + log(1.0 + exp(-abs(z)));
        }
        case ACT_LIPSWISH: {
            return LIPSWISH_SCALE * z * sigmoid(z);
        }
        case ACT_SIGMOID: {
            return sigmoid(z);
        }
        case ACT_GAUSSIAN: {
            return exp(-z * z);
        }
        case ACT_IDENTITY: {
            return z;
        }
        case ACT_RELU, default: {
            return max(z, 0.0);
        }
    }
}

fn activation_derivative(kind: u32, z: f32) -> f32 {
    switch (kind) {
        case ACT_SILU: {
            let s = sigmoid(z);
            return s * (1.0 + z * (1.0 - s));
        }
        case ACT_TANH: {
            let t = finite_tanh(z);
            return 1.0 - t * t;
        }
        case ACT_SOFTPLUS: {
            return sigmoid(z);
        }
        case ACT_LIPSWISH: {
            let s = sigmoid(z);
            return LIPSWISH_SCALE * s * (1.0 + z * (1.0 - s));
        }
        case ACT_SIGMOID: {
            let s = sigmoid(z);
            return s * (1.0 - s);
        }
        case ACT_GAUSSIAN: {
            return -2.0 * z * exp(-z * z);
        }
        case ACT_IDENTITY: {
            return 1.0;
        }
        case ACT_RELU, default: {
            return select(0.0, 1.0, z > 0.0);
        }
    }
}

// sin and cos of a phase reduced to [-pi, pi], where WGSL's sin and cos are accurate.
fn reduced_phase(phase: f32) -> f32 {
    return phase - 6.283185307179586 * round(phase / 6.283185307179586);
}

// Writes the feature vector into mlp_value (and zero tangents, d x / d x = I, into the tangents).
fn mlp_features(shape: MlpShape, x: vec2<f32>, t: f32, condition: vec2<f32>) {
    mlp_value[0] = x.x;
    mlp_value[1] = x.y;
    var i = 2u;
    if (shape.condition_dim == 2u) {
        mlp_value[2] = condition.x;
        mlp_value[3] = condition.y;
        i = 4u;
    }
    // A network of the state alone (a lab's autonomous field) has no time input: its
    // input_dim ends here.
    if (i < shape.input_dim) {
        mlp_value[i] = t;
        i += 1u;
        var frequency = 3.141592653589793;
        for (var k = 0u; k < shape.frequencies; k++) {
            // sin_cos_exact, not WGSL's sin and cos (2^-11 allowed, and SwiftShader's come
            // near it): a feature's error goes through every layer and every step.
            let sin_cos = sin_cos_exact(reduced_phase(frequency * t));
            mlp_value[i] = sin_cos.x;
            mlp_value[i + 1u] = sin_cos.y;
            i += 2u;
            frequency *= 2.0;
        }
    }
    for (var j = 0u; j < shape.input_dim; j++) {
        mlp_tangent0[j] = 0.0;
        mlp_tangent1[j] = 0.0;
    }
    mlp_tangent0[0] = 1.0;
    mlp_tangent1[1] = 1.0;
}

// The forward pass from the features in mlp_value; leaves all outputs in mlp_value[0..outputs].
// With `tangents`, also carries d/dx0 and d/dx1 through every layer.
fn mlp_run(shape: MlpShape, tangents: bool) {
    var offset = shape.base;
    var inputs = shape.input_dim;
    for (var l = 0u; l <= shape.depth; l++) {
        let last = l == shape.depth;
        let outputs = select(shape.width, shape.outputs, last);
        let bias = offset + outputs * inputs;
        for (var o = 0u; o < outputs; o++) {
            let row = offset + o * inputs;
            var acc = model_data[bias + o];
            var d0 = 0.0;
            var d1 = 0.0;
            // Four inputs per iteration: fewer loop trips (software Vulkan caps them, see
            // plan_interpreter.wgsl) and independent multiply-adds for the hardware.
            var i = 0u;
            for (; i + 4u <= inputs; i += 4u) {
                let w = vec4<f32>(model_data[row + i], model_data[row + i + 1u], model_data[row + i + 2u], model_data[row + i + 3u]);
                acc += dot(w, vec4<f32>(mlp_value[i], mlp_value[i + 1u], mlp_value[i + 2u], mlp_value[i + 3u]));
                if (tangents) {
                    d0 += dot(w, vec4<f32>(mlp_tangent0[i], mlp_tangent0[i + 1u], mlp_tangent0[i + 2u], mlp_tangent0[i + 3u]));
                    d1 += dot(w, vec4<f32>(mlp_tangent1[i], mlp_tangent1[i + 1u], mlp_tangent1[i + 2u], mlp_tangent1[i + 3u]));
                }
            }
            for (; i < inputs; i++) {
                let w = model_data[row + i];
                acc += w * mlp_value[i];
                if (tangents) {
                    d0 += w * mlp_tangent0[i];
                    d1 += w * mlp_tangent1[i];
                }
            }
            if (last) {
                mlp_next[o] = acc;
                mlp_next_tangent0[o] = d0;
                mlp_next_tangent1[o] = d1;
            } else {
                mlp_next[o] = activation_apply(shape.activation, acc);
                if (tangents) {
                    let slope = activation_derivative(shape.activation, acc);
                    mlp_next_tangent0[o] = d0 * slope;
                    mlp_next_tangent1[o] = d1 * slope;
                }
            }
        }
        for (var o = 0u; o < outputs; o++) {
            mlp_value[o] = mlp_next[o];
            mlp_tangent0[o] = mlp_next_tangent0[o];
            mlp_tangent1[o] = mlp_next_tangent1[o];
        }
        offset = bias + outputs;
        inputs = outputs;
    }
}

// The network's first two outputs at (x, t, condition).
fn mlp_eval(shape: MlpShape, x: vec2<f32>, t: f32, condition: vec2<f32>) -> vec2<f32> {
    mlp_features(shape, x, t, condition);
    mlp_run(shape, false);
    return vec2<f32>(mlp_value[0], mlp_value[1]);
}

// The outputs and their Jacobian in x: columns are d out / d x0 and d out / d x1.
struct OutputWithJacobian {
    out: vec2<f32>,
    jacobian: mat2x2<f32>,
}

fn mlp_eval_with_jacobian(shape: MlpShape, x: vec2<f32>, t: f32, condition: vec2<f32>) -> OutputWithJacobian {
    mlp_features(shape, x, t, condition);
    mlp_run(shape, true);
    let column0 = vec2<f32>(mlp_tangent0[0], mlp_tangent0[1]);
    let column1 = vec2<f32>(mlp_tangent1[0], mlp_tangent1[1]);
    return OutputWithJacobian(vec2<f32>(mlp_value[0], mlp_value[1]), mat2x2<f32>(column0, column1));
}
