//! The activations and their derivatives over whole slices, in f32, written so the loops
//! vectorise (a polynomial exp instead of the library's, rounding by a magic constant instead
//! of `round`, which is a library call without SSE4.1). Like the matrix kernel, each loop is
//! compiled for AVX-512 or AVX2 + FMA where the processor has them (run-time check) and
//! portably otherwise. The AVX-512 build (16 lanes) made a 64 x 2 network's sampling 1.2 to
//! 1.3 times faster than the AVX2 one on this project's AMD EPYC (docs/BENCHMARKS.md).
//! [`super::activation::Activation`] is the definition; the tests hold these to it.

use super::activation::Activation;

/// a b + c: one fused instruction in the AVX2 + FMA build, a multiply and an add elsewhere
/// (where `mul_add` would be a library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// e^z for z <= 0 by range reduction and a degree-6 polynomial (relative error about 2e-7).
#[inline(always)]
pub fn exp_nonpositive(z: f32) -> f32 {
    exp_nonpositive_with::<false>(z)
}

#[inline(always)]
fn exp_nonpositive_with<const FMA: bool>(z: f32) -> f32 {
    // A compare and select, not f32::max: its NaN rule has no SIMD128 instruction, so it
    // would keep the browser's loop scalar (a NaN z stays NaN here and below).
    let z = if z < -87.0 { -87.0 } else { z };
    // Round to nearest by adding and subtracting 1.5 * 2^23 (exact for |k| < 2^22): the sum's
    // low mantissa bits then hold k, which gives 2^k by integer operations that vectorise
    // (a float-to-int cast saturates in Rust and would not).
    const ROUND: f32 = 12_582_912.0;
    let shifted = z * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    // ln 2 in two parts (Cody and Waite), so that k ln 2 is exact enough for k up to 126.
    let r = (z - k * 0.693_359_4) - k * -2.121_944_4e-4;
    let mut p = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = madd::<FMA>(p, r, c);
    }
    // 2^k: the exponent field is (k + 127), taken from the low bits of the sum (k >= -126
    // after the clamp, so the field is in 1..=127 and the shift drops the sum's high bits).
    p * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

/// max(z, 0) as a compare and select (see `exp_nonpositive`); NaN stays NaN.
#[inline(always)]
fn positive_part(z: f32) -> f32 {
    if z < 0.0 {
        0.0
    } else {
        z
    }
}

/// sigmoid(z), from e^{-|z|} so the exponent stays non-positive.
#[inline(always)]
fn sigmoid<const FMA: bool>(z: f32) -> f32 {
    let e = exp_nonpositive_with::<FMA>(-z.abs());
    let s = 1.0 / (1.0 + e);
    if z >= 0.0 {
        s
    } else {
        e * s
    }
}

/// tanh(z) = 1 - 2 / (e^{2z} + 1), through e^{-2|z|}.
#[inline(always)]
fn tanh<const FMA: bool>(z: f32) -> f32 {
    let e = exp_nonpositive_with::<FMA>(-2.0 * z.abs());
    let t = (1.0 - e) / (1.0 + e);
    if z >= 0.0 {
        t
    } else {
        -t
    }
}

