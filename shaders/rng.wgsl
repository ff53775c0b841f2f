// requires: exact_trig.wgsl
// Counter-based random numbers: Philox4x32-10, bit for bit the same function as
// src/core/rng.rs (the native and browser tests compare the two streams).
// WGSL has no 64-bit integers, so 64-bit seeds, streams and counters travel as vec2<u32>
// (low word first) and the 32x32 -> 64 multiply is done in 16-bit halves.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const INV_2_POW_24: f32 = 5.9604644775390625e-8;
const TAU: f32 = 6.283185307179586;
const PI: f32 = 3.141592653589793;

// (high, low) words of the 64-bit product a * b.
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_lo = a_hi * b_lo;
    let hi_hi = a_hi * b_hi;
    // The carry out of the low word: at most 3 * 0xFFFF, so no overflow.
    let middle = (lo_lo >> 16u) + (lo_hi & 0xFFFFu) + (hi_lo & 0xFFFFu);
    let high = hi_hi + (lo_hi >> 16u) + (hi_lo >> 16u) + (middle >> 16u);
    return vec2<u32>(high, a * b);
}

fn philox4x32_10(block: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = block;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let p0 = mul_hi_lo(PHILOX_M0, c.x);
        let p1 = mul_hi_lo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// Four u32 for draw `counter` of stream `stream` under `seed` (each a 64-bit value as vec2).
fn random_u32x4(seed: vec2<u32>, stream: vec2<u32>, counter: vec2<u32>) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(counter.x, counter.y, stream.x, stream.y), seed);
}

// 64-bit addition of a small offset to a (low, high) pair.
fn add_u64(value: vec2<u32>, offset: u32) -> vec2<u32> {
    let low = value.x + offset;
    return vec2<u32>(low, value.y + select(0u, 1u, low < value.x));
}

fn u32_to_unit_f32(x: u32) -> f32 {
    return f32(x >> 8u) * INV_2_POW_24;
}

fn u32_to_open_unit_f32(x: u32) -> f32 {
    return f32((x >> 8u) + 1u) * INV_2_POW_24;
}

fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let radius = sqrt(-2.0 * log(u32_to_open_unit_f32(a)));
    // In [-pi, pi) (as in src/core/rng.rs), and sin and cos to f32 rounding (sin_cos_exact:
    // WGSL allows its own an absolute error of 2^-11, and SwiftShader's come near it).
    let angle = TAU * u32_to_unit_f32(b) - PI;
    return radius * sin_cos_exact(angle).yx;
}

fn normal4(seed: vec2<u32>, stream: vec2<u32>, counter: vec2<u32>) -> vec4<f32> {
    let r = random_u32x4(seed, stream, counter);
    return vec4<f32>(box_muller(r.x, r.y), box_muller(r.z, r.w));
}
