//! Data paths paired with the model's paths (LABS.md, Lab B: "same Brownian tree seed, so
//! paths are comparable step by step"). Data path p is an exact draw of the data's process on
//! its observation grid whose noise is the Brownian motion of model path p: the latent SDE's
//! prior path p is driven by a d-dimensional Brownian motion W from the virtual Brownian tree
//! keyed by its seed, and the data path by the one-dimensional B = c·W with |c| = 1, where c
//! points along what the decoded output feels of W at the prior's mean, c_i ∝ L_i g_i(m_i).
//! A fixed unit combination of independent Brownian motions is a Brownian motion, so B is one,
//! and so is the start's normal draw, which combines the prior's z0 draws with weights
//! ∝ L_i s_i.
//!
//! Each transition takes ξ = ΔB/√Δ as its standard normal. For GBM the transition is then the
//! exact solution driven by B; for the two OU sets, whose exact transition's noise is an
//! integral e^{-θ(u-s)} dB_s that ΔB does not fix, the path is still an exact draw of the
//! process on the grid (ξ is exactly standard normal, independent across intervals), and its
//! coupling to B is the increment's, which is close for intervals short against 1/θ.

use super::data::NsdeDataId;
use super::fit::LatentFit;
use super::latent::Grid;
use crate::core::stats::erfc;

/// A unit vector along `weights`; the first axis when they vanish (or are not finite).
fn unit(weights: &[f64]) -> Vec<f64> {
    let norm = weights.iter().map(|w| w * w).sum::<f64>().sqrt();
    if norm > 1e-12 && norm.is_finite() {
        weights.iter().map(|w| w / norm).collect()
    } else {
        (0..weights.len()).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect()
    }
}

/// The directions c (of the Brownian motion) and c0 (of the start's draw) for a model.
pub fn pairing_directions(fit: &LatentFit) -> (Vec<f64>, Vec<f64>) {
    let (mean, std) = fit.model.prior_start();
    let loading = fit.model.decoder_loading();
    let g = fit.model.diffusion_at(&mean);
    let c: Vec<f64> = loading.iter().zip(&g).map(|(l, g)| l * g).collect();
    let c0: Vec<f64> = loading.iter().zip(&std).map(|(l, s)| l * s).collect();
    (unit(&c), unit(&c0))
}

/// Data path p paired with model path p of `fit`'s evaluation, at the observation times,
/// its draws taken from the Brownian tree on the observation grid.
pub fn paired_data_path(fit: &LatentFit, p: usize) -> Result<Vec<f64>, String> {
    let times = &fit.train.times;
    let span = times.last().copied().unwrap_or(1.0) - times.first().copied().unwrap_or(0.0);
    // One solver step per observation interval: the draws on this grid are the observation
    // grid's increments of the same Brownian paths the model's finer grid refines.
    let grid = Grid::new(times, span.max(1e-9))?;
    let (z0, increments) = fit.model_path_draws(&grid, p);
    Ok(paired_path(fit, &z0, &increments))
}

/// The same from a model path's plan inputs (`super::sde_model`: row 0 its z0, row n + 1 the
/// Brownian increment of solver step n), which the page's evaluation has already drawn: the
/// tree's queries cost more than the pairing (about 0.1 ms a path natively).
pub fn paired_from_rows(fit: &LatentFit, rows: &[[f32; 2]]) -> Vec<f64> {
    let grid = fit.grid();
    let z0 = rows.first().map_or(vec![0.0; 2], |r| vec![f64::from(r[0]), f64::from(r[1])]);
    let increments: Vec<Vec<f64>> = grid
        .obs_steps
        .windows(2)
        .map(|w| {
            let steps = rows.get(w[0] + 1..w[1] + 1).unwrap_or(&[]);
            let sum = |i: usize| steps.iter().map(|r| f64::from(r[i])).sum::<f64>();
            vec![sum(0), sum(1)]
        })
        .collect();
    paired_path(fit, &z0, &increments)
}

