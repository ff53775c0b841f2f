// requires: rng.wgsl, process.wgsl, model_buffers.wgsl, mlp.wgsl, mixture.wgsl
// The GPU executor: one invocation per particle interprets a Plan (src/core/sample/plan.rs),
// encoded as words by src/exec/gpu/plan_code.rs, with the particle's registers in private
// memory. A dispatch runs the ops in [code_start, code_end); registers and each particle's
// progress (its next op, the resume point of SkipIf, its evaluation count, and a suspended
// adaptive solve) persist in storage between dispatches, so the host can run a plan a few
// steps at a time. Nothing here knows about samplers: only the ops.
//
// Work budget: a dispatch may spend at most `work_budget` units per invocation (about one unit
// per loop iteration; the host prices an evaluation in `eval_cost`). A particle that would
// exceed it stops before the op, or between two steps of an adaptive solve, and counts itself
// in `status`; the host dispatches the same range again until none do. This keeps dispatches
// short for browsers and drivers, and it is required on llvmpipe/lavapipe, which ends every
// invocation after 65535 loop iterations in all (LP_MAX_TGSI_LOOP_ITERATIONS) and carries on
// silently with whatever state it had.

const OP_INIT: u32 = 1u;
const OP_EVAL: u32 = 2u;
const OP_AXPY: u32 = 3u;
const OP_SNAPSHOT: u32 = 4u;
const OP_ADAPTIVE: u32 = 5u;
const OP_MALA_START: u32 = 6u;
const OP_MALA_STEP: u32 = 7u;
const OP_EVAL_AT_LEVEL: u32 = 8u;
const OP_GIBBS_LEVEL: u32 = 9u;
const OP_SKIP_IF: u32 = 10u;
const OP_LOAD_INPUT: u32 = 11u;
const NO_REGISTER: u32 = 0xFFFFu;
const NO_COUNTER: u32 = 0xFFFFFFFFu;
const MODEL_MLP: u32 = 0u;
const MAX_LEVELS: u32 = 128u;
const MAX_STAGES: u32 = 8u;

struct RunParams {
    chunk_offset: u32,
    chunk_particles: u32,
    row_length: u32,
    registers: u32,
    seed_lo: u32,
    seed_hi: u32,
    code_start: u32,
    code_end: u32,
    traced: u32,
    model_kind: u32,
    param: u32,
    process_kind: u32,
    process_a: f32,
    process_b: f32,
    condition_x: f32,
    condition_y: f32,
    mlp: MlpShape,
    classifier: MlpShape,
    mixture_base: u32,
    mixture_components: u32,
    has_classifier: u32,
    work_budget: u32,
    eval_cost: u32,
    classifier_cost: u32,
    padding0: u32,
    padding1: u32,
}

@group(0) @binding(0) var<uniform> params: RunParams;
@group(0) @binding(1) var<storage, read> code: array<u32>;
@group(0) @binding(3) var<storage, read_write> registers: array<vec2<f32>>;
// Per particle, three vec4: (next op, the word SkipIf resumes at, model evaluations made,
// adaptive solve in progress), then the suspended solve's (t, h, y.x, y.y) and (y.z, steps,
// -, -) as bits.
@group(0) @binding(4) var<storage, read_write> progress: array<vec4<u32>>;
// frames[frame * traced + particle] for particles below `traced`.
@group(0) @binding(5) var<storage, read_write> frames: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read> inputs: array<vec2<f32>>;
// How many particles stopped on the budget in this dispatch.
@group(0) @binding(7) var<storage, read_write> status: atomic<u32>;

var<private> R: array<vec2<f32>, 16>;
var<private> level_logs: array<f32, 128>;
var<private> stage_k: array<vec3<f32>, 8>;
var<private> particle: u32;
var<private> evaluations: u32;
var<private> spent: u32;
// A suspended adaptive solve.
var<private> solve_active: bool;
var<private> solve_t: f32;
var<private> solve_h: f32;
var<private> solve_y: vec3<f32>;
var<private> solve_steps: u32;
var<private> solve_failed: bool;

