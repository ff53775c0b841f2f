// requires: exact_trig.wgsl
// The forward processes' schedules in f32, the same formulas as src/core/process.rs, for the
// ops whose time varies per particle (the adaptive probability-flow and likelihood solves).
// Ops at fixed times carry alpha and sigma computed on the host in f64 instead.
//
// A process travels as (kind, a, b): VP and sub-VP (beta_min, beta_max), VE (sigma_min,
// sigma_max), cosine (s, unused), mean-reverting (lambda, theta_total), rectified flow (-).

const PROCESS_VP: u32 = 0u;
const PROCESS_SUBVP: u32 = 1u;
const PROCESS_VE: u32 = 2u;
const PROCESS_COSINE: u32 = 3u;
const PROCESS_MR: u32 = 4u;
const PROCESS_RF: u32 = 5u;
const HALF_PI: f32 = 1.5707963267948966;

struct ProcessParams {
    kind: u32,
    a: f32,
    b: f32,
}

// e^x - 1 without the cancellation of exp(x) - 1 near 0 (WGSL has no expm1). Below 1/2 in
// size, the Taylor series to x^9 (its remainder is under 3e-10 of the result): a GPU's exp
// has an absolute error, which exp(x) - 1 would carry into a small result as a relative one
// (1e-4 at x = 1e-3 on lavapipe), and its log too, so Kahan's (u - 1) x / log(u) does not
// help there.
fn expm1(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        var sum = 1.0;
        for (var k = 9.0; k >= 2.0; k -= 1.0) {
            sum = 1.0 + x * sum / k;
        }
        return x * sum;
    }
    return exp(x) - 1.0;
}

fn beta_integral(p: ProcessParams, t: f32) -> f32 {
    return p.a * t + 0.5 * (p.b - p.a) * t * t;
}

fn cosine_angle(s: f32, t: f32) -> f32 {
    return (t + s) / (1.0 + s) * HALF_PI;
}

// pi/2 minus the cosine schedule's angle at t, without the cancellation near t = 1.
fn cosine_complement(s: f32, t: f32) -> f32 {
    return (1.0 - t) / (1.0 + s) * HALF_PI;
}

fn process_log_alpha(p: ProcessParams, t: f32) -> f32 {
    switch (p.kind) {
        case PROCESS_VP, PROCESS_SUBVP: {
            return -0.5 * beta_integral(p, t);
        }
        case PROCESS_VE: {
            return 0.0;
        }
        case PROCESS_COSINE: {
            // cos(angle(t)) as the sine of its complement, which keeps its digits near t = 1.
            return log(sin_cos_exact(cosine_complement(p.a, t)).x) - log(sin_cos_exact(cosine_angle(p.a, 0.0)).y);
        }
        case PROCESS_MR: {
            // 1 - cos(x) as 2 sin^2(x / 2): no cancellation near t = 0.
            let half = sin_cos_exact(0.5 * HALF_PI * t).x;
            return -p.b * 2.0 * half * half;
        }
        case PROCESS_RF, default: {
            return log(1.0 - t);
        }
    }
}

fn process_alpha(p: ProcessParams, t: f32) -> f32 {
    return exp(process_log_alpha(p, t));
}

fn process_sigma(p: ProcessParams, t: f32) -> f32 {
    switch (p.kind) {
        case PROCESS_VP: {
            return sqrt(-expm1(2.0 * process_log_alpha(p, t)));
        }
        case PROCESS_COSINE: {
            // alpha = cos(b + d) / cos(b) with b the angle at 0, so 1 - alpha =
            // 2 sin^2(d / 2) + tan(b) sin(d) without the cancellation of log(cos(b + d)) -
            // log(cos(b)) near t = 0 (where the likelihood weighting divides by sigma^2).
            let d = t / (1.0 + p.a) * HALF_PI;
            let half = sin_cos_exact(0.5 * d).x;
            let b = sin_cos_exact(cosine_angle(p.a, 0.0));
            let one_minus_alpha = 2.0 * half * half + b.x / b.y * sin_cos_exact(d).x;
            return sqrt(one_minus_alpha * (2.0 - one_minus_alpha));
        }
        case PROCESS_SUBVP: {
            return -expm1(2.0 * process_log_alpha(p, t));
        }
        case PROCESS_VE: {
            let ratio_sq = pow(p.b / p.a, 2.0 * t);
            return p.a * sqrt(max(ratio_sq - 1.0, 0.0));
        }
        case PROCESS_MR: {
            return p.a * sqrt(-expm1(2.0 * process_log_alpha(p, t)));
        }
        case PROCESS_RF, default: {
            return t;
        }
    }
}

// k(t) of the drift f(x, t) = k(t) (x - mu).
fn process_drift_coefficient(p: ProcessParams, t: f32) -> f32 {
    switch (p.kind) {
        case PROCESS_VP, PROCESS_SUBVP: {
            return -0.5 * (p.a + t * (p.b - p.a));
        }
        case PROCESS_VE: {
            return 0.0;
        }
        case PROCESS_COSINE: {
            let complement = sin_cos_exact(cosine_complement(p.a, t));
            return -HALF_PI / (1.0 + p.a) * complement.y / complement.x;
        }
        case PROCESS_MR: {
            return -p.b * HALF_PI * sin_cos_exact(HALF_PI * t).x;
        }
        case PROCESS_RF, default: {
            return -1.0 / (1.0 - t);
        }
    }
}

// g(t)^2.
fn process_diffusion_squared(p: ProcessParams, t: f32) -> f32 {
    switch (p.kind) {
        case PROCESS_VP: {
            return p.a + t * (p.b - p.a);
        }
        case PROCESS_SUBVP: {
            let beta = p.a + t * (p.b - p.a);
            return beta * -expm1(-2.0 * beta_integral(p, t));
        }
        case PROCESS_VE: {
            let sigma = p.a * pow(p.b / p.a, t);
            return 2.0 * sigma * sigma * log(p.b / p.a);
        }
        case PROCESS_COSINE: {
            return -2.0 * process_drift_coefficient(p, t);
        }
        case PROCESS_MR: {
            return -2.0 * p.a * p.a * process_drift_coefficient(p, t);
        }
        case PROCESS_RF, default: {
            return 2.0 * t / (1.0 - t);
        }
    }
}

// Parameterisations, as src/core/train/objective.rs numbers them for the GPU.
const PARAM_EPS: u32 = 0u;
const PARAM_X0: u32 = 1u;
const PARAM_SCORE: u32 = 2u;
const PARAM_V: u32 = 3u;
const PARAM_FLOW: u32 = 4u;

// (a, b) with score = a * out + b * centred x (quantity_coefficients(param, Score, ...)).
fn score_coefficients(param: u32, alpha: f32, sigma: f32) -> vec2<f32> {
    var slope = 1.0;
    var shift = 0.0;
    switch (param) {
        case PARAM_EPS: {
            slope = 1.0;
        }
        case PARAM_X0: {
            slope = -alpha / sigma;
            shift = 1.0 / sigma;
        }
        case PARAM_SCORE: {
            slope = -sigma;
        }
        case PARAM_V: {
            slope = alpha / (alpha * alpha + sigma * sigma);
            shift = sigma / (alpha * alpha + sigma * sigma);
        }
        case PARAM_FLOW, default: {
            slope = alpha / (alpha + sigma);
            shift = 1.0 / (alpha + sigma);
        }
    }
    return vec2<f32>(-slope / sigma, -shift / sigma);
}
