// requires: plan_model.wgsl
// The ADAPTIVE op: an embedded Runge-Kutta pair under an I-controller, both read from the
// op's words (src/core/solve), suspended and resumed across dispatches by the work budget.

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