fn word_f32(at: u32) -> f32 {
    return bitcast<f32>(code[at]);
}

fn seed() -> vec2<u32> {
    return vec2<u32>(params.seed_lo, params.seed_hi);
}

// The two standard normals of draw `counter` (the first pair of the particle's Philox block).
fn noise(counter: u32) -> vec2<f32> {
    return normal4(seed(), vec2<u32>(particle, 0u), vec2<u32>(counter, 0u)).xy;
}

fn uniform_draw(counter: u32) -> f32 {
    return u32_to_open_unit_f32(random_u32x4(seed(), vec2<u32>(particle, 0u), vec2<u32>(counter, 0u)).x);
}

fn process() -> ProcessParams {
    return ProcessParams(params.process_kind, params.process_a, params.process_b);
}

fn condition() -> vec2<f32> {
    return vec2<f32>(params.condition_x, params.condition_y);
}

fn mixture() -> MixtureShape {
    return MixtureShape(params.mixture_base, params.mixture_components);
}

// The model's raw output at (x, t): the network's, or the mixture's exact score at the
// marginal with scale alpha and noise sigma.
fn model_out(x: vec2<f32>, t: f32, alpha: f32, sigma: f32) -> vec2<f32> {
    evaluations += 1u;
    spent += params.eval_cost;
    if (params.model_kind == MODEL_MLP) {
        return mlp_eval(params.mlp, x, t, condition());
    }
    return mixture_score(mixture(), x, alpha, sigma, (1.0 - alpha) * condition());
}

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

// ---- adaptive Runge-Kutta with an embedded pair and an I-controller (src/core/solve) ----

struct Tableau {
    // Word offsets of c, a (stages x stages, row-major), b, e and the used-stage flags.
    c: u32,
    a: u32,
    b: u32,
    e: u32,
    used: u32,
    stages: u32,
    order: f32,
}

struct Tolerance {
    rtol: f32,
    atol: f32,
    dims: u32,
    // The I-controller's constants, from the op (src/core/solve/pid.rs).
    safety: f32,
    max_factor: f32,
    min_factor: f32,
    reject_max_factor: f32,
}

fn scaled_rms(v: vec3<f32>, y0: vec3<f32>, y1: vec3<f32>, tol: Tolerance) -> f32 {
    let scale = vec3<f32>(tol.atol) + max(abs(y0), abs(y1)) * tol.rtol;
    var q = v / scale;
    if (tol.dims == 2u) {
        q.z = 0.0;
    }
    return sqrt(dot(q, q) / f32(tol.dims));
}

// Hairer's initial step: two evaluations. The probe and the step never pass the interval's
// length `span` (beyond it the field may not exist: VP's sigma is NaN below t = 0).
fn initial_step(t0: f32, y0: vec3<f32>, direction: f32, span: f32, order: f32, tol: Tolerance, request: FlowRequest) -> f32 {
    let f0 = flow_field(t0, y0, request);
    let d0 = scaled_rms(y0, y0, y0, tol);
    let d1 = scaled_rms(f0, y0, y0, tol);
    var h0 = 1e-6;
    if (d0 >= 1e-5 && d1 >= 1e-5) {
        h0 = 0.01 * d0 / d1;
    }
    h0 = min(h0, span);
    let f1 = flow_field(t0 + direction * h0, y0 + direction * h0 * f0, request);
    let d2 = scaled_rms(f1 - f0, y0, y0, tol) / h0;
    var h1 = max(h0 * 1e-3, 1e-6);
    if (max(d1, d2) > 1e-15) {
        h1 = pow(0.01 / max(d1, d2), 1.0 / order);
    }
    return min(min(100.0 * h0, h1), span);
}

struct RkResult {
    y: vec3<f32>,
    error: vec3<f32>,
}

