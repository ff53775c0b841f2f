//! The training benchmark's computation, shared by `nde bench train` and the page's wasm
//! benchmark entry: DSM with an eps-MLP under VP, Adam with clipping and the EMA, minibatches
//! drawn from 20 000 points of the eight Gaussians (what bench/peer_jax_train.py repeats).
//! The clock is the caller's: `std::time::Instant` natively, `performance.now()` in a browser
//! (where `Instant` is not available).

use crate::core::data::GaussianMixture;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::train::{Objective, TrainConfig, Trainer, Weighting};

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainBench {
    pub width: usize,
    pub depth: usize,
    pub batch: usize,
    /// Timed steps per run.
    pub steps: u64,
    /// Runs; the fastest counts.
    pub repeats: usize,
    pub seed: u64,
}

/// The fastest run's rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSpeed {
    pub seconds: f64,
    pub steps_per_s: f64,
    pub samples_per_s: f64,
    /// Of the three products per layer a step runs (the first layer's input gradient is not
    /// needed and not counted), 2 FLOPs per multiply-add.
    pub gflops: f64,
}

/// The benchmark's trainer, before its first step.
pub fn bench_trainer(bench: &TrainBench) -> Result<Trainer, String> {
    let config = MlpConfig { width: bench.width, depth: bench.depth, ..MlpConfig::default() };
    config.validate()?;
    let data = GaussianMixture::eight_gaussians().sample(20_000, bench.seed);
    let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
    let train = TrainConfig { batch: bench.batch, learning_rate: 1e-3, ema_decay: 0.999, seed: bench.seed };
    Trainer::new(Mlp::new(config, bench.seed)?, Process::vp(), objective, data, None, train)
}

/// Times `bench.repeats` runs of `bench.steps` steps after 3 untimed ones; `clock` reads seconds.
pub fn measure(bench: &TrainBench, clock: &dyn Fn() -> f64) -> Result<TrainSpeed, String> {
    let mut trainer = bench_trainer(bench)?;
    measure_runs(bench, clock, 1, &mut |_| trainer.step().map(|_| ()).map_err(|e| e.to_string()))
}

/// Times steps taken in runs of up to `run_length` (`run(n)` takes n steps), as a GPU trainer
/// takes them: submitted together and read back once. The untimed warm-up is one run of up to
/// 3 steps; every timed run of `bench.steps` is cut into runs of `run_length` and a remainder.
pub fn measure_runs(
    bench: &TrainBench,
    clock: &dyn Fn() -> f64,
    run_length: usize,
    run: &mut dyn FnMut(usize) -> Result<(), String>,
) -> Result<TrainSpeed, String> {
    let config = MlpConfig { width: bench.width, depth: bench.depth, ..MlpConfig::default() };
    let run_length = run_length.max(1) as u64;
    let mut warm = 3;
    while warm > 0 {
        let n = warm.min(run_length);
        run(n as usize)?;
        warm -= n;
    }
    let mut best = f64::INFINITY;
    for _ in 0..bench.repeats.max(1) {
        let start = clock();
        let mut left = bench.steps;
        while left > 0 {
            let n = left.min(run_length);
            run(n as usize)?;
            left -= n;
        }
        best = best.min(clock() - start);
    }
    let best = best.max(1e-9);
    let steps_per_s = bench.steps as f64 / best;
    let samples_per_s = steps_per_s * bench.batch as f64;
    let layers = config.layers();
    let macs = 3 * config.macs_per_eval() - layers[0].inputs * layers[0].outputs;
    Ok(TrainSpeed { seconds: best, steps_per_s, samples_per_s, gflops: samples_per_s * 2.0 * macs as f64 / 1e9 })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The benchmark runs and reports finite, positive, consistent rates (its speed is a
    /// measured figure in docs/BENCHMARKS.md, not a test).
    #[test]
    fn reports_consistent_rates() {
        let ticks = std::cell::Cell::new(0.0);
        let clock = || {
            ticks.set(ticks.get() + 0.5);
            ticks.get()
        };
        let bench = TrainBench { width: 16, depth: 1, batch: 8, steps: 2, repeats: 2, seed: 1 };
        let speed = measure(&bench, &clock).unwrap();
        assert_eq!(speed.seconds, 0.5);
        assert_eq!(speed.steps_per_s, 4.0);
        assert_eq!(speed.samples_per_s, 32.0);
        assert!(speed.gflops > 0.0 && speed.gflops.is_finite());
        assert!(measure(&TrainBench { width: 8, ..bench }, &clock).unwrap_err().contains("16 to 256"));
    }

    /// Runs cut each timed run's steps into runs of the given length and a remainder, so the
    /// steps taken are exactly the steps counted.
    #[test]
    fn runs_take_exactly_the_timed_steps() {
        let clock = || 0.0;
        let bench = TrainBench { width: 16, depth: 1, batch: 8, steps: 10, repeats: 2, seed: 1 };
        let mut runs = Vec::new();
        measure_runs(&bench, &clock, 4, &mut |n| {
            runs.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(runs, [3, 4, 4, 2, 4, 4, 2]);
        let mut failing = |_| Err("the adapter was lost".to_string());
        assert_eq!(measure_runs(&bench, &clock, 4, &mut failing).unwrap_err(), "the adapter was lost");
    }
}
