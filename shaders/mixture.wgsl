// requires: model_buffers.wgsl
// The exact Gaussian mixture oracle of src/core/data/gmm.rs in f32: the marginal at a time with
// scale alpha, noise sigma and condition shift (1 - alpha) mu is the mixture with means
// alpha m_k + (1 - alpha) mu and covariances alpha^2 C_k + sigma^2 I. Its log-density, score
// and score Jacobian, from log-sum-exp over the components (two passes, no arrays).
// Components sit in model_data from `base`, 6 floats each: log w, m0, m1, c00, c01, c11.

struct MixtureShape {
    base: u32,
    components: u32,
}

struct Component {
    // log w + log N(x; m, C).
    log_term: f32,
    // The component's score -P (x - m) and inverse_cov P.
    score: vec2<f32>,
    inverse_cov: mat2x2<f32>,
}

fn mixture_component(shape: MixtureShape, k: u32, x: vec2<f32>, alpha: f32, sigma: f32, shift: vec2<f32>) -> Component {
    let at = shape.base + 6u * k;
    let mean = alpha * vec2<f32>(model_data[at + 1u], model_data[at + 2u]) + shift;
    let s2 = sigma * sigma;
    let a2 = alpha * alpha;
    let c00 = a2 * model_data[at + 3u] + s2;
    let c01 = a2 * model_data[at + 4u];
    let c11 = a2 * model_data[at + 5u] + s2;
    let det = c00 * c11 - c01 * c01;
    let inverse_cov = mat2x2<f32>(vec2<f32>(c11, -c01), vec2<f32>(-c01, c00)) * (1.0 / det);
    let d = x - mean;
    let pd = inverse_cov * d;
    let log_term = model_data[at] - 1.8378770664093453 - 0.5 * log(det) - 0.5 * dot(d, pd);
    return Component(log_term, -pd, inverse_cov);
}

fn mixture_max_log_term(shape: MixtureShape, x: vec2<f32>, alpha: f32, sigma: f32, shift: vec2<f32>) -> f32 {
    var top = -3.0e38;
    for (var k = 0u; k < shape.components; k++) {
        top = max(top, mixture_component(shape, k, x, alpha, sigma, shift).log_term);
    }
    return top;
}

fn mixture_log_density(shape: MixtureShape, x: vec2<f32>, alpha: f32, sigma: f32, shift: vec2<f32>) -> f32 {
    let top = mixture_max_log_term(shape, x, alpha, sigma, shift);
    var total = 0.0;
    for (var k = 0u; k < shape.components; k++) {
        total += exp(mixture_component(shape, k, x, alpha, sigma, shift).log_term - top);
    }
    return top + log(total);
}

fn mixture_score(shape: MixtureShape, x: vec2<f32>, alpha: f32, sigma: f32, shift: vec2<f32>) -> vec2<f32> {
    let top = mixture_max_log_term(shape, x, alpha, sigma, shift);
    var total = 0.0;
    var score = vec2<f32>(0.0);
    for (var k = 0u; k < shape.components; k++) {
        let c = mixture_component(shape, k, x, alpha, sigma, shift);
        let r = exp(c.log_term - top);
        total += r;
        score += r * c.score;
    }
    return score / total;
}

// The score and its Jacobian: sum_k r_k (s_k s_k^T - P_k) - s s^T.
struct ScoreWithJacobian {
    score: vec2<f32>,
    jacobian: mat2x2<f32>,
}

fn mixture_score_with_jacobian(shape: MixtureShape, x: vec2<f32>, alpha: f32, sigma: f32, shift: vec2<f32>) -> ScoreWithJacobian {
    let top = mixture_max_log_term(shape, x, alpha, sigma, shift);
    var total = 0.0;
    var score = vec2<f32>(0.0);
    var second = mat2x2<f32>(vec2<f32>(0.0), vec2<f32>(0.0));
    for (var k = 0u; k < shape.components; k++) {
        let c = mixture_component(shape, k, x, alpha, sigma, shift);
        let r = exp(c.log_term - top);
        total += r;
        score += r * c.score;
        let outer = mat2x2<f32>(c.score * c.score.x, c.score * c.score.y);
        second += (outer - c.inverse_cov) * r;
    }
    score /= total;
    let s_outer = mat2x2<f32>(score * score.x, score * score.y);
    return ScoreWithJacobian(score, second * (1.0 / total) - s_outer);
}
