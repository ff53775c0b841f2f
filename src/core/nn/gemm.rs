//! The one matrix kernel every batched pass of the networks runs on: C = A B (+ a start), with
//! A (m x k), B (k x n) and C (m x n) row-major f32. The forward pass of a layer, the backward
//! pass to its input and the reduction of its weight gradient over a block of rows are all
//! this product with different operands (see `backprop.rs`), so one kernel, made fast once,
//! serves sampling, the exact divergence and training.
//!
//! # How it is fast
//! A register tile of up to 6 rows x 16 columns of C lives in registers (12 of the 16 AVX
//! registers) while k runs: each step broadcasts one value of A per row and fuses it with 16
//! contiguous values of B. Column panels are the outer loop, so a k x 16 panel of B stays in
//! L1 while every row tile of A streams past it. Columns past the last multiple of 16 are
//! packed once into a zero-padded panel, so edges run the same tile (the 2-wide output layer
//! and the 15-wide input layer included) instead of a scalar loop.
//!
//! # Which instructions
//! Four builds of the tile: AVX-512 (`gemm_avx512.rs`, a 12 x 16 tile of 512-bit registers)
//! and AVX2 + FMA intrinsics on x86-64 when the processor has them (detected at run time,
//! cached; `NDE_NO_AVX512=1` measures the AVX2 tile, `NDE_PORTABLE_KERNELS=1` the portable
//! one), SIMD128 intrinsics in a wasm build that enables that target feature
//! (`.cargo/config.toml` does), and plain Rust that LLVM vectorises for whatever the target
//! has (SSE2, NEON).
//!
//! [`reference`] is the plain triple loop beside it; the tests hold the kernel to it within
//! [`TOLERANCE`] on every shape class (full tiles, row and column edges, k = 1).

/// Columns of C per register tile.
const TILE_N: usize = 16;
/// Rows of C per register tile in the AVX2 build: 6 x 16 is 12 of its 16 registers.
const TILE_M_WIDE: usize = 6;
/// Rows per tile in the portable build. SIMD128: 2 x 16 is 8 four-wide registers, leaving room
/// for the panel's 4 and the broadcast (a browser's JIT has 16 on x86-64; 3 rows measured no
/// faster in Chromium). Natively LLVM schedules 6 rows better (869 000 against 640 000
/// evaluations per second at 64 x 2 with SSE2).
const TILE_M_NARROW: usize = if cfg!(target_arch = "wasm32") { 2 } else { 6 };

/// Relative agreement of the kernel with [`reference`]: the two sum in different orders (and
/// the kernel with fused multiply-adds), so they differ by rounding, growing like sqrt(k).
pub const TOLERANCE: f32 = 1e-5;

/// What C holds before the product is added.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// C = A B.
    Zero,
    /// C[i][j] = bias[j] + (A B)[i][j]: a dense layer's forward pass.
    Bias(&'a [f32]),
    /// C += A B: a reduction continued across calls.
    Accumulate,
}

/// The shapes of one product; `gemm` checks the slices against them once.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// Where a full tile's accumulators start, for the intrinsic tiles.
#[allow(dead_code)] // Only the builds with an intrinsic tile (x86-64, wasm SIMD128) use it.
enum TileInit<'a> {
    Zero,
    /// The same 16 values in every row (a bias).
    Row(&'a [f32]),
    /// What the output holds.
    Output,
}

impl<'a> TileInit<'a> {
    #[allow(dead_code)]
    fn of(start: Start<'a>, j0: usize) -> Self {
        match start {
            Start::Zero => TileInit::Zero,
            Start::Bias(bias) => TileInit::Row(&bias[j0..j0 + TILE_N]),
            Start::Accumulate => TileInit::Output,
        }
    }
}

/// The left operand: element (i, kk) of A at `data[i * row_stride + kk * k_stride]`, so one
/// kernel reads A as stored (row-major) or as the transpose of what is stored.
#[derive(Debug, Clone, Copy)]
struct Lhs<'a> {
    data: &'a [f32],
    row_stride: usize,
    k_stride: usize,
}

/// C = A B (+ start) with A row-major (m x k), choosing the widest instructions the processor has.
pub fn gemm(shape: Shape, a: &[f32], b: &[f32], c: &mut [f32], start: Start) {
    let lhs = Lhs { data: a, row_stride: shape.k, k_stride: 1 };
    dispatch(shape, lhs, b, c, start);
}

