// requires: plan_model.wgsl
// What the Markov-chain ops need: DLG's noise levels (drawing one from normalised
// log-probabilities) and MALA's score with log-density and proposal density.


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
