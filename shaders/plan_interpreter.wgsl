// requires: plan_adaptive.wgsl, plan_mcmc.wgsl
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
//
// The ABI is plan_abi.wgsl, the model plan_model.wgsl, the adaptive op plan_adaptive.wgsl and
// the Markov-chain ops' helpers plan_mcmc.wgsl; this file is the work budget and the ops.

// What an op may spend, to decide before running it whether it fits the budget.
fn op_cost(opcode: u32, at: u32) -> u32 {
    switch (opcode) {
        case OP_EVAL, OP_MALA_START, OP_MALA_STEP, OP_EVAL_AT_LEVEL: {
            return params.eval_cost + 4u;
        }
        case OP_AXPY: {
            return code[at + 2u] + 4u;
        }
        case OP_EVAL_DIFFUSION: {
            return params.diffusion_cost + 4u;
        }
        case OP_GENERATOR_START: {
            return params.diffusion_cost + 4u + code[at + 2u];
        }
        case OP_GENERATOR_STEP: {
            return 2u * params.eval_cost + params.diffusion_cost + 4u + code[at + 2u];
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
            R[code[at + 1u]] = input_row(0u);
        }
        case OP_EVAL_DIFFUSION: {
            // EVAL_DIFFUSION: at, into.
            R[code[at + 2u]] = model_diffusion(R[code[at + 1u]]);
        }
        case OP_ADD_INCREMENT: {
            // ADD_INCREMENT: into, diffusion, factor, row.
            R[code[at + 1u]] += word_f32(at + 3u) * R[code[at + 2u]] * input_row(code[at + 4u]);
        }
        case OP_REPLACE: {
            // REPLACE: into, counter, normal, mean, sigma.
            let normal = vec2<f32>(word_f32(at + 3u), word_f32(at + 4u));
            let x = R[code[at + 1u]];
            let observed = word_f32(at + 5u) + word_f32(at + 6u) * noise(code[at + 2u]).x;
            R[code[at + 1u]] = x + (observed - dot(normal, x)) * normal;
        }
        case OP_GENERATOR_START: {
            generator_start(at);
        }
        case OP_GENERATOR_STEP: {
            generator_step(at);
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