/// C = A B (+ start) where `a_transposed` holds A^T row-major (k x m): the weight gradient
/// dZ^T X reads dZ (rows x outputs) as stored, with no transpose pass.
pub fn gemm_transposed_a(shape: Shape, a_transposed: &[f32], b: &[f32], c: &mut [f32], start: Start) {
    let lhs = Lhs { data: a_transposed, row_stride: 1, k_stride: shape.m };
    dispatch(shape, lhs, b, c, start);
}

fn dispatch(shape: Shape, a: Lhs, b: &[f32], c: &mut [f32], start: Start) {
    let Shape { m, k, n } = shape;
    assert!(a.data.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm: slices shorter than {m}x{k}x{n}");
    if let Start::Bias(bias) = start {
        assert!(bias.len() >= n, "gemm: bias shorter than {n}");
    }
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if super::gemm_avx512::has_avx512() {
            // SAFETY: the processor has AVX-512F; the slices were checked against the shape.
            unsafe { super::gemm_avx512::gemm(shape, a.data, a.row_stride, a.k_stride, b, c, start) };
            return;
        }
        if has_avx2_fma() {
            // SAFETY: the processor has the features this build of the kernel uses.
            unsafe { gemm_avx2_fma(shape, a, b, c, start) };
            return;
        }
    }
    gemm_tiled::<{ FUSED_DEFAULT }>(shape, a, b, c, start);
}

/// The AVX2 + FMA build alone, whatever else the processor has (the AVX-512 build's test
/// compares against it). None without AVX2 and FMA.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn gemm_avx2_only(shape: Shape, a: &[f32], b: &[f32], c: &mut [f32], start: Start) -> Option<()> {
    if !has_avx2_fma() {
        return None;
    }
    let lhs = Lhs { data: a, row_stride: shape.k, k_stride: 1 };
    // SAFETY: the processor has AVX2 and FMA.
    unsafe { gemm_avx2_fma(shape, lhs, b, c, start) };
    Some(())
}

/// Whether the portable build uses `mul_add`: only where it is one instruction (wasm has no
/// fused multiply-add in SIMD128, and elsewhere it would be a library call).
const FUSED_DEFAULT: bool = cfg!(all(target_arch = "aarch64", target_feature = "neon"));

/// The instruction set `gemm` uses on this processor, for benchmark reports.
pub fn instruction_set() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if super::gemm_avx512::has_avx512() {
            return "avx512f (products, activations), avx2+fma (the rest)";
        }
        if has_avx2_fma() {
            return "avx2+fma";
        }
        "x86-64 sse2"
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        "wasm simd128"
    }
    #[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
    {
        "wasm scalar"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32", target_arch = "aarch64")))]
    {
        "portable"
    }
}