/// A data path from the model's z0 draw and Brownian increments over each observation
/// interval.
fn paired_path(fit: &LatentFit, z0: &[f64], increments: &[Vec<f64>]) -> Vec<f64> {
    let times = &fit.train.times;
    let (mean, std) = fit.model.prior_start();
    let (c, c0) = pairing_directions(fit);
    let xi0: f64 = z0.iter().zip(&mean).zip(&std).zip(&c0).map(|(((z, m), s), c)| c * (z - m) / s).sum();
    let data = fit.config.data;
    let mut x = match data {
        NsdeDataId::Ou => xi0,
        // U[-1, 1] from the normal draw through its distribution function.
        NsdeDataId::OuTdep => 1.0 - erfc(xi0 / std::f64::consts::SQRT_2),
        NsdeDataId::Gbm => 1.0,
    };
    let mut values = Vec::with_capacity(times.len());
    values.push(x);
    for (w, dw) in times.windows(2).zip(increments) {
        let db: f64 = dw.iter().zip(&c).map(|(d, c)| d * c).sum();
        x = data.transition(w[0], w[1], x, db / (w[1] - w[0]).sqrt());
        values.push(x);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nsde::data::{moment_check, PathSet};
    use crate::core::nsde::fit::{NsdeFitConfig, NsdeWeights};

    fn shipped() -> LatentFit {
        let weights = NsdeWeights::parse(include_str!("../../../www/nsde-ou.json")).expect("the shipped weights");
        let mut fit = LatentFit::new(NsdeFitConfig { train_paths: 16, ..NsdeFitConfig::cli_default() }).unwrap();
        weights.apply(&mut fit).expect("the shipped weights load");
        fit
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn paired_paths_are_exact_draws_of_the_data() {
        let fit = shipped();
        let paths: Vec<Vec<f64>> = (0..4096).map(|p| paired_data_path(&fit, p).unwrap()).collect();
        let set = PathSet { data: fit.config.data, times: fit.train.times.clone(), paths };
        let check = moment_check(&set);
        assert!(check.pass(), "moments against the closed forms: {check:?}");
    }

    #[test]
    fn paired_paths_move_with_their_model_paths_and_unpaired_ones_do_not() {
        // The increments of model path p and data path p over each observation interval,
        // pooled over paths and intervals: paired, they share the Brownian motion the output
        // feels; shifted by one path, they share nothing.
        let fit = shipped();
        let n = 300;
        let model: Vec<Vec<f64>> = (0..n).map(|p| fit.model_path(p).unwrap()).collect();
        let data: Vec<Vec<f64>> = (0..n).map(|p| paired_data_path(&fit, p).unwrap()).collect();
        let steps = |paths: &[Vec<f64>]| -> Vec<f64> {
            paths.iter().flat_map(|p| p.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()).collect()
        };
        let (dm, dd) = (steps(&model), steps(&data));
        let shifted: Vec<Vec<f64>> = (0..n).map(|p| data[(p + 1) % n].clone()).collect();
        let paired = correlation(&dm, &dd);
        let unpaired = correlation(&dm, &steps(&shifted));
        let starts = correlation(
            &model.iter().map(|p| p[0]).collect::<Vec<_>>(),
            &data.iter().map(|p| p[0]).collect::<Vec<_>>(),
        );
        eprintln!("increment correlation: paired {paired:.3}, unpaired {unpaired:.3}; starts {starts:.3}");
        assert!(paired > 0.3, "paired increments correlate: {paired}");
        assert!(unpaired.abs() < 0.05, "unpaired ones do not: {unpaired}");
        assert!(starts > 0.5, "the starts correlate: {starts}");
    }

    /// The evaluation's plan inputs (the fine grid's increments, in f32) give the tree's path
    /// on the observation grid to f32 rounding.
    #[test]
    fn the_evaluations_inputs_give_the_same_pairing() {
        use crate::core::nsde::sde_model::PathSetup;
        let fit = shipped();
        let setup = PathSetup::of_fit(&fit).unwrap();
        let draws = |p: usize| fit.model_path_draws(fit.grid(), p);
        let rows = setup.inputs(5..6, &draws);
        let (a, b) = (paired_from_rows(&fit, &rows), paired_data_path(&fit, 5).unwrap());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(a.len() == b.len() && worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn vanishing_directions_fall_back_to_the_first_axis() {
        assert_eq!(unit(&[0.0, 0.0]), vec![1.0, 0.0]);
        assert_eq!(unit(&[f64::NAN, 1.0]), vec![1.0, 0.0]);
        let u = unit(&[3.0, -4.0]);
        assert!((u[0] - 0.6).abs() < 1e-15 && (u[1] + 0.8).abs() < 1e-15);
    }
}
