// requires: plan_abi.wgsl
// The run's model as the interpreter evaluates it: the network or the exact mixture, and the
// probability-flow field built on it (with its divergence, for the likelihood).

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