/// Whether the AVX2 + FMA builds run: the processor has both, and the environment does not
/// set `NDE_PORTABLE_KERNELS` (which measures the portable path, the one closest to the
/// browser's SIMD128, on the same machine). Read once.
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WIDE.get_or_init(|| {
        std::env::var_os("NDE_PORTABLE_KERNELS").is_none()
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2_fma(shape: Shape, a: Lhs, b: &[f32], c: &mut [f32], start: Start) {
    gemm_tiled::<true>(shape, a, b, c, start);
}

#[inline(always)]
fn madd<const FMA: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

#[inline(always)]
fn gemm_tiled<const FMA: bool>(shape: Shape, a: Lhs, b: &[f32], c: &mut [f32], start: Start) {
    let Shape { k, n, .. } = shape;
    let full_n = n - n % TILE_N;
    for j0 in (0..full_n).step_by(TILE_N) {
        let panel = Panel { data: &b[j0..], stride: n, j0, width: TILE_N };
        column_panel::<FMA>(shape, a, panel, c, start);
    }
    if full_n < n {
        // The last columns, packed into a zero-padded k x 16 panel.
        let width = n - full_n;
        let mut packed = vec![0.0f32; k * TILE_N];
        for kk in 0..k {
            packed[kk * TILE_N..kk * TILE_N + width].copy_from_slice(&b[kk * n + full_n..kk * n + n]);
        }
        column_panel::<FMA>(shape, a, Panel { data: &packed, stride: TILE_N, j0: full_n, width }, c, start);
    }
}

/// Columns j0..j0+width of B (width <= 16): row kk at `data[kk * stride]`, 16 values readable.
#[derive(Debug, Clone, Copy)]
struct Panel<'a> {
    data: &'a [f32],
    stride: usize,
    j0: usize,
    width: usize,
}

#[inline(always)]
fn column_panel<const FMA: bool>(shape: Shape, a: Lhs, panel: Panel, c: &mut [f32], start: Start) {
    let Shape { m, k, .. } = shape;
    // The panel's last row must hold 16 values: checked once so the tile can skip checks.
    assert!(k == 0 || panel.data.len() >= (k - 1) * panel.stride + TILE_N);
    let full_m = if FMA { m - m % TILE_M_WIDE } else { m - m % TILE_M_NARROW };
    if FMA {
        for i0 in (0..full_m).step_by(TILE_M_WIDE) {
            tile::<TILE_M_WIDE, FMA>(shape, a, panel, i0, c, start);
        }
    } else {
        for i0 in (0..full_m).step_by(TILE_M_NARROW) {
            tile::<TILE_M_NARROW, FMA>(shape, a, panel, i0, c, start);
        }
    }
    match m - full_m {
        0 => {}
        1 => tile::<1, FMA>(shape, a, panel, full_m, c, start),
        2 => tile::<2, FMA>(shape, a, panel, full_m, c, start),
        3 => tile::<3, FMA>(shape, a, panel, full_m, c, start),
        4 => tile::<4, FMA>(shape, a, panel, full_m, c, start),
        _ => tile::<5, FMA>(shape, a, panel, full_m, c, start),
    }
}

/// One R x 16 register tile of C at (i0, panel.j0), of which `panel.width` columns are stored.
#[inline(always)]
fn tile<const R: usize, const FMA: bool>(shape: Shape, a: Lhs, panel: Panel, i0: usize, c: &mut [f32], start: Start) {
    let Shape { k, n, .. } = shape;
    let (j0, width) = (panel.j0, panel.width);
    // The tile's A starts at row i0; its last element is (i0 + R - 1, k - 1).
    let a_tile = &a.data[i0 * a.row_stride..];
    assert!(k == 0 || a_tile.len() > (R - 1) * a.row_stride + (k - 1) * a.k_stride);
    #[cfg(target_arch = "x86_64")]
    {
        if FMA && width == TILE_N {
            // A full tile loads its start from C or the bias and stores to C in registers.
            let c_tile = &mut c[i0 * n + j0..(i0 + R - 1) * n + j0 + TILE_N];
            let init = TileInit::of(start, j0);
            // SAFETY: FMA is only true in the build gemm chose after detecting AVX2 and FMA;
            // the panel and A's extent were checked, and c_tile spans R rows of 16 at stride n.
            unsafe { avx2::tile::<R>(k, a_tile, a.row_stride, a.k_stride, panel.data, panel.stride, c_tile, n, init) };
            return;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        if width == TILE_N {
            let c_tile = &mut c[i0 * n + j0..(i0 + R - 1) * n + j0 + TILE_N];
            let init = TileInit::of(start, j0);
            // SAFETY: the panel and A's extent were checked above; c_tile spans R rows of 16.
            unsafe {
                simd128::tile::<R>(k, a_tile, a.row_stride, a.k_stride, panel.data, panel.stride, c_tile, n, init)
            };
            return;
        }
    }
    let mut acc = [[0.0f32; TILE_N]; R];
    match start {
        Start::Zero => {}
        Start::Bias(bias) => {
            for row in acc.iter_mut() {
                row[..width].copy_from_slice(&bias[j0..j0 + width]);
            }
        }
        Start::Accumulate => {
            for (r, row) in acc.iter_mut().enumerate() {
                row[..width].copy_from_slice(&c[(i0 + r) * n + j0..(i0 + r) * n + j0 + width]);
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if FMA {
            // A partial tile (the packed last columns) goes through `acc`, 16 wide.
            // SAFETY: as above, with `acc` as an R x 16 output at stride 16.
            unsafe {
                avx2::tile::<R>(
                    k,
                    a_tile,
                    a.row_stride,
                    a.k_stride,
                    panel.data,
                    panel.stride,
                    acc.as_flattened_mut(),
                    TILE_N,
                    TileInit::Output,
                )
            };
            for (r, row) in acc.iter().enumerate() {
                c[(i0 + r) * n + j0..(i0 + r) * n + j0 + width].copy_from_slice(&row[..width]);
            }
            return;
        }
    }
    for kk in 0..k {
        // SAFETY: column_panel checked that row kk of the panel has 16 values.
        let w: &[f32; TILE_N] = unsafe { &*(panel.data.as_ptr().add(kk * panel.stride) as *const [f32; TILE_N]) };
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: within A's extent, checked above.
            let x = unsafe { *a_tile.get_unchecked(r * a.row_stride + kk * a.k_stride) };
            for j in 0..TILE_N {
                row[j] = madd::<FMA>(row[j], x, w[j]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i0 + r) * n + j0..(i0 + r) * n + j0 + width].copy_from_slice(&row[..width]);
    }
}

/// The register tile in AVX2 intrinsics: LLVM's vectorisation of the portable tile spills its
/// accumulators in some inlined copies (measured: 32 against 55 GFLOP/s), while 2 x R named
/// 256-bit accumulators stay in registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    use super::TileInit as Init;

    /// C_tile = init + A_tile B_panel, with element (r, kk) of A at a[r * rs + kk * ks], row kk
    /// of the panel at panel[kk * stride] and row r of C at c[r * ldc..r * ldc + 16].
    ///
    /// # Safety
    /// The processor has AVX2 and FMA; every element of A and of the panel's rows read here
    /// is in bounds (the caller checked the extents); c holds (R - 1) * ldc + 16 values.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile<const R: usize>(
        k: usize,
        a: &[f32],
        rs: usize,
        ks: usize,
        panel: &[f32],
        stride: usize,
        c: &mut [f32],
        ldc: usize,
        init: Init,
    ) {
        debug_assert!(c.len() >= (R - 1) * ldc + 16);
        let out = c.as_mut_ptr();
        let zero = _mm256_setzero_ps();
        let (mut lo, mut hi) = ([zero; R], [zero; R]);
        match init {
            Init::Zero => {}
            Init::Row(row) => {
                let (l, h) = unsafe { (_mm256_loadu_ps(row.as_ptr()), _mm256_loadu_ps(row.as_ptr().add(8))) };
                lo = [l; R];
                hi = [h; R];
            }
            Init::Output => {
                for r in 0..R {
                    lo[r] = unsafe { _mm256_loadu_ps(out.add(r * ldc)) };
                    hi[r] = unsafe { _mm256_loadu_ps(out.add(r * ldc + 8)) };
                }
            }
        }
        let (mut a, mut b) = (a.as_ptr(), panel.as_ptr());
        for _ in 0..k {
            let (b0, b1) = unsafe { (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))) };
            for r in 0..R {
                let x = unsafe { _mm256_broadcast_ss(&*a.add(r * rs)) };
                lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
            }
            a = unsafe { a.add(ks) };
            b = unsafe { b.add(stride) };
        }
        for r in 0..R {
            unsafe {
                _mm256_storeu_ps(out.add(r * ldc), lo[r]);
                _mm256_storeu_ps(out.add(r * ldc + 8), hi[r]);
            }
        }
    }
}

