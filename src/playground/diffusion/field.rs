//! The field view at one diffusion time t: the learned score on a grid of arrows, the exact
//! score beside it where the data is a mixture, the error between them, and the density of
//! x_t (exact for a mixture, else a histogram of noised data). Scores are shown in noise
//! units, sigma_t * s(x, t), which stay O(1) at every t.

use crate::core::data::{GaussianMixture, Point};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::sample::model::Model;
use crate::core::sample::plan::{quantity_coefficients, Quantity};

/// The page's view is [-EXTENT, EXTENT]^2 in data coordinates.
pub const EXTENT: f64 = 4.5;
/// Arrows per side.
pub const ARROWS: usize = 21;
/// Colour-map cells per side.
pub const CELLS: usize = 40;

/// Centre of cell `i` of `n` along one axis.
pub fn cell_centre(i: usize, n: usize) -> f64 {
    -EXTENT + (i as f64 + 0.5) * 2.0 * EXTENT / n as f64
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub t: f64,
    /// sigma_t * learned score at the ARROWS x ARROWS points, row-major from the bottom-left.
    pub learned: Vec<[f32; 2]>,
    /// The same from the exact score, for mixtures.
    pub exact: Option<Vec<[f32; 2]>>,
    /// |sigma_t (s_learned - s_exact)| on the CELLS x CELLS grid, for mixtures.
    pub error: Option<Vec<f32>>,
    /// Density of x_t on the CELLS x CELLS grid, scaled to a maximum of 1.
    pub density: Vec<f32>,
    /// Whether `density` is exact (a mixture) or a histogram.
    pub density_is_exact: bool,
    /// Mean of `error` weighted by the density (how wrong the model is where it matters).
    pub weighted_error: Option<f64>,
}

/// What a view needs computed (each part costs thousands of evaluations, and the page
/// recomputes the field while training runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub arrows: bool,
    pub error: bool,
    pub density: bool,
}

impl Needs {
    pub const ALL: Needs = Needs { arrows: true, error: true, density: true };
}

/// Computes the field of `model` (parameterisation `param`) on `process` at time t; the
/// parts `needs` leaves out are left empty.
pub fn compute(
    model: &mut dyn Model,
    param: Parameterisation,
    process: &Process,
    t: f64,
    mixture: Option<&GaussianMixture>,
    data: &[Point],
    needs: Needs,
) -> Field {
    let (alpha, sigma) = (process.alpha(t), process.sigma(t));
    let (a, b) = quantity_coefficients(param, Quantity::Score, alpha, sigma);
    let marginal = mixture.map(|m| m.marginal(process, t, [0.0; 2]));
    model.prepare(t);
    let grid = |n: usize| -> Vec<[f32; 2]> {
        (0..n * n).map(|k| [cell_centre(k % n, n) as f32, cell_centre(k / n, n) as f32]).collect()
    };
    let learned_at = |model: &mut dyn Model, points: &[[f32; 2]]| -> Vec<[f32; 2]> {
        let mut out = vec![[0.0f32; 2]; points.len()];
        model.eval_batch(points, t, &mut out);
        points
            .iter()
            .zip(out)
            .map(|(x, o)| [0, 1].map(|d| (sigma * (a * f64::from(o[d]) + b * f64::from(x[d]))) as f32))
            .collect()
    };
    let exact_at = |m: &GaussianMixture, points: &[[f32; 2]]| -> Vec<[f32; 2]> {
        points.iter().map(|x| m.score([f64::from(x[0]), f64::from(x[1])]).map(|s| (sigma * s) as f32)).collect()
    };
    let arrows = if needs.arrows { grid(ARROWS) } else { Vec::new() };
    let learned = learned_at(model, &arrows);
    let exact = marginal.as_ref().map(|m| exact_at(m, &arrows));
    let cells = grid(CELLS);
    let (density, density_is_exact) = match &marginal {
        _ if !(needs.density || needs.error) => (Vec::new(), marginal.is_some()),
        Some(m) => {
            (cells.iter().map(|x| m.log_density([f64::from(x[0]), f64::from(x[1])]).exp() as f32).collect(), true)
        }
        None => (histogram(process, t, data), false),
    };
    let density = normalise_max(density);
    let error: Option<Vec<f32>> = marginal.as_ref().filter(|_| needs.error).map(|m| {
        let learned = learned_at(model, &cells);
        let exact = exact_at(m, &cells);
        learned.iter().zip(&exact).map(|(l, e)| ((l[0] - e[0]).powi(2) + (l[1] - e[1]).powi(2)).sqrt()).collect()
    });
    let weighted = |errors: &[f32], weights: &[f32]| {
        let total: f64 = weights.iter().map(|d| f64::from(*d)).sum();
        errors.iter().zip(weights).map(|(e, d)| f64::from(e * d)).sum::<f64>() / total.max(1e-12)
    };
    let weighted_error = match (&marginal, &error, &exact) {
        (Some(_), Some(e), _) => Some(weighted(e, &density)),
        // The arrows alone: weigh their errors by the density at the arrows.
        (Some(m), None, Some(exact)) if !arrows.is_empty() => {
            let weights: Vec<f32> =
                arrows.iter().map(|x| m.log_density([f64::from(x[0]), f64::from(x[1])]).exp() as f32).collect();
            let errors: Vec<f32> = learned
                .iter()
                .zip(exact)
                .map(|(l, e)| ((l[0] - e[0]).powi(2) + (l[1] - e[1]).powi(2)).sqrt())
                .collect();
            Some(weighted(&errors, &weights))
        }
        _ => None,
    };
    Field { t, learned, exact, error, density, density_is_exact, weighted_error }
}

