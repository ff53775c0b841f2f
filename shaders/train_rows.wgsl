// requires: rng.wgsl, exact_trig.wgsl, process.wgsl, mlp.wgsl
// A training step's rows, drawn on the GPU: the CPU trainer's draw (src/core/train/trainer.rs,
// `MinibatchDraw::of` and `Trainer::regression_row`) from the same counters, in f32.
//
// Row r of step s takes the four words of Philox at counter (s << 32) | r of the training
// stream: the first picks the data point (multiply-shift, exact), the second the time, the last
// two the noise (Box-Muller). Then x_t = alpha x0 + (1 - alpha) mu + sigma z, the network's
// features of (x_t, t, mu), and the row's regression record (a, w, b, z) of
// `Objective::as_regression`, which train_step.wgsl's `row_losses` reads. Drawing here spares
// the host O(batch) work and an upload per step, which a fast GPU would otherwise wait for.
// The numbers differ from the host's f64 draw by f32 rounding (`ROW_TOLERANCE` on the host).

struct DrawParams {
    seed: vec2<u32>,
    // The counter's stream (the CPU trainer's TRAIN_STREAM).
    stream: vec2<u32>,
    rows: u32,
    // The step, the counter's high word.
    step: u32,
    data_len: u32,
    // Invocations along x per row of the dispatch grid.
    row_length: u32,
    // 1: flow matching (a = 1, w = 1, b = x0); 0: DSM in parameterisation `param`.
    flow_matching: u32,
    param: u32,
    // 1: the likelihood weighting g^2 / sigma^2; 0: the parameterisation's own.
    likelihood: u32,
    // 1: the data points come with conditions mu (the `conditions` buffer holds them).
    has_conditions: u32,
    // 1: the process reverts to mu (x_t uses it); 0: x_t ignores mu.
    conditional: u32,
    process_kind: u32,
    process_a: f32,
    process_b: f32,
    t_eps: f32,
    t_max: f32,
    condition_dim: u32,
    input_dim: u32,
    frequencies: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> draw_params: DrawParams;
@group(0) @binding(1) var<storage, read> data_points: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> data_conditions: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> row_features: array<f32>;
// Eight floats a row: a, w, b0, b1, z0, z1 and two unused (train_step.wgsl's records).
@group(0) @binding(5) var<storage, read_write> row_records: array<f32>;

const INV_2_POW_32: f32 = 2.3283064365386963e-10;

// The DSM weight on |eps-hat - z|^2 that gives the parameterisation's natural loss
// (`natural_weight` in src/core/train/objective.rs).
fn natural_weight(param: u32, alpha: f32, sigma: f32) -> f32 {
    switch (param) {
        case PARAM_X0: {
            let r = sigma / alpha;
            return r * r;
        }
        case PARAM_V: {
            let r = (alpha * alpha + sigma * sigma) / alpha;
            return r * r;
        }
        case PARAM_FLOW: {
            let r = (alpha + sigma) / alpha;
            return r * r;
        }
        default: {
            return 1.0;
        }
    }
}

// (d eps-hat / d out, and the shift per unit of centred x): `eps_slope` and `to_eps`'s shift
// in src/core/param.rs.
fn eps_slope_and_shift(param: u32, alpha: f32, sigma: f32) -> vec2<f32> {
    switch (param) {
        case PARAM_SCORE: {
            return vec2<f32>(-sigma, 0.0);
        }
        case PARAM_X0: {
            return vec2<f32>(-alpha / sigma, 1.0 / sigma);
        }
        case PARAM_V: {
            let norm = alpha * alpha + sigma * sigma;
            return vec2<f32>(alpha / norm, sigma / norm);
        }
        case PARAM_FLOW: {
            return vec2<f32>(alpha / (alpha + sigma), 1.0 / (alpha + sigma));
        }
        default: {
            return vec2<f32>(1.0, 0.0);
        }
    }
}

@compute @workgroup_size(64)
fn draw_rows(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = draw_params;
    let r = id.x + id.y * p.row_length;
    if (r >= p.rows) {
        return;
    }
    let words = random_u32x4(p.seed, p.stream, vec2<u32>(r, p.step));
    let index = mul_hi_lo(words.x, p.data_len).x;
    let t = p.t_eps + (p.t_max - p.t_eps) * (f32(words.y) * INV_2_POW_32);
    let radius = sqrt(-2.0 * log(u32_to_open_unit_f32(words.z)));
    let angle = TAU * (f32(words.w) * INV_2_POW_32) - PI;
    // sin_cos_exact rather than WGSL's sin and cos (2^-11 allowed): the rows must match the
    // CPU's on every adapter.
    let z = radius * sin_cos_exact(angle).yx;
    let x0 = data_points[index];
    var mu = vec2<f32>(0.0);
    if (p.has_conditions == 1u) {
        mu = data_conditions[index];
    }
    let process = ProcessParams(p.process_kind, p.process_a, p.process_b);
    let alpha = process_alpha(process, t);
    let sigma = process_sigma(process, t);
    let reverting_to = select(vec2<f32>(0.0), mu, p.conditional == 1u);
    let x_t = alpha * x0 + (1.0 - alpha) * reverting_to + sigma * z;

    // The features (mlp_features' layout).
    let at = r * p.input_dim;
    row_features[at] = x_t.x;
    row_features[at + 1u] = x_t.y;
    var i = 2u;
    if (p.condition_dim == 2u) {
        row_features[at + 2u] = mu.x;
        row_features[at + 3u] = mu.y;
        i = 4u;
    }
    row_features[at + i] = t;
    i += 1u;
    var frequency = PI;
    for (var k = 0u; k < p.frequencies; k++) {
        let sin_cos = sin_cos_exact(reduced_phase(frequency * t));
        row_features[at + i] = sin_cos.x;
        row_features[at + i + 1u] = sin_cos.y;
        i += 2u;
        frequency *= 2.0;
    }

    // The record: eps-hat = a out + b against z, weighted by w.
    var a = 1.0;
    var w = 1.0;
    var b = x0;
    if (p.flow_matching == 0u) {
        let centred = alpha * x0 + sigma * z;
        let slope_shift = eps_slope_and_shift(p.param, alpha, sigma);
        a = slope_shift.x;
        b = slope_shift.y * centred;
        if (p.likelihood == 1u) {
            w = process_diffusion_squared(process, t) / (sigma * sigma);
        } else {
            w = natural_weight(p.param, alpha, sigma);
        }
    }
    let record = r * 8u;
    row_records[record] = a;
    row_records[record + 1u] = w;
    row_records[record + 2u] = b.x;
    row_records[record + 3u] = b.y;
    row_records[record + 4u] = z.x;
    row_records[record + 5u] = z.y;
    row_records[record + 6u] = 0.0;
    row_records[record + 7u] = 0.0;
}