/// The register tile in WebAssembly SIMD128 (compiled when the build enables it): four
/// 4-wide accumulators per row, written out so the browser's compiler keeps them in registers.
/// SIMD128 has no fused multiply-add, so it multiplies and adds.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128, v128_load, v128_store};

    use super::TileInit as Init;

    /// Four floats from `at`.
    ///
    /// # Safety
    /// `at + 4 <= values.len()`.
    unsafe fn load(values: &[f32], at: usize) -> v128 {
        debug_assert!(at + 4 <= values.len());
        // SAFETY: in bounds by the caller's promise; v128_load allows unaligned addresses.
        unsafe { v128_load(values.as_ptr().add(at) as *const v128) }
    }

    /// C_tile = init + A_tile B_panel, as `avx2::tile` (same layout of A, panel and C).
    ///
    /// # Safety
    /// As `avx2::tile`: every element of A and of the panel's rows read is in bounds (the
    /// caller checked the extents) and c holds (R - 1) * ldc + 16 values.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile<const R: usize>(
        k: usize,
        a: &[f32],
        rs: usize,
        ks: usize,
        panel: &[f32],
        stride: usize,
        c: &mut [f32],
        ldc: usize,
        init: Init,
    ) {
        assert!(c.len() >= (R - 1) * ldc + 16);
        let zero = f32x4_splat(0.0);
        let mut acc = [[zero; 4]; R];
        match init {
            Init::Zero => {}
            // SAFETY: a bias row holds 16 values; C's extent was asserted.
            Init::Row(row) => acc = [std::array::from_fn(|q| unsafe { load(row, 4 * q) }); R],
            Init::Output => {
                for (r, lanes) in acc.iter_mut().enumerate() {
                    *lanes = std::array::from_fn(|q| unsafe { load(c, r * ldc + 4 * q) });
                }
            }
        }
        let (mut a, mut b) = (a.as_ptr(), panel.as_ptr());
        for _ in 0..k {
            // SAFETY: the caller checked the panel's rows and A's extent.
            let bq: [v128; 4] = std::array::from_fn(|q| unsafe { v128_load(b.add(4 * q) as *const v128) });
            for (r, lanes) in acc.iter_mut().enumerate() {
                let x = f32x4_splat(unsafe { *a.add(r * rs) });
                for q in 0..4 {
                    lanes[q] = f32x4_add(lanes[q], f32x4_mul(x, bq[q]));
                }
            }
            a = unsafe { a.add(ks) };
            b = unsafe { b.add(stride) };
        }
        for (r, lanes) in acc.iter().enumerate() {
            for (q, lane) in lanes.iter().enumerate() {
                // SAFETY: within C's asserted extent.
                unsafe { v128_store(c.as_mut_ptr().add(r * ldc + 4 * q) as *mut v128, *lane) };
            }
        }
    }
}