fn rk_step(tab: Tableau, t: f32, y: vec3<f32>, h: f32, request: FlowRequest) -> RkResult {
    for (var i = 0u; i < tab.stages; i++) {
        stage_k[i] = vec3<f32>(0.0);
        if (code[tab.used + i] == 0u) {
            continue;
        }
        var stage_y = y;
        for (var j = 0u; j < i; j++) {
            let a = word_f32(tab.a + i * tab.stages + j);
            if (a != 0.0) {
                stage_y += h * a * stage_k[j];
            }
        }
        stage_k[i] = flow_field(t + word_f32(tab.c + i) * h, stage_y, request);
    }
    var new_y = y;
    var error = vec3<f32>(0.0);
    for (var i = 0u; i < tab.stages; i++) {
        new_y += h * word_f32(tab.b + i) * stage_k[i];
        error += h * word_f32(tab.e + i) * stage_k[i];
    }
    return RkResult(new_y, error);
}

// Advances the solve from t0 to t1 held in the solve_* variables, one step at a time while
// the budget lasts (at least one step per call). Returns true when it has reached t1, or has
// given up (then solve_failed is set, and the host reports the particle).
fn advance_adaptive(tab: Tableau, t0: f32, t1: f32, tol: Tolerance, max_steps: u32, request: FlowRequest) -> bool {
    let direction = sign(t1 - t0);
    let step_cost = tab.stages * (params.eval_cost + tab.stages);
    if (!solve_active) {
        solve_active = true;
        solve_t = t0;
        solve_steps = 0u;
        solve_h = initial_step(t0, solve_y, direction, abs(t1 - t0), tab.order, tol, request);
    }
    var first = true;
    loop {
        if ((t1 - solve_t) * direction <= 0.0) {
            solve_active = false;
            return true;
        }
        if (!first && spent + step_cost > params.work_budget) {
            return false;
        }
        first = false;
        if (solve_steps >= max_steps) {
            solve_failed = true;
            solve_active = false;
            return true;
        }
        let step_h = direction * min(solve_h, abs(t1 - solve_t));
        if (abs(step_h) < 1e-7 * (1.0 + abs(solve_t))) {
            solve_failed = true;
            solve_active = false;
            return true;
        }
        let step = rk_step(tab, solve_t, solve_y, step_h, request);
        spent += tab.stages * tab.stages;
        var norm = scaled_rms(step.error, solve_y, step.y, tol);
        // NaN fails every comparison: treat it as a huge error.
        let finite = norm == norm && norm < 3.0e38;
        let accepted = finite && norm <= 1.0;
        if (!finite) {
            norm = 1e10;
        }
        var factor = tol.safety * pow(max(norm, 1e-10), -1.0 / tab.order);
        if (accepted) {
            factor = clamp(factor, 1.0, tol.max_factor);
            // In f32, t + h can stop an ulp short of t1 and leave a step too small to take:
            // within 1e-6 of the end counts as the end.
            if ((t1 - (solve_t + step_h)) * direction <= 1e-6 * (1.0 + abs(t1))) {
                solve_t = t1;
            } else {
                solve_t = solve_t + step_h;
            }
            solve_y = step.y;
        } else {
            factor = clamp(factor, tol.min_factor, tol.reject_max_factor);
        }
        solve_steps += 1u;
        solve_h = abs(step_h) * factor;
    }
    return true;
}

// ---- ops ----

// Inverse-CDF draw of a level from normalised log-probabilities in level_logs.
fn draw_level(count: u32, u: f32) -> u32 {
    var acc = 0.0;
    for (var k = 0u; k < count; k++) {
        acc += exp(level_logs[k]);
        if (u <= acc) {
            return k;
        }
    }
    return count - 1u;
}

fn normalise_level_logs(count: u32) {
    var top = -3.0e38;
    for (var k = 0u; k < count; k++) {
        top = max(top, level_logs[k]);
    }
    var total = 0.0;
    for (var k = 0u; k < count; k++) {
        total += exp(level_logs[k] - top);
    }
    let norm = top + log(total);
    for (var k = 0u; k < count; k++) {
        level_logs[k] -= norm;
    }
}

