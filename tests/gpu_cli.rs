//! Test layer (c): `nde --backend gpu` end to end on the native adapter (lavapipe in CI): the
//! GPU executor's samples score like the CPU's, the likelihood matches, and `nde bench` reports
//! the adapter. Skipped, loudly, without an adapter (failed with NDE_REQUIRE_GPU=1).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{json_of, nde};

fn adapter_or_skip(test: &str) -> bool {
    let info = json_of(&["info", "--json"]);
    if info["adapter"]["found"].as_bool() == Some(true) {
        return true;
    }
    if std::env::var("NDE_REQUIRE_GPU").as_deref() == Ok("1") {
        panic!("{test}: NDE_REQUIRE_GPU=1 but {}", info["adapter"]["why"]);
    }
    println!("\nSKIPPED {test}: {}", info["adapter"]["why"]);
    false
}

#[test]
fn gpu_backend_samples_scores_and_benches_like_the_cpu() {
    if !adapter_or_skip("gpu_backend_samples_scores_and_benches_like_the_cpu") {
        return;
    }
    let sample = |backend: &str| {
        json_of(&[
            "sample",
            "--target",
            "gmm8",
            "--process",
            "vp",
            "--model",
            "exact",
            "--sampler",
            "dpmpp-2m",
            "--nfe",
            "10",
            "--particles",
            "500",
            "--backend",
            backend,
            "--json",
        ])
    };
    let (cpu, gpu) = (sample("cpu"), sample("gpu"));
    assert_eq!(gpu["backend"], "gpu");
    assert_eq!(cpu["nfe"], gpu["nfe"]);
    // The same particles to 1e-3, so the same scores to about that.
    let (a, b) = (cpu["swd"].as_f64().unwrap(), gpu["swd"].as_f64().unwrap());
    assert!((a - b).abs() < 2e-3, "SWD cpu {a} gpu {b}");
    let likelihood = |backend: &str| {
        json_of(&[
            "likelihood",
            "--target",
            "gmm8",
            "--process",
            "vp",
            "--model",
            "exact",
            "--points",
            "50",
            "--backend",
            backend,
            "--json",
        ])
    };
    let (lc, lg) = (likelihood("cpu"), likelihood("gpu"));
    let (nc, ng) = (lc["nll"].as_f64().unwrap(), lg["nll"].as_f64().unwrap());
    assert!((nc - ng).abs() < 1e-3, "NLL cpu {nc} gpu {ng}");
    let bench = json_of(&[
        "bench",
        "--backend",
        "gpu",
        "--particles",
        "256",
        "--nfe",
        "2",
        "--width",
        "16",
        "--depth",
        "1",
        "--repeats",
        "1",
        "--json",
    ]);
    assert_eq!(bench["backend"], "gpu");
    assert!(bench["adapter"].as_str().is_some_and(|a| !a.is_empty() && !a.contains("cpu executor")));
    assert!(bench["evals_per_s"].as_f64().is_some_and(|v| v > 0.0));
}

/// `nde lab nsde paths --backend gpu`: the shipped latent SDE's paths on the GPU, equal to the
/// CPU executor's and to the f64 solver's on the same Brownian increments.
#[test]
fn gpu_backend_draws_the_latent_sde_paths() {
    if !adapter_or_skip("gpu_backend_draws_the_latent_sde_paths") {
        return;
    }
    let report = json_of(&["lab", "nsde", "paths", "--backend", "gpu", "--paths", "256", "--check", "--json"]);
    assert_eq!(report["backend"], "gpu");
    let check = &report["check"];
    assert!(check["max_difference_from_cpu_executor"].as_f64().is_some_and(|d| d < 1e-3), "{report}");
    assert!(check["max_difference_from_f64_solver"].as_f64().is_some_and(|d| d < 1e-3), "{report}");
    assert!(report["mean_w1"].as_f64().is_some_and(|w| w < 0.3), "{report}");
}

