//! The `nde` binary's contract: help, `info --json`, and errors with status 2.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{json_of, nde};

#[test]
fn help_lists_the_commands() {
    let out = nde(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("info"), "{text}");
}

#[test]
fn info_json_is_one_object_with_version_adapter_and_features() {
    let out = nde(&["info", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object");
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
    let found = value["adapter"]["found"].as_bool().expect("adapter.found is a bool");
    if found {
        assert!(value["adapter"]["name"].is_string());
        // What the adapter offers for the f16 path, always stated.
        assert!(value["adapter"]["shader_f16"].is_boolean() && value["adapter"]["cooperative_matrix"].is_boolean());
        assert!(value["adapter"]["cooperative_matrix_configurations"].is_array(), "{value}");
    } else {
        assert!(!value["adapter"]["why"].as_str().unwrap_or("").is_empty(), "a missing adapter says why");
    }
    assert!(value["features"].as_array().is_some_and(|f| !f.is_empty()));
}

#[test]
fn unknown_commands_and_flags_fail_with_status_2() {
    for args in [&["bogus"][..], &["info", "--no-such-flag"][..]] {
        let out = nde(args);
        assert_eq!(out.status.code(), Some(2), "nde {args:?}");
        assert!(out.stdout.is_empty(), "errors go to stderr only");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn sample_reports_the_contract_keys_and_approaches_the_floor() {
    let run = json_of(&[
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
        "20",
        "--particles",
        "1000",
        "--json",
    ]);
    for key in ["sampler", "nfe", "particles", "seconds", "swd", "mmd", "energy"] {
        assert!(run.get(key).is_some(), "missing key {key}: {run}");
    }
    assert_eq!(run["nfe"], 20.0);
    let floor = json_of(&[
        "sample",
        "--target",
        "gmm8",
        "--process",
        "vp",
        "--model",
        "exact",
        "--sampler",
        "exact",
        "--particles",
        "1000",
        "--json",
    ]);
    assert_eq!(floor["nfe"], 0.0);
    assert!(run["swd"].as_f64().unwrap() < 2.0 * floor["swd"].as_f64().unwrap() + 0.05, "{run} vs floor {floor}");
}

#[test]
fn sample_writes_csv_that_the_csv_reader_accepts() {
    let path = std::env::temp_dir().join(format!("nde-cli-{}.csv", std::process::id()));
    let p = path.to_str().unwrap();
    json_of(&[
        "sample",
        "--target",
        "gmm8",
        "--process",
        "ve",
        "--model",
        "exact",
        "--sampler",
        "em",
        "--nfe",
        "10",
        "--particles",
        "50",
        "--out",
        p,
        "--json",
    ]);
    let points = nde_playground::core::data::csv::parse_points(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(points.len(), 50);
    let _ = std::fs::remove_file(path);
}

#[test]
fn bad_sample_requests_fail_with_status_2_and_say_what_to_fix() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["sample", "--target", "gmm8", "--process", "vp", "--model", "exact", "--sampler", "nope"],
            "unknown sampler",
        ),
        (&["sample", "--target", "moon", "--process", "vp", "--model", "exact", "--sampler", "em"], "unknown data set"),
        (
            &["sample", "--target", "moons", "--process", "vp", "--model", "exact", "--sampler", "em"],
            "needs a mixture target",
        ),
        (&["sample", "--target", "gmm8", "--process", "vpp", "--model", "exact", "--sampler", "em"], "unknown process"),
        (
            &["sample", "--target", "gmm8", "--process", "vp", "--model", "/no/such/file.json", "--sampler", "em"],
            "cannot read weights file",
        ),
    ];
    for (args, message) in cases {
        let out = nde(args);
        assert_eq!(out.status.code(), Some(2), "nde {args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "nde {args:?}: {err}");
    }
}

#[test]
fn order_reports_the_fitted_and_expected_order() {
    let rk4 = json_of(&["order", "--solver", "rk4", "--problem", "nonlinear", "--json"]);
    assert_eq!(rk4["expected"], 4.0);
    assert!((rk4["order"].as_f64().unwrap() - 4.0).abs() < 0.2, "{rk4}");
    let em = json_of(&["order", "--solver", "em", "--problem", "gbm", "--json"]);
    assert!((em["order"].as_f64().unwrap() - 0.5).abs() < 0.2, "{em}");
}

#[test]
fn train_writes_weights_that_sample_reads() {
    let path = std::env::temp_dir().join(format!("nde-cli-{}.json", std::process::id()));
    let p = path.to_str().unwrap();
    let trained = json_of(&[
        "train",
        "--target",
        "moons",
        "--process",
        "vp",
        "--param",
        "x0",
        "--steps",
        "20",
        "--width",
        "16",
        "--depth",
        "1",
        "--out",
        p,
        "--json",
    ]);
    for key in ["final_loss", "steps_per_s", "seconds"] {
        assert!(trained[key].as_f64().is_some_and(f64::is_finite), "{key}: {trained}");
    }
    let run = json_of(&[
        "sample",
        "--target",
        "moons",
        "--process",
        "vp",
        "--model",
        p,
        "--sampler",
        "ddim",
        "--nfe",
        "5",
        "--particles",
        "100",
        "--json",
    ]);
    assert_eq!(run["nfe"], 5.0);
    let wrong = nde(&["sample", "--target", "moons", "--process", "ve", "--model", p, "--sampler", "em"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("pass --process vp"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn compare_gives_one_row_per_sampler_and_budget() {
    let table = json_of(&[
        "compare",
        "--target",
        "gmm8",
        "--process",
        "vp",
        "--model",
        "exact",
        "--samplers",
        "em,ddim",
        "--nfe",
        "5,10",
        "--particles",
        "300",
        "--json",
    ]);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["sampler"], "ddim");
    assert_eq!(rows[3]["nfe"], 10.0);
}

#[test]
fn likelihood_of_the_exact_model_matches_the_exact_density() {
    let run = json_of(&[
        "likelihood",
        "--target",
        "gmm8",
        "--process",
        "vp",
        "--model",
        "exact",
        "--points",
        "20",
        "--rtol",
        "1e-6",
        "--atol",
        "1e-6",
        "--json",
    ]);
    let (nll, exact) = (run["nll"].as_f64().unwrap(), run["nll_exact"].as_f64().unwrap());
    assert!((nll - exact).abs() < 0.01, "{run}");
    let bad = nde(&["likelihood", "--target", "gmm8", "--process", "vp", "--model", "exact", "--solver", "pf-rk4"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pf-dopri5"));
}

#[test]
fn rectified_flow_models_train_by_flow_matching_and_sample() {
    let path = std::env::temp_dir().join(format!("nde-cli-rf-{}.json", std::process::id()));
    let p = path.to_str().unwrap();
    json_of(&[
        "train",
        "--target",
        "moons",
        "--process",
        "rf",
        "--steps",
        "20",
        "--width",
        "16",
        "--depth",
        "1",
        "--out",
        p,
        "--json",
    ]);
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["meta"]["param"], "flow");
    let run = json_of(&[
        "sample",
        "--target",
        "moons",
        "--process",
        "rf",
        "--model",
        p,
        "--sampler",
        "pf-euler",
        "--nfe",
        "8",
        "--particles",
        "100",
        "--json",
    ]);
    assert_eq!(run["nfe"], 8.0);
    let _ = std::fs::remove_file(path);
}

#[test]
fn mean_reverting_sampling_takes_the_condition() {
    let run = json_of(&[
        "sample",
        "--target",
        "gmm8",
        "--process",
        "mr",
        "--model",
        "exact",
        "--sampler",
        "mrs-ode",
        "--nfe",
        "20",
        "--mu",
        "0.5,-0.5",
        "--particles",
        "500",
        "--json",
    ]);
    assert_eq!(run["nfe"], 20.0);
    for (args, message) in [
        (&["sample", "--target", "gmm8", "--process", "mr", "--model", "exact", "--sampler", "em"][..], "use mr-em"),
        (
            &["sample", "--target", "gmm8", "--process", "mr", "--model", "exact", "--sampler", "mrs-ode", "--mu", "1"]
                [..],
            "--mu takes two",
        ),
    ] {
        let out = nde(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn dlg_runs_with_a_trained_level_classifier_and_refuses_a_mismatched_one() {
    let dir = std::env::temp_dir();
    let model = dir.join(format!("nde-cli-dlg-model-{}.json", std::process::id()));
    let levels = dir.join(format!("nde-cli-dlg-levels-{}.json", std::process::id()));
    let (m, l) = (model.to_str().unwrap(), levels.to_str().unwrap());
    let common = ["--target", "moons", "--process", "vp"];
    let small = ["--steps", "300", "--width", "16", "--depth", "1"];
    json_of(&[&["train"][..], &common, &small, &["--out", m, "--json"]].concat());
    let trained = json_of(&[&["train-levels"][..], &common, &small, &["--nfe", "9", "--out", l, "--json"]].concat());
    assert_eq!(trained["levels"], 5, "{trained}");
    let (loss, chance) = (trained["final_loss"].as_f64().unwrap(), trained["chance_loss"].as_f64().unwrap());
    assert!(loss < chance, "the classifier learned nothing: cross-entropy {loss}, chance {chance}");
    let sample = |nfe: &str| {
        nde(&[
            &["sample"][..],
            &common,
            // 10 sweeps keep the evaluation count below. This weak model (300 steps, width 16)
            // is all the classifier plumbing needs; at the former step 0.8 its score sends the
            // chain to 1e11, which `nde` now refuses as diverged (it used to print SWD 2e11).
            &["--model", m, "--level-model", l, "--sampler", "dlg", "--nfe", nfe, "--particles", "200", "--json"],
            &["--sweeps", "10", "--dlg-step", "0.1"],
        ]
        .concat())
    };
    let ok = sample("9");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let run: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    // 10 sweeps of two evaluations, then at most the integrator's 9.
    let nfe = run["nfe"].as_f64().unwrap();
    assert!(nfe > 20.0 && nfe <= 29.0, "{run}");
    let mismatched = sample("15");
    assert_eq!(mismatched.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mismatched.stderr).contains("nde train-levels"));
    let no_classifier = nde(&[&["sample"][..], &common, &["--model", m, "--sampler", "dlg", "--nfe", "9"]].concat());
    assert_eq!(no_classifier.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_classifier.stderr).contains("--level-model"));
    let _ = (std::fs::remove_file(model), std::fs::remove_file(levels));
}

#[test]
fn sample_records_trajectories_of_the_traced_particles() {
    let dir = std::env::temp_dir();
    let trace = dir.join(format!("nde-cli-trace-{}.csv", std::process::id()));
    let out = dir.join(format!("nde-cli-trace-out-{}.csv", std::process::id()));
    let (t, o) = (trace.to_str().unwrap(), out.to_str().unwrap());
    let base = ["sample", "--target", "gmm8", "--process", "vp", "--model", "exact", "--sampler", "ddim", "--nfe", "5"];
    let run = nde(&[&base[..], &["--particles", "50", "--trace", "3", "--trace-out", t, "--out", o]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let lines: Vec<String> = std::fs::read_to_string(&trace).unwrap().lines().map(String::from).collect();
    assert_eq!(lines[0], "frame,particle,x,y");
    // The prior and five steps, three particles each.
    assert_eq!(lines.len(), 1 + 6 * 3);
    // The last frame is where those particles ended.
    let samples: Vec<String> =
        std::fs::read_to_string(&out).unwrap().lines().skip(1).take(3).map(String::from).collect();
    for k in 0..3 {
        let fields: Vec<&str> = lines[1 + 5 * 3 + k].split(',').collect();
        assert_eq!(fields[..2], ["5", &k.to_string()[..]]);
        let ended: Vec<f32> = samples[k].split(',').map(|v| v.parse::<f64>().unwrap() as f32).collect();
        let traced: Vec<f32> = fields[2..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(traced, ended);
    }
    let lonely = nde(&[&base[..], &["--trace", "3"]].concat());
    assert_eq!(lonely.status.code(), Some(2));
    let _ = (std::fs::remove_file(trace), std::fs::remove_file(out));
}

#[test]
fn compare_draws_png_and_svg_charts_and_refuses_other_names() {
    let dir = std::env::temp_dir();
    let base = [
        "compare",
        "--target",
        "gmm8",
        "--process",
        "vp",
        "--model",
        "exact",
        "--samplers",
        "ddim",
        "--nfe",
        "5,10",
        "--particles",
        "200",
    ];
    for ext in ["png", "svg"] {
        let path = dir.join(format!("nde-cli-chart-{}.{ext}", std::process::id()));
        let p = path.to_str().unwrap();
        let out = nde(&[&base[..], &["--plot", p]].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&path).unwrap();
        match ext {
            "png" => assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n"),
            _ => assert!(String::from_utf8_lossy(&bytes).contains("ddim")),
        }
        let _ = std::fs::remove_file(path);
    }
    let bad = nde(&[&base[..], &["--plot", "chart.jpg"]].concat());
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".png or .svg"));
}

#[test]
fn bench_train_reports_its_keys_and_refuses_what_it_cannot_do() {
    let args = ["bench", "train", "--width", "16", "--depth", "1", "--batch", "8", "--steps", "2", "--repeats", "1"];
    let report = json_of(&[&args[..], &["--threads", "1", "--json"]].concat());
    for key in ["seconds", "steps_per_s", "samples_per_s", "gflops"] {
        assert!(report[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{key}: {report}");
    }
    assert_eq!((report["bench"].as_str(), report["backend"].as_str()), (Some("train"), Some("cpu")));
    assert_eq!(
        (report["batch"].as_u64(), report["width"].as_u64(), report["threads"].as_u64()),
        (Some(8), Some(16), Some(1))
    );
    assert!(report["instructions"].as_str().is_some_and(|s| !s.is_empty()), "{report}");
    let steps_per_s = report["steps_per_s"].as_f64().unwrap();
    assert!((report["samples_per_s"].as_f64().unwrap() - 8.0 * steps_per_s).abs() < 1e-6 * steps_per_s);
    let unknown = nde(&[&args[..], &["--backend", "tpu"]].concat());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("use cpu or gpu"));
    let big = nde(&[&args[..], &["--batch", "5000"]].concat());
    assert_eq!(big.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&big.stderr).contains("--batch"));
    let readback = nde(&[&args[..], &["--steps-per-readback", "8"]].concat());
    assert_eq!(readback.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&readback.stderr).contains("use it with --backend gpu"));
    let long_run = nde(&[&args[..], &["--backend", "gpu", "--steps-per-readback", "65"]].concat());
    assert_eq!(long_run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&long_run.stderr).contains("--steps-per-readback"));
    let cpu_draw = nde(&[&args[..], &["--draw", "host"]].concat());
    assert_eq!(cpu_draw.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cpu_draw.stderr).contains("use it with --backend gpu"));
    let odd_draw = nde(&[&args[..], &["--backend", "gpu", "--draw", "disk"]].concat());
    assert_eq!(odd_draw.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&odd_draw.stderr).contains("use gpu or host"));
}

#[test]
fn bench_divergence_reports_its_keys() {
    let args =
        ["bench", "divergence", "--particles", "200", "--width", "16", "--depth", "1", "--repeats", "1", "--json"];
    let report = json_of(&args);
    for key in ["seconds", "evals_per_s", "gflops"] {
        assert!(report[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{key}: {report}");
    }
    assert_eq!((report["bench"].as_str(), report["particles"].as_u64()), (Some("divergence"), Some(200)));
    let refused = nde(&["bench", "divergence", "--particles", "1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--particles"));
}

#[test]
fn bench_reports_its_keys_and_bad_backends_are_refused() {
    let report = json_of(&[
        "bench",
        "--backend",
        "cpu",
        "--particles",
        "300",
        "--nfe",
        "3",
        "--width",
        "16",
        "--depth",
        "1",
        "--repeats",
        "1",
        "--json",
    ]);
    for key in ["seconds", "evals_per_s", "gflops", "nfe"] {
        assert!(report[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{key}: {report}");
    }
    assert_eq!(report["backend"], "cpu");
    assert_eq!(report["particles"], 300);
    assert!(report["adapter"].as_str().is_some_and(|a| a.contains("cpu")));
    let bad = nde(&[
        "sample",
        "--target",
        "gmm8",
        "--process",
        "vp",
        "--model",
        "exact",
        "--sampler",
        "ddim",
        "--backend",
        "tpu",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("choose cpu or gpu"));
    let odd_path = nde(&["bench", "--particles", "10", "--gpu-path", "fastest"]);
    assert_eq!(odd_path.status.code(), Some(2));
    let message = String::from_utf8_lossy(&odd_path.stderr);
    assert!(message.contains("--gpu-path") && message.contains("choose auto, op-major or interpreter"), "{message}");
}

/// VE's prior N(0, sigma_max^2 I) ignores the mean of an off-centre mixture: the likelihood
/// is biased by a few millinats, and `--exact-prior` removes it (docs/RESULTS.md).
#[test]
fn the_exact_prior_removes_the_ve_likelihood_bias() {
    let target = format!("gmm:{}/bench/targets/asym3.json", env!("CARGO_MANIFEST_DIR"));
    let base = ["likelihood", "--target", target.as_str(), "--process", "ve", "--model", "exact", "--points", "2000"];
    let bias = |extra: &[&str]| {
        let run = json_of(&[&base[..], extra, &["--json"]].concat());
        run["nll"].as_f64().unwrap() - run["nll_exact"].as_f64().unwrap()
    };
    let (plain, exact) = (bias(&[]), bias(&["--exact-prior"]));
    assert!(plain > 0.002, "the prior's bias should show: {plain}");
    assert!(exact.abs() < 5e-4, "exact prior: {exact} nats (plain {plain})");
    // Only an exact mixture model has a known p_T.
    let out = nde(&["likelihood", "--target", "moons", "--process", "ve", "--model", "exact", "--exact-prior"]);
    assert_eq!(out.status.code(), Some(2));
}