fn level_index(value: f32, count: u32) -> u32 {
    return min(u32(max(value, 0.0)), count - 1u);
}

// Score and log-density at (x, t) for MALA (mixtures only: the host refuses networks).
struct ScoreAndLogDensity {
    score: vec2<f32>,
    log_density: f32,
}

fn score_and_log_density(x: vec2<f32>, t: f32, alpha: f32, sigma: f32) -> ScoreAndLogDensity {
    let ab = score_coefficients(params.param, alpha, sigma);
    let shift = (1.0 - alpha) * condition();
    let score = ab.x * model_out(x, t, alpha, sigma) + ab.y * (x - shift);
    return ScoreAndLogDensity(score, mixture_log_density(mixture(), x, alpha, sigma, shift));
}

fn log_q(a: vec2<f32>, b: vec2<f32>, s: vec2<f32>, eps: f32) -> f32 {
    let d = a - b - eps * s;
    return -dot(d, d) / (4.0 * eps);
}

// ADAPTIVE: x, nll, t0, t1, rtol, atol, max_steps, prior_std, probe_counter, the controller's
// safety, max, min and reject-max factors, order, stages, then the tableau. Returns false
// when the budget ran out first (the solve is suspended).
fn run_adaptive(at: u32) -> bool {
    let x_reg = code[at + 1u];
    let nll_reg = code[at + 2u];
    let stages = code[at + 15u];
    let tab = Tableau(at + 16u, at + 16u + stages, at + 16u + stages + stages * stages,
        at + 16u + 2u * stages + stages * stages, at + 16u + 3u * stages + stages * stages, stages, word_f32(at + 14u));
    let with_divergence = nll_reg != NO_REGISTER;
    var request = FlowRequest(with_divergence, false, vec2<f32>(0.0));
    let probe_counter = code[at + 9u];
    if (probe_counter != NO_COUNTER) {
        let bits = random_u32x4(seed(), vec2<u32>(particle, 0u), vec2<u32>(probe_counter, 0u)).x;
        request.use_probe = true;
        request.probe = vec2<f32>(select(1.0, -1.0, (bits & 1u) != 0u), select(1.0, -1.0, (bits & 2u) != 0u));
    }
    let tol = Tolerance(word_f32(at + 5u), word_f32(at + 6u), select(2u, 3u, with_divergence),
        word_f32(at + 10u), word_f32(at + 11u), word_f32(at + 12u), word_f32(at + 13u));
    if (!solve_active) {
        solve_y = vec3<f32>(R[x_reg], 0.0);
    }
    if (!advance_adaptive(tab, word_f32(at + 3u), word_f32(at + 4u), tol, code[at + 7u], request)) {
        return false;
    }
    let end = solve_y;
    R[x_reg] = end.xy;
    if (with_divergence) {
        let prior_std = word_f32(at + 8u);
        let log_prior = -log(6.283185307179586 * prior_std * prior_std) - dot(end.xy, end.xy) / (2.0 * prior_std * prior_std);
        R[nll_reg] = vec2<f32>(-(log_prior + end.z), 0.0);
    }
    return true;
}

// What an op may spend, to decide before running it whether it fits the budget.
fn op_cost(opcode: u32, at: u32) -> u32 {
    switch (opcode) {
        case OP_EVAL, OP_MALA_START, OP_MALA_STEP, OP_EVAL_AT_LEVEL: {
            return params.eval_cost + 4u;
        }
        case OP_AXPY: {
            return code[at + 2u] + 4u;
        }
        case OP_GIBBS_LEVEL: {
            if (params.has_classifier != 0u) {
                return params.classifier_cost + 3u * code[at + 3u];
            }
            return code[at + 3u] * (params.eval_cost + 4u);
        }
        default: {
            return 4u;
        }
    }
}