/// The definition: C = A B (+ start) by the triple loop, summed in f64.
pub fn reference(shape: Shape, a: &[f32], b: &[f32], c: &mut [f32], start: Start) {
    let Shape { m, k, n } = shape;
    for i in 0..m {
        for j in 0..n {
            let mut sum = match start {
                Start::Zero => 0.0,
                Start::Bias(bias) => f64::from(bias[j]),
                Start::Accumulate => f64::from(c[i * n + j]),
            };
            for kk in 0..k {
                sum += f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
            }
            c[i * n + j] = sum as f32;
        }
    }
}

/// The transpose of a row-major rows x cols matrix, into `out` (cols x rows).
pub fn transpose(rows: usize, cols: usize, x: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(rows * cols, 0.0);
    // Blocks of 8 x 8 keep both sides in cache lines.
    const B: usize = 8;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = x[r * cols + c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::rng::RngStream;

    fn random(len: usize, rng: &mut RngStream) -> Vec<f32> {
        (0..len).map(|_| rng.normal() as f32).collect()
    }

    /// Every shape class: full tiles, row edges 1..5, column edges (2, 15, 17), k = 1, and
    /// each start; the kernel within TOLERANCE (relative to the row's scale) of the reference.
    #[test]
    fn kernel_matches_the_reference_on_every_edge() {
        let mut rng = RngStream::new(11, 12);
        for (m, k, n) in
            [(6, 8, 16), (12, 64, 32), (1, 5, 2), (5, 15, 17), (7, 1, 15), (64, 128, 2), (2, 64, 128), (13, 33, 47)]
        {
            let a = random(m * k, &mut rng);
            let b = random(k * n, &mut rng);
            let bias = random(n, &mut rng);
            let initial = random(m * n, &mut rng);
            for start in [Start::Zero, Start::Bias(&bias), Start::Accumulate] {
                let (mut got, mut want) = (initial.clone(), initial.clone());
                let shape = Shape { m, k, n };
                gemm(shape, &a, &b, &mut got, start);
                reference(shape, &a, &b, &mut want, start);
                for (g, w) in got.iter().zip(&want) {
                    let scale = (k as f32).sqrt() + w.abs();
                    assert!((g - w).abs() <= TOLERANCE * scale, "{m}x{k}x{n} {start:?}: {g} vs {w}");
                }
            }
        }
    }

    /// Reading A through its stored transpose gives the same product.
    #[test]
    fn transposed_a_matches_the_reference() {
        let mut rng = RngStream::new(3, 4);
        for (m, k, n) in [(128, 64, 15), (2, 37, 64), (13, 6, 19)] {
            let a = random(m * k, &mut rng);
            let mut a_t = Vec::new();
            transpose(m, k, &a, &mut a_t);
            let b = random(k * n, &mut rng);
            let initial = random(m * n, &mut rng);
            let (mut got, mut want) = (initial.clone(), initial);
            gemm_transposed_a(Shape { m, k, n }, &a_t, &b, &mut got, Start::Accumulate);
            reference(Shape { m, k, n }, &a, &b, &mut want, Start::Accumulate);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= TOLERANCE * ((k as f32).sqrt() + w.abs()), "{m}x{k}x{n}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn transpose_swaps_indices() {
        let x: Vec<f32> = (0..35).map(|v| v as f32).collect();
        let mut t = Vec::new();
        transpose(5, 7, &x, &mut t);
        for r in 0..5 {
            for c in 0..7 {
                assert_eq!(t[c * 5 + r], x[r * 7 + c]);
            }
        }
    }
}
