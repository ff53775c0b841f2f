//! Missing values (NaN) in one channel of an irregular series, filled the two ways a control
//! path needs: linearly in time between the neighbouring observations (linear and Hermite
//! paths, torchcde's rule), or forward with the last observation (rectilinear paths, which
//! must not see the future). Either way the first observation is carried back to the start
//! and the last forward to the end; a channel with no observation at all is zero (a
//! constant path, whose increments are zero).

/// Fills `values` (one channel, NaN where missing) by linear interpolation in `times`.
pub fn fill_linear(times: &[f64], values: &mut [f64]) {
    let observed: Vec<usize> = (0..values.len()).filter(|&k| !values[k].is_nan()).collect();
    let (Some(&first), Some(&last)) = (observed.first(), observed.last()) else {
        values.iter_mut().for_each(|v| *v = 0.0);
        return;
    };
    let (head, tail) = (values[first], values[last]);
    values[..first].iter_mut().for_each(|v| *v = head);
    values[last + 1..].iter_mut().for_each(|v| *v = tail);
    for pair in observed.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (ta, tb, xa, xb) = (times[a], times[b], values[a], values[b]);
        for k in a + 1..b {
            values[k] = xa + (times[k] - ta) / (tb - ta) * (xb - xa);
        }
    }
}

/// Fills `values` (one channel, NaN where missing) with the last observation before each gap
/// (the first observation before any).
pub fn fill_forward(values: &mut [f64]) {
    let Some(first) = values.iter().copied().find(|v| !v.is_nan()) else {
        values.iter_mut().for_each(|v| *v = 0.0);
        return;
    };
    let mut carried = first;
    for v in values.iter_mut() {
        if v.is_nan() {
            *v = carried;
        } else {
            carried = *v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const N: f64 = f64::NAN;

    /// torchcde's rule on hand cases: interior gaps linear in time (irregular times too),
    /// leading and trailing gaps constant, an empty channel zero.
    #[test]
    fn linear_fill_matches_the_hand_cases() {
        let mut v = [N, 1.0, N, N, 4.0, N];
        fill_linear(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &mut v);
        assert_eq!(v, [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
        let mut v = [2.0, N, N, 5.0];
        fill_linear(&[0.0, 1.0, 1.5, 3.0], &mut v);
        assert_eq!(v, [2.0, 3.0, 3.5, 5.0]);
        let mut v = [N, N];
        fill_linear(&[0.0, 1.0], &mut v);
        assert_eq!(v, [0.0, 0.0]);
        let mut v = [1.0, 2.0];
        fill_linear(&[0.0, 1.0], &mut v);
        assert_eq!(v, [1.0, 2.0], "nothing missing, nothing changed");
    }

    #[test]
    fn forward_fill_never_looks_ahead_but_at_the_start() {
        let mut v = [N, 1.0, N, 4.0, N];
        fill_forward(&mut v);
        assert_eq!(v, [1.0, 1.0, 1.0, 4.0, 4.0]);
        let mut v = [N, N, N];
        fill_forward(&mut v);
        assert_eq!(v, [0.0, 0.0, 0.0]);
    }
}