fn run_op(opcode: u32, at: u32) {
    switch (opcode) {
        case OP_INIT: {
            // INIT: into, counter, mean, std.
            let z = noise(code[at + 2u]);
            R[code[at + 1u]] = vec2<f32>(word_f32(at + 3u), word_f32(at + 4u)) + word_f32(at + 5u) * z;
        }
        case OP_EVAL: {
            // EVAL: at, into, t, out_scale, x_scale, offset, alpha, sigma.
            let x = R[code[at + 1u]];
            let out = model_out(x, word_f32(at + 3u), word_f32(at + 8u), word_f32(at + 9u));
            R[code[at + 2u]] = word_f32(at + 4u) * out + word_f32(at + 5u) * x + vec2<f32>(word_f32(at + 6u), word_f32(at + 7u));
        }
        case OP_AXPY: {
            // AXPY: into, terms, counter, noise, offset, (register, coefficient) x terms.
            let terms = code[at + 2u];
            var acc = vec2<f32>(word_f32(at + 5u), word_f32(at + 6u));
            for (var i = 0u; i < terms; i++) {
                acc += word_f32(at + 8u + 2u * i) * R[code[at + 7u + 2u * i]];
            }
            let scale = word_f32(at + 4u);
            if (scale != 0.0) {
                acc += scale * noise(code[at + 3u]);
            }
            R[code[at + 1u]] = acc;
        }
        case OP_SNAPSHOT: {
            // SNAPSHOT: register, frame.
            if (particle < params.traced) {
                frames[code[at + 2u] * params.traced + particle] = R[code[at + 1u]];
            }
        }
        case OP_MALA_START: {
            // MALA_START: x, score, logp, t, alpha, sigma.
            let s = score_and_log_density(R[code[at + 1u]], word_f32(at + 4u), word_f32(at + 5u), word_f32(at + 6u));
            R[code[at + 2u]] = s.score;
            R[code[at + 3u]] = vec2<f32>(s.log_density, 0.0);
        }
        case OP_MALA_STEP: {
            // MALA_STEP: x, score, logp, t, alpha, sigma, step, counter, accept_counter.
            let xr = code[at + 1u];
            let sr = code[at + 2u];
            let lr = code[at + 3u];
            let eps = word_f32(at + 7u);
            let xs = R[xr];
            let sx = R[sr];
            let y = xs + eps * sx + sqrt(2.0 * eps) * noise(code[at + 8u]);
            let proposal = score_and_log_density(y, word_f32(at + 4u), word_f32(at + 5u), word_f32(at + 6u));
            let log_ratio = proposal.log_density - R[lr].x + log_q(xs, y, proposal.score, eps) - log_q(y, xs, sx, eps);
            if (log(uniform_draw(code[at + 9u])) < log_ratio) {
                R[xr] = y;
                R[sr] = proposal.score;
                R[lr] = vec2<f32>(proposal.log_density, 0.0);
            }
        }
        case OP_EVAL_AT_LEVEL: {
            // EVAL_AT_LEVEL: at, level, into, count, then (t, out_scale, x_scale, alpha, sigma) x count.
            let count = code[at + 4u];
            let k = level_index(R[code[at + 2u]].x, count);
            let c = at + 5u + 5u * k;
            let x = R[code[at + 1u]];
            let out = model_out(x, word_f32(c), word_f32(c + 3u), word_f32(c + 4u));
            R[code[at + 3u]] = word_f32(c + 1u) * out + word_f32(c + 2u) * x;
        }
        case OP_GIBBS_LEVEL: {
            // GIBBS_LEVEL: x, level, count, counter, argmax, then (t, alpha, sigma) x count.
            let x = R[code[at + 1u]];
            let count = code[at + 3u];
            evaluations += 1u;
            spent += op_cost(9u, at);
            if (params.has_classifier != 0u) {
                mlp_features(params.classifier, x, 0.0, vec2<f32>(0.0));
                mlp_run(params.classifier, false);
                for (var k = 0u; k < count; k++) {
                    level_logs[k] = mlp_value[k];
                }
            } else {
                for (var k = 0u; k < count; k++) {
                    let c = at + 6u + 3u * k;
                    let alpha = word_f32(c + 1u);
                    level_logs[k] = mixture_log_density(mixture(), x, alpha, word_f32(c + 2u), (1.0 - alpha) * condition());
                }
            }
            normalise_level_logs(count);
            var chosen = 0u;
            if (code[at + 5u] != 0u) {
                for (var k = 1u; k < count; k++) {
                    if (level_logs[k] > level_logs[chosen]) {
                        chosen = k;
                    }
                }
            } else {
                chosen = draw_level(count, uniform_draw(code[at + 4u]));
            }
            R[code[at + 2u]] = vec2<f32>(f32(chosen), 0.0);
        }
        case OP_LOAD_INPUT: {
            // LOAD_INPUT: into.
            R[code[at + 1u]] = inputs[particle - params.chunk_offset];
        }
        default: {}
    }
}