/// Runs an `nde` training command (`args`) on `backend`, writing its weights to `out`: its JSON
/// report, which must name the backend, and the parameters it wrote.
fn train_on(args: &[&str], backend: &str, out: &std::path::Path) -> (serde_json::Value, Vec<f64>) {
    let tail = ["--backend", backend, "--out", out.to_str().unwrap(), "--json"];
    let report = json_of(&[args, &tail].concat());
    assert_eq!(report["backend"].as_str(), Some(backend), "{report}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (report, saved["params"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
}

/// The largest difference between two weight vectors, over the largest weight of `reference`.
fn relative_gap(got: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(got.len(), reference.len());
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale
}

/// `nde train --backend gpu` trains the same weights as `--backend cpu` (the same draws; f32
/// rounding apart), and `nde bench train --backend gpu` reports the adapter and its rates.
#[test]
fn gpu_training_from_the_command_line_matches_the_cpu() {
    if !adapter_or_skip("gpu_training_from_the_command_line_matches_the_cpu") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("nde-gpu-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let train = |backend: &str| {
        let args = [
            "train",
            "--target",
            "gmm8",
            "--process",
            "vp",
            "--steps",
            "60",
            "--batch",
            "200",
            "--width",
            "32",
            "--depth",
            "2",
            "--lr",
            "0.003",
            "--points",
            "3000",
            "--seed",
            "4",
        ];
        let (report, params) = train_on(&args, backend, &dir.join(format!("{backend}.json")));
        (report["final_loss"].as_f64().unwrap(), params)
    };
    let (cpu_loss, cpu) = train("cpu");
    let (gpu_loss, gpu) = train("gpu");
    let gap = relative_gap(&gpu, &cpu);
    assert!(gap < 1e-5, "the GPU's weights are {gap:.2e} from the CPU's");
    assert!((cpu_loss - gpu_loss).abs() < 1e-4 * cpu_loss.abs(), "losses {cpu_loss} vs {gpu_loss}");
    // The rows drawn on the GPU (the default), then on the host and uploaded.
    for draw in ["gpu", "host"] {
        let bench = json_of(&[
            "bench",
            "train",
            "--backend",
            "gpu",
            "--width",
            "16",
            "--depth",
            "1",
            "--batch",
            "64",
            "--steps",
            "5",
            "--steps-per-readback",
            "2",
            "--repeats",
            "1",
            "--draw",
            draw,
            "--json",
        ]);
        assert_eq!(bench["backend"].as_str(), Some("gpu"));
        assert_eq!(bench["steps_per_readback"].as_u64(), Some(2), "{bench}");
        assert_eq!(bench["draw"].as_str(), Some(draw), "{bench}");
        assert!(bench["adapter"].as_str().is_some_and(|a| !a.is_empty()), "{bench}");
        for key in ["steps_per_s", "samples_per_s", "gflops"] {
            assert!(bench[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{key}: {bench}");
        }
    }

    // DLG's level classifier: `nde train-levels --backend gpu` (cross-entropy on the GPU, runs
    // of up to 64 steps) against the CPU.
    let levels = |backend: &str| {
        let args = [
            "train-levels",
            "--target",
            "gmm8",
            "--process",
            "vp",
            "--nfe",
            "10",
            "--steps",
            "70",
            "--batch",
            "150",
            "--width",
            "32",
            "--points",
            "3000",
        ];
        let (report, params) = train_on(&args, backend, &dir.join(format!("levels-{backend}.json")));
        (report["final_loss"].as_f64().unwrap(), report["chance_loss"].as_f64().unwrap(), params)
    };
    let (cpu_loss, chance, cpu) = levels("cpu");
    let (gpu_loss, _, gpu) = levels("gpu");
    let gap = relative_gap(&gpu, &cpu);
    assert!(gap < 1e-5, "the GPU's classifier is {gap:.2e} from the CPU's");
    assert!((cpu_loss - gpu_loss).abs() < 1e-4 * cpu_loss, "cross-entropy {cpu_loss} vs {gpu_loss}");
    assert!(gpu_loss < chance, "70 steps must beat chance: {gpu_loss} vs {chance}");
    let refused = nde(&["train-levels", "--target", "gmm8", "--process", "vp", "--backend", "tpu", "--out", "x.json"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("choose cpu or gpu"));
    let _ = std::fs::remove_dir_all(&dir);
}
