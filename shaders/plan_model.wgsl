// requires: plan_abi.wgsl
// The run's model as the interpreter evaluates it: the network or the exact mixture, and the
// probability-flow field built on it (with its divergence, for the likelihood).

// A learned vector field's head (src/core/dynamics/field_model.rs), in model_data's first
// words: kind (0: y' = s * tanh(out); 1: y' = K b(y) + out), s (2 words), then K row by row
// (2 x 4 words) over the basis b(y) = (y0, y1, sin y0, y0 y1). The MLP follows.
const FIELD_SCALED_TANH: u32 = 0u;

// mlp.wgsl's finite_tanh on both components (a field's raw output can be large far from the
// data, where some implementations' tanh returns NaN).
fn bounded_tanh(z: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(finite_tanh(z.x), finite_tanh(z.y));
}

fn field_out(y: vec2<f32>) -> vec2<f32> {
    let out = mlp_eval(params.mlp, y, 0.0, vec2<f32>(0.0));
    if (u32(model_data[0]) == FIELD_SCALED_TANH) {
        return vec2<f32>(model_data[1], model_data[2]) * bounded_tanh(out);
    }
    // sin to f32 rounding (exact_trig.wgsl), after reducing to [-pi, pi]: WGSL's own sin may
    // be 2^-11 off, and the hybrid field integrates it over every step.
    let b = vec4<f32>(y.x, y.y, sin_cos_exact(reduced_phase(y.x)).x, y.x * y.y);
    let k0 = vec4<f32>(model_data[3], model_data[4], model_data[5], model_data[6]);
    let k1 = vec4<f32>(model_data[7], model_data[8], model_data[9], model_data[10]);
    return vec2<f32>(dot(k0, b), dot(k1, b)) + out;
}

// The model's raw output at (x, t): the network's, a learned field's value, or the mixture's
// exact score at the marginal with scale alpha and noise sigma.
fn model_out(x: vec2<f32>, t: f32, alpha: f32, sigma: f32) -> vec2<f32> {
    evaluations += 1u;
    spent += params.eval_cost;
    if (params.model_kind == MODEL_MLP) {
        return mlp_eval(params.mlp, x, t, condition());
    }
    if (params.model_kind == MODEL_FIELD) {
        return field_out(x);
    }
    if (params.model_kind == MODEL_DIAGONAL_SDE) {
        // The drift h(z): an MLP of the state alone.
        return mlp_eval(params.mlp, x, 0.0, vec2<f32>(0.0));
    }
    return mixture_score(mixture(), x, alpha, sigma, (1.0 - alpha) * condition());
}

// Words of an MLP's parameters (each layer's weights and bias).
fn mlp_words(shape: MlpShape) -> u32 {
    var inputs = shape.input_dim;
    var words = 0u;
    for (var l = 0u; l <= shape.depth; l++) {
        let outputs = select(shape.width, shape.outputs, l == shape.depth);
        words += outputs * inputs + outputs;
        inputs = outputs;
    }
    return words;
}

// A neural SDE's diagonal diffusion g_i(z_i) = sigmoid(net_i(z_i)): two nets of one shape, 1 ->
// width -> 1, the second's words after the first's. (The host refuses the op for other models.)
fn model_diffusion(z: vec2<f32>) -> vec2<f32> {
    evaluations += 1u;
    spent += params.diffusion_cost;
    var shape = params.diffusion;
    let g0 = sigmoid(mlp_eval(shape, vec2<f32>(z.x, 0.0), 0.0, vec2<f32>(0.0)).x);
    shape.base += mlp_words(shape);
    let g1 = sigmoid(mlp_eval(shape, vec2<f32>(z.y, 0.0), 0.0, vec2<f32>(0.0)).x);
    return vec2<f32>(g0, g1);
}

// ---- the SDE-GAN generator (src/core/nsde/generator_model.rs, GeneratorModel::run_op) ----
// Its state is `dim` values two per register: y's from R[state], then z's. Its noise is read
// from the particle's input rows, two values per row.

fn input_value(row: u32, k: u32) -> f32 {
    return input_row(row + k / 2u)[k % 2u];
}

fn z_register(state: u32, dim: u32) -> u32 {
    return state + (dim + 1u) / 2u;
}

// The fields' features (t, z).
fn generator_features(state: u32, dim: u32, t: f32) {
    let z_at = z_register(state, dim);
    mlp_value[0] = t;
    for (var i = 0u; i < dim; i++) {
        mlp_value[1u + i] = R[z_at + i / 2u][i % 2u];
    }
}

