//! The kernel layer's product in AVX-512 (x86-64 processors that have AVX-512F, chosen at run
//! time): one 512-bit register holds a whole 16-wide column panel row, so a register tile of
//! 12 rows x 16 columns is 12 accumulators of the 32 registers, and the packed last panel
//! (the 2-wide output layer, the 15-wide input layer) is stored through a lane mask instead of
//! a scratch tile.
//!
//! Each element of C sums over k in the same order with the same fused multiply-adds as the
//! AVX2 tile, so the two builds give the same bits (a test holds them to it). On processors
//! that run a 512-bit operation as two 256-bit halves (AMD Zen 4) the peak is the AVX2 one
//! and the gain is fewer instructions; on those with two 512-bit FMA units it doubles.

use std::arch::x86_64::*;

use super::gemm::{Shape, Start};

/// Rows of C per register tile.
const TILE_M: usize = 12;
/// Columns per panel: one 512-bit register.
const TILE_N: usize = 16;

/// Whether this build runs: the processor has AVX-512F, AVX2 and FMA, and neither
/// `NDE_PORTABLE_KERNELS` nor `NDE_NO_AVX512` is set (the latter measures the AVX2 tile on
/// the same machine). Read once.
pub(crate) fn has_avx512() -> bool {
    static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WIDE.get_or_init(|| {
        std::env::var_os("NDE_NO_AVX512").is_none()
            && super::gemm::has_avx2_fma()
            && std::arch::is_x86_feature_detected!("avx512f")
    })
}

/// C = A B (+ start), element (i, kk) of A at `a[i * row_stride + kk * k_stride]`.
///
/// # Safety
/// The processor has AVX-512F (`has_avx512`); the caller checked every slice against the shape.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn gemm(
    shape: Shape,
    a: &[f32],
    row_stride: usize,
    k_stride: usize,
    b: &[f32],
    c: &mut [f32],
    start: Start,
) {
    let Shape { m, k, n } = shape;
    let mut packed = Vec::new();
    for j0 in (0..n).step_by(TILE_N) {
        let width = TILE_N.min(n - j0);
        // A full panel is read in place; the last partial one is packed, zero-padded to 16.
        let (panel, stride) = if width == TILE_N {
            (&b[j0..], n)
        } else {
            packed.resize(k * TILE_N, 0.0f32);
            for kk in 0..k {
                packed[kk * TILE_N..kk * TILE_N + width].copy_from_slice(&b[kk * n + j0..kk * n + n]);
            }
            (&packed[..], TILE_N)
        };
        let mask: __mmask16 = if width == TILE_N { 0xffff } else { (1u16 << width) - 1 };
        let bias = match start {
            Start::Bias(bias) => Some(&bias[j0..j0 + width]),
            _ => None,
        };
        let accumulate = matches!(start, Start::Accumulate);
        let mut i0 = 0;
        while i0 < m {
            let rows = TILE_M.min(m - i0);
            let a_tile = &a[i0 * row_stride..];
            let c_tile = &mut c[i0 * n + j0..];
            let tile =
                Tile { k, a: a_tile, rs: row_stride, ks: k_stride, panel, stride, ldc: n, mask, bias, accumulate };
            // SAFETY: AVX-512F is present (the caller's promise); the extents follow from the
            // shape the caller checked, and the mask keeps stores inside the panel's width.
            unsafe {
                match rows {
                    12 => tile.run::<12>(c_tile),
                    11 => tile.run::<11>(c_tile),
                    10 => tile.run::<10>(c_tile),
                    9 => tile.run::<9>(c_tile),
                    8 => tile.run::<8>(c_tile),
                    7 => tile.run::<7>(c_tile),
                    6 => tile.run::<6>(c_tile),
                    5 => tile.run::<5>(c_tile),
                    4 => tile.run::<4>(c_tile),
                    3 => tile.run::<3>(c_tile),
                    2 => tile.run::<2>(c_tile),
                    _ => tile.run::<1>(c_tile),
                }
            }
            i0 += rows;
        }
    }
}

/// One register tile's operands.
struct Tile<'a> {
    k: usize,
    a: &'a [f32],
    rs: usize,
    ks: usize,
    panel: &'a [f32],
    stride: usize,
    ldc: usize,
    /// The columns of the panel that are stored.
    mask: __mmask16,
    bias: Option<&'a [f32]>,
    accumulate: bool,
}

impl Tile<'_> {
    /// C_tile = start + A_tile B_panel for R rows.
    ///
    /// # Safety
    /// AVX-512F; A holds rows 0..R at stride `rs` for k steps of `ks`; the panel holds k rows
    /// of 16 at `stride`; c holds (R - 1) * ldc + the mask's width values.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn run<const R: usize>(&self, c: &mut [f32]) {
        let out = c.as_mut_ptr();
        let mut acc = [_mm512_setzero_ps(); R];
        // SAFETY (the loads and stores below): masked to the panel's width, inside the extents
        // the caller promised.
        unsafe {
            if let Some(bias) = self.bias {
                acc = [_mm512_maskz_loadu_ps(self.mask, bias.as_ptr()); R];
            } else if self.accumulate {
                for (r, v) in acc.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(self.mask, out.add(r * self.ldc));
                }
            }
            let (mut a, mut b) = (self.a.as_ptr(), self.panel.as_ptr());
            for _ in 0..self.k {
                let w = _mm512_loadu_ps(b);
                for (r, v) in acc.iter_mut().enumerate() {
                    *v = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * self.rs)), w, *v);
                }
                a = a.add(self.ks);
                b = b.add(self.stride);
            }
            for (r, v) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(out.add(r * self.ldc), self.mask, *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::gemm::{gemm_avx2_only, Shape, Start};
    use crate::core::rng::RngStream;

    /// The AVX-512 build gives the AVX2 build's bits on every edge class: row tiles 1..12,
    /// the packed last panel, each start. Where the processor has no AVX-512 (or
    /// NDE_NO_AVX512 is set) there is nothing to compare: the test then checks that the
    /// kernel layer does not claim it, and says loudly that the comparison did not run.
    #[test]
    fn avx512_gives_the_avx2_bits() {
        if !has_avx512() {
            let claimed = crate::core::nn::gemm::instruction_set();
            assert!(!claimed.contains("avx512"), "no AVX-512 build runs, yet the kernel layer reports {claimed}");
            eprintln!("SKIPPED the AVX-512 comparison: this processor has no AVX-512F (or NDE_NO_AVX512 is set)");
            return;
        }
        let mut rng = RngStream::new(5, 6);
        let mut random = |len: usize| (0..len).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        for (m, k, n) in [(12, 8, 16), (60, 64, 64), (1, 5, 2), (13, 15, 17), (7, 1, 15), (64, 128, 2), (23, 33, 47)] {
            let (a, b, bias, initial) = (random(m * k), random(k * n), random(n), random(m * n));
            for start in [Start::Zero, Start::Bias(&bias), Start::Accumulate] {
                let (mut wide, mut narrow) = (initial.clone(), initial.clone());
                let shape = Shape { m, k, n };
                crate::core::nn::gemm::gemm(shape, &a, &b, &mut wide, start);
                gemm_avx2_only(shape, &a, &b, &mut narrow, start).expect("AVX-512 implies AVX2 and FMA here");
                assert_eq!(wide, narrow, "{m}x{k}x{n} {start:?}");
            }
        }
    }
}