@compute @workgroup_size(64)
fn run(@builtin(global_invocation_id) id: vec3<u32>) {
    let local = id.x + id.y * params.row_length;
    if (local >= params.chunk_particles) {
        return;
    }
    particle = params.chunk_offset + local;
    let base = local * params.registers;
    for (var r = 0u; r < params.registers; r++) {
        R[r] = registers[base + r];
    }
    let slot = local * 3u;
    let head = progress[slot];
    var pc = max(head.x, params.code_start);
    var resume = head.y;
    evaluations = head.z;
    solve_active = (head.w & 1u) != 0u;
    solve_failed = (head.w & 4u) != 0u;
    let saved_a = bitcast<vec4<f32>>(progress[slot + 1u]);
    let saved_b = bitcast<vec4<f32>>(progress[slot + 2u]);
    solve_t = saved_a.x;
    solve_h = saved_a.y;
    solve_y = vec3<f32>(saved_a.z, saved_a.w, saved_b.x);
    solve_steps = bitcast<u32>(saved_b.y);
    spent = 0u;
    var suspended = false;
    loop {
        if (pc >= params.code_end) {
            break;
        }
        let header = code[pc];
        let opcode = header & 0xFFu;
        let length = header >> 8u;
        if (resume <= pc) {
            if (opcode == OP_SKIP_IF) {
                // SKIP_IF: level, above, the word to resume at.
                if (R[code[pc + 1u]].x > word_f32(pc + 2u)) {
                    resume = code[pc + 3u];
                }
            } else if (opcode == OP_ADAPTIVE) {
                if (!run_adaptive(pc)) {
                    suspended = true;
                    break;
                }
            } else {
                if (spent > 0u && spent + op_cost(opcode, pc) > params.work_budget) {
                    suspended = true;
                    break;
                }
                run_op(opcode, pc);
            }
        }
        spent += 1u;
        pc += length;
    }
    if (suspended) {
        atomicAdd(&status, 1u);
    }
    // Canary: once llvmpipe's loop cap has tripped, every loop exits at once. Count this
    // loop's trips so that the host can tell a cut-short run from a finished one.
    var stored = 0u;
    for (var r = 0u; r < params.registers; r++) {
        registers[base + r] = R[r];
        stored += 1u;
    }
    var flags = select(0u, 1u, solve_active);
    if (stored != params.registers) {
        flags |= 2u;
    }
    if (solve_failed) {
        flags |= 4u;
    }
    progress[slot] = vec4<u32>(pc, resume, evaluations, flags);
    progress[slot + 1u] = bitcast<vec4<u32>>(vec4<f32>(solve_t, solve_h, solve_y.x, solve_y.y));
    progress[slot + 2u] = bitcast<vec4<u32>>(vec4<f32>(solve_y.z, bitcast<f32>(solve_steps), 0.0, 0.0));
}