/// Runs `$body` (an expression over the function's arguments) in an AVX2 + FMA build where the
/// processor has them, else in the portable one: both are the same inlined generic code.
macro_rules! dispatch {
    ($name:ident, $generic:ident, ($($arg:ident: $ty:ty),*)) => {
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wider($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                if super::gemm_avx512::has_avx512() {
                    // SAFETY: the processor has the features the widest build uses.
                    unsafe { wider($($arg),*) };
                    return;
                }
                if super::gemm::has_avx2_fma() {
                    // SAFETY: the processor has the features the wide build uses.
                    unsafe { wide($($arg),*) };
                    return;
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}

dispatch!(activate_in_place, activate_in_place_generic, (kind: Activation, values: &mut [f32]));
dispatch!(activate_with_slope, activate_with_slope_generic, (kind: Activation, values: &mut [f32], slope: &mut [f32]));
dispatch!(scale_by_derivative, scale_by_derivative_generic, (kind: Activation, pre: &[f32], grad: &mut [f32]));
dispatch!(multiply, multiply_generic, (grad: &mut [f32], slope: &[f32]));

/// `values[i] = act(values[i])`.
#[inline(always)]
fn activate_in_place_generic<const FMA: bool>(kind: Activation, values: &mut [f32]) {
    match kind {
        Activation::Silu => values.iter_mut().for_each(|v| *v *= sigmoid::<FMA>(*v)),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = tanh::<FMA>(*v)),
        Activation::Softplus => {
            values.iter_mut().for_each(|v| *v = positive_part(*v) + exp_nonpositive_with::<FMA>(-v.abs()).ln_1p())
        }
        Activation::Relu => values.iter_mut().for_each(|v| *v = positive_part(*v)),
    }
}

/// `slope[i] = act'(values[i])`, then `values[i] = act(values[i])`: the forward pass of
/// training keeps the slope for the backward pass, sharing one exponential between the two.
#[inline(always)]
fn activate_with_slope_generic<const FMA: bool>(kind: Activation, values: &mut [f32], slope: &mut [f32]) {
    let pairs = values.iter_mut().zip(slope.iter_mut());
    match kind {
        Activation::Silu => pairs.for_each(|(v, d)| {
            let s = sigmoid::<FMA>(*v);
            *d = s * (1.0 + *v * (1.0 - s));
            *v *= s;
        }),
        Activation::Tanh => pairs.for_each(|(v, d)| {
            let t = tanh::<FMA>(*v);
            *d = 1.0 - t * t;
            *v = t;
        }),
        Activation::Softplus => pairs.for_each(|(v, d)| {
            let e = exp_nonpositive_with::<FMA>(-v.abs());
            let s = 1.0 / (1.0 + e);
            *d = if *v >= 0.0 { s } else { e * s };
            *v = positive_part(*v) + e.ln_1p();
        }),
        Activation::Relu => pairs.for_each(|(v, d)| {
            *d = if *v > 0.0 { 1.0 } else { 0.0 };
            *v = positive_part(*v);
        }),
    }
}

/// `grad[i] *= act'(pre[i])`: the backward pass through the activation from its input.
#[inline(always)]
fn scale_by_derivative_generic<const FMA: bool>(kind: Activation, pre: &[f32], grad: &mut [f32]) {
    match kind {
        Activation::Silu => grad.iter_mut().zip(pre).for_each(|(g, z)| {
            let s = sigmoid::<FMA>(*z);
            *g *= s * (1.0 + z * (1.0 - s));
        }),
        Activation::Tanh => grad.iter_mut().zip(pre).for_each(|(g, z)| {
            let t = tanh::<FMA>(*z);
            *g *= 1.0 - t * t;
        }),
        Activation::Softplus => grad.iter_mut().zip(pre).for_each(|(g, z)| *g *= sigmoid::<FMA>(*z)),
        Activation::Relu => grad.iter_mut().zip(pre).for_each(|(g, z)| {
            if *z <= 0.0 {
                *g = 0.0
            }
        }),
    }
}

/// `grad[i] *= slope[i]`.
#[inline(always)]
fn multiply_generic<const FMA: bool>(grad: &mut [f32], slope: &[f32]) {
    grad.iter_mut().zip(slope).for_each(|(g, d)| *g *= *d);
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn polynomial_exp_is_accurate() {
        for i in 0..2000 {
            let z = -87.0 * i as f32 / 2000.0;
            let (got, want) = (exp_nonpositive(z), z.exp());
            assert!((got - want).abs() <= 1e-6 * want + 1e-37, "exp({z}): {got} vs {want}");
        }
    }

    /// Values and derivatives agree with the scalar definitions in f64 to f32 rounding.
    #[test]
    fn slices_match_the_definitions() {
        let zs: Vec<f32> = (0..401).map(|i| -20.0 + 0.1 * i as f32).collect();
        for kind in Activation::ALL {
            let mut post = zs.clone();
            activate_in_place(kind, &mut post);
            let mut slope = vec![1.0; zs.len()];
            scale_by_derivative(kind, &zs, &mut slope);
            let (mut fused, mut fused_slope) = (zs.clone(), vec![0.0; zs.len()]);
            activate_with_slope(kind, &mut fused, &mut fused_slope);
            assert_eq!((&fused, &fused_slope), (&post, &slope), "{kind:?}: the fused pass differs");
            for (i, z) in zs.iter().enumerate() {
                let z64 = f64::from(*z);
                let (want, want_slope) = (kind.apply(z64), kind.derivative(z64));
                assert!((f64::from(post[i]) - want).abs() <= 2e-6 * (1.0 + want.abs()), "{kind:?}({z})");
                assert!((f64::from(slope[i]) - want_slope).abs() <= 2e-6 * (1.0 + want_slope.abs()), "{kind:?}'({z})");
            }
        }
    }
}
