// sin and cos to f32 rounding, from multiplies and adds only, for the numbers a GPU must match
// the CPU's closely on every adapter: the training draws (train_rows.wgsl), the forward
// processes' schedules (process.wgsl), the networks' time features (mlp.wgsl, mlp_tiled.wgsl)
// and the Gaussian noise (rng.wgsl's Box-Muller).

// (sin x, cos x) for |x| up to a few pi. WGSL allows its own sin and cos an absolute error of
// 2^-11 on [-pi, pi], and Chromium's SwiftShader comes near that (5e-4 in the training draws).
// Quadrant reduction by Cody-Waite (pi/2 in two parts), then Taylor polynomials on
// [-pi/4, pi/4] (remainders under 3e-8).
fn sin_cos_exact(x: f32) -> vec2<f32> {
    let quadrant = round(x * 0.6366197723675814);
    let r = (x - quadrant * 1.5707963705062866) + quadrant * 4.371139000186243e-8;
    let r2 = r * r;
    let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
    // x = q pi/2 + r: odd quadrants swap sin and cos; sin is negative in quadrants 2 and 3,
    // cos in 1 and 2.
    let q = (i32(quadrant) % 4 + 4) % 4;
    let swapped = select(vec2<f32>(s, c), vec2<f32>(c, s), (q & 1) == 1);
    let sin_sign = select(1.0, -1.0, q >= 2);
    let cos_sign = select(1.0, -1.0, q == 1 || q == 2);
    return vec2<f32>(sin_sign * swapped.x, cos_sign * swapped.y);
}
