//! The product for a layer with few outputs (the network's 2-wide output layer): one dot
//! product per row and output, eight lanes wide, reading W as stored (outputs x inputs).
//!
//! The kernel layer's register tile is 16 columns wide; a 2-wide layer on it pads its two
//! columns to sixteen, so it does eight times the work. At 64 x 2 that padding was a sixth of
//! every evaluation's multiply-adds.
//!
//! Like [`super::gemm`], the loop is compiled for AVX2 + FMA where the processor has them and
//! portably otherwise (LLVM turns the eight lanes into one AVX register or two SIMD128 ones).
//! The lanes are summed in a fixed order, so a row's result does not depend on its neighbours.

/// Layers with at most this many outputs take the dot-product path.
pub const MAX_NARROW: usize = 4;

/// Lanes of each dot product's accumulator.
const LANES: usize = 8;

/// z[r][o] = bias[o] + x[r] . w[o] for `rows` rows of x (rows x inputs) and w (outputs x
/// inputs), into z (rows x outputs).
pub fn dense_narrow(rows: usize, inputs: usize, outputs: usize, x: &[f32], w: &[f32], bias: &[f32], z: &mut [f32]) {
    assert!(x.len() >= rows * inputs && w.len() >= outputs * inputs && bias.len() >= outputs);
    assert!(z.len() >= rows * outputs, "dense_narrow: output shorter than {rows}x{outputs}");
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide(rows: usize, inputs: usize, outputs: usize, x: &[f32], w: &[f32], bias: &[f32], z: &mut [f32]) {
            narrow::<true>(rows, inputs, outputs, x, w, bias, z)
        }
        if super::gemm::has_avx2_fma() {
            // SAFETY: the processor has the features the wide build uses.
            unsafe { wide(rows, inputs, outputs, x, w, bias, z) };
            return;
        }
    }
    narrow::<{ cfg!(all(target_arch = "aarch64", target_feature = "neon")) }>(rows, inputs, outputs, x, w, bias, z)
}

#[inline(always)]
fn narrow<const FMA: bool>(
    rows: usize,
    inputs: usize,
    outputs: usize,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    z: &mut [f32],
) {
    for (row, out) in x.chunks_exact(inputs).take(rows).zip(z.chunks_exact_mut(outputs)) {
        for (o, value) in out.iter_mut().enumerate() {
            *value = bias[o] + dot::<FMA>(row, &w[o * inputs..(o + 1) * inputs]);
        }
    }
}

#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (a_body, b_body) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_body.remainder(), b_body.remainder());
    for (ca, cb) in a_body.zip(b_body) {
        for l in 0..LANES {
            acc[l] = if FMA { ca[l].mul_add(cb[l], acc[l]) } else { acc[l] + ca[l] * cb[l] };
        }
    }
    for (l, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[l] = if FMA { x.mul_add(*y, acc[l]) } else { acc[l] + x * y };
    }
    // Pairwise, in a fixed order.
    let quad = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::rng::RngStream;

    /// Against the plain loop in f64, within the kernel layer's tolerance, for widths below,
    /// at and past the lanes, and every narrow output count.
    #[test]
    fn matches_the_plain_loop() {
        let mut rng = RngStream::new(7, 0);
        for inputs in [1, 3, 8, 15, 64, 67, 128] {
            for outputs in 1..=MAX_NARROW {
                let rows = 13;
                let draw = |n: usize, rng: &mut RngStream| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
                let (x, w, bias) =
                    (draw(rows * inputs, &mut rng), draw(outputs * inputs, &mut rng), draw(outputs, &mut rng));
                let mut z = vec![f32::NAN; rows * outputs];
                dense_narrow(rows, inputs, outputs, &x, &w, &bias, &mut z);
                for r in 0..rows {
                    for o in 0..outputs {
                        let terms = (0..inputs).map(|i| f64::from(x[r * inputs + i]) * f64::from(w[o * inputs + i]));
                        let scale: f64 = terms.clone().map(f64::abs).sum::<f64>() + f64::from(bias[o]).abs();
                        let want = f64::from(bias[o]) + terms.sum::<f64>();
                        let got = f64::from(z[r * outputs + o]);
                        assert!(
                            (got - want).abs() <= f64::from(super::super::gemm::TOLERANCE) * scale,
                            "{inputs} inputs, output {o} of row {r}: {got} against {want}"
                        );
                    }
                }
            }
        }
    }
}