/// Histogram of x_t = alpha x_0 + sigma z over the data (4 noise draws per point).
fn histogram(process: &Process, t: f64, data: &[Point]) -> Vec<f32> {
    let (alpha, sigma) = (process.alpha(t), process.sigma(t));
    let mut counts = vec![0.0f32; CELLS * CELLS];
    let mut rng = RngStream::new(0, 0x6869_7374); // stream: "hist"
    for x in data {
        for _ in 0..4 {
            let p = [alpha * x[0] + sigma * rng.normal(), alpha * x[1] + sigma * rng.normal()];
            let cell = p.map(|v| ((v + EXTENT) / (2.0 * EXTENT) * CELLS as f64).floor());
            if cell.iter().all(|c| *c >= 0.0 && *c < CELLS as f64) {
                counts[cell[1] as usize * CELLS + cell[0] as usize] += 1.0;
            }
        }
    }
    counts
}

fn normalise_max(mut values: Vec<f32>) -> Vec<f32> {
    let max = values.iter().copied().filter(|v| v.is_finite()).fold(0.0f32, f32::max);
    for v in &mut values {
        *v = if v.is_finite() && max > 0.0 { *v / max } else { 0.0 };
    }
    values
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::sample::model::ExactMixtureModel;

    #[test]
    fn the_exact_model_has_no_error_and_the_histogram_matches_the_density() {
        let mixture = GaussianMixture::eight_gaussians();
        let process = Process::vp();
        let mut model = ExactMixtureModel::new(mixture.clone(), process);
        let data = mixture.sample(4000, 0);
        let field = compute(&mut model, Parameterisation::Score, &process, 0.3, Some(&mixture), &data, Needs::ALL);
        assert_eq!(field.learned.len(), ARROWS * ARROWS);
        let exact = field.exact.as_ref().unwrap();
        for (l, e) in field.learned.iter().zip(exact) {
            assert!((l[0] - e[0]).abs() < 1e-3 && (l[1] - e[1]).abs() < 1e-3, "{l:?} {e:?}");
        }
        assert!(field.weighted_error.unwrap() < 1e-3);
        // The histogram of noised data against the exact density: same mass where it matters.
        let hist = normalise_max(histogram(&process, 0.3, &data));
        let corr = {
            let (a, b) = (&field.density, &hist);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (na * nb)
        };
        assert!(corr > 0.9, "histogram and density correlate only {corr}");
    }

    #[test]
    fn arrows_point_towards_the_data() {
        let mixture = GaussianMixture::eight_gaussians();
        let process = Process::vp();
        let mut model = ExactMixtureModel::new(mixture.clone(), process);
        let field = compute(&mut model, Parameterisation::Score, &process, 0.5, Some(&mixture), &[], Needs::ALL);
        // At the grid's corner the score points back towards the origin.
        let corner = field.learned[0];
        assert!(corner[0] > 0.0 && corner[1] > 0.0, "{corner:?}");
        assert!(field.density.iter().all(|d| (0.0..=1.0).contains(d)));
    }
}