// y += (f(t, z) h + g(t, z) dW) / 2, the drift's part first, then the noise's: one
// evaluation of the fields.
fn generator_half_increment(state: u32, dim: u32, t: f32, h: f32, noise: u32, row: u32) {
    evaluations += 1u;
    spent += params.eval_cost;
    generator_features(state, dim, t);
    mlp_run(params.mlp, false);
    for (var i = 0u; i < dim; i++) {
        R[state + i / 2u][i % 2u] += 0.5 * (h * finite_tanh(mlp_value[i]));
    }
    generator_features(state, dim, t);
    mlp_run(params.diffusion, false);
    for (var i = 0u; i < dim; i++) {
        var noise_term = 0.0;
        for (var k = 0u; k < noise; k++) {
            noise_term += finite_tanh(mlp_value[i * noise + k]) * input_value(row, k);
        }
        R[state + i / 2u][i % 2u] += 0.5 * noise_term;
    }
}

// Y = readout(y).
fn generator_readout(state: u32, dim: u32) -> f32 {
    for (var i = 0u; i < dim; i++) {
        mlp_value[i] = R[state + i / 2u][i % 2u];
    }
    mlp_run(params.readout, false);
    return mlp_value[0];
}

// GENERATOR_START: state, dim, into, noise, row. X0 = initial(V); y = z = X0.
fn generator_start(at: u32) {
    let state = code[at + 1u];
    let dim = code[at + 2u];
    evaluations += 1u;
    spent += params.diffusion_cost;
    for (var k = 0u; k < code[at + 4u]; k++) {
        mlp_value[k] = input_value(code[at + 5u], k);
    }
    mlp_run(params.initial, false);
    let z_at = z_register(state, dim);
    for (var i = 0u; i < dim; i++) {
        R[state + i / 2u][i % 2u] = mlp_value[i];
        R[z_at + i / 2u][i % 2u] = mlp_value[i];
    }
    R[code[at + 3u]] = vec2<f32>(generator_readout(state, dim), 0.0);
}

// GENERATOR_STEP: state, dim, into, noise, row, t, h. Reversible Heun from t to t + h.
fn generator_step(at: u32) {
    let state = code[at + 1u];
    let dim = code[at + 2u];
    let noise = code[at + 4u];
    let row = code[at + 5u];
    let t = word_f32(at + 6u);
    let h = word_f32(at + 7u);
    generator_half_increment(state, dim, t, h, noise, row);
    let z_at = z_register(state, dim);
    for (var i = 0u; i < dim; i++) {
        R[z_at + i / 2u][i % 2u] = 2.0 * R[state + i / 2u][i % 2u] - R[z_at + i / 2u][i % 2u];
    }
    generator_half_increment(state, dim, t + h, h, noise, row);
    R[code[at + 3u]] = vec2<f32>(generator_readout(state, dim), 0.0);
}

// (The host refuses plans that need a field's Jacobian: field models run fixed-step plans.)
fn model_out_with_jacobian(x: vec2<f32>, t: f32, alpha: f32, sigma: f32) -> OutputWithJacobian {
    evaluations += 1u;
    spent += params.eval_cost;
    if (params.model_kind == MODEL_MLP) {
        return mlp_eval_with_jacobian(params.mlp, x, t, condition());
    }
    let s = mixture_score_with_jacobian(mixture(), x, alpha, sigma, (1.0 - alpha) * condition());
    return OutputWithJacobian(s.score, s.jacobian);
}

// ---- the probability-flow field, with its divergence for the likelihood ----

struct FlowRequest {
    with_divergence: bool,
    use_probe: bool,
    probe: vec2<f32>,
}

fn flow_field(t: f32, y: vec3<f32>, request: FlowRequest) -> vec3<f32> {
    let p = process();
    let alpha = process_alpha(p, t);
    let sigma = process_sigma(p, t);
    let ab = score_coefficients(params.param, alpha, sigma);
    let k = process_drift_coefficient(p, t);
    let g2 = process_diffusion_squared(p, t);
    let mu = condition();
    let x = y.xy;
    let centred = x - (1.0 - alpha) * mu;
    if (!request.with_divergence) {
        let score = ab.x * model_out(x, t, alpha, sigma) + ab.y * centred;
        return vec3<f32>(k * (x - mu) - 0.5 * g2 * score, 0.0);
    }
    let o = model_out_with_jacobian(x, t, alpha, sigma);
    let score = ab.x * o.out + ab.y * centred;
    var trace = ab.x * (o.jacobian[0].x + o.jacobian[1].y) + 2.0 * ab.y;
    if (request.use_probe) {
        let v = request.probe;
        trace = ab.x * dot(v, o.jacobian * v) + ab.y * dot(v, v);
    }
    return vec3<f32>(k * (x - mu) - 0.5 * g2 * score, 2.0 * k - 0.5 * g2 * trace);
}
