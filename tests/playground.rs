//! The page's model driven natively, as the page drives it: open, train, diverge, upload,
//! share, sample, seed, export and import.

// Native only: the page itself is tested in the browser by the e2e layer.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Instant;

use nde_playground::core::data::ToyDataset;
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::sample::registry;
use nde_playground::playground::diffusion::comparison::Executor;
use nde_playground::playground::diffusion::engine::Engine;
use nde_playground::playground::diffusion::settings::{DataChoice, Settings, Start};

fn clock() -> impl Fn() -> f64 {
    let start = Instant::now();
    move || start.elapsed().as_secs_f64() * 1000.0
}

/// Ticks until nothing is left to do (or `limit` ticks).
fn settle(engine: &mut Engine, limit: usize) {
    let clock = clock();
    for _ in 0..limit {
        engine.tick(15.0, &clock);
        if engine.progress().is_none() && !engine.playing {
            engine.tick(15.0, &clock);
            return;
        }
    }
    panic!("the engine did not settle in {limit} ticks: {:?}", engine.progress());
}

#[test]
fn the_page_opens_ready_with_the_shipped_model() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    assert!(engine.default_model_fits());
    settle(&mut engine, 5000);
    assert!(engine.status.errors.is_empty(), "{:?}", engine.status.errors);
    assert_eq!(engine.panels.len(), 2);
    for panel in &engine.panels {
        let run = panel.run.as_ref().expect("the samplers run on load");
        let q = run.quality.expect("and finish");
        assert!(q.swd < 0.25, "{}: SWD {} with the shipped model", panel.settings.sampler.name, q.swd);
        assert_eq!(run.positions.len(), Settings::default().particles);
    }
    assert_eq!(engine.sweep.len(), 2 * 5);
    assert!(engine.sweep.iter().all(|s| s.run.quality.is_some()));
    let field = engine.field.as_ref().expect("the field view is on by default");
    // The shipped model's score is close to the exact one where the data is.
    assert!(field.weighted_error.unwrap() < 0.3, "{:?}", field.weighted_error);
}

#[test]
fn a_shared_link_replays_the_same_training() {
    let settings = Settings {
        start: Start::Fresh,
        dataset: DataChoice::Toy(ToyDataset::Moons),
        noise: 0.05,
        width: 16,
        depth: 2,
        ..Settings::default()
    };
    let mut original = Engine::new(settings, vec![]);
    for _ in 0..40 {
        original.step_once();
    }
    assert_eq!(original.session.steps(), 40);
    let link = original.link_settings().to_query();
    assert!(link.contains("steps=40") && link.contains("start=fresh"), "{link}");
    let (settings, problems) = Settings::from_query(&link);
    assert!(problems.is_empty(), "{problems:?}");
    let mut reloaded = Engine::new(settings, problems);
    settle(&mut reloaded, 5000);
    assert_eq!(reloaded.session.steps(), 40);
    assert_eq!(reloaded.session.trainer.mlp.params, original.session.trainer.mlp.params);
    assert_eq!(reloaded.link_settings(), original.link_settings());
}

#[test]
fn after_a_divergence_and_rate_changes_a_link_rebuilds_the_weights_bit_for_bit() {
    let settings = Settings {
        start: Start::Fresh,
        dataset: DataChoice::Toy(ToyDataset::Moons),
        width: 16,
        depth: 2,
        ..Settings::default()
    };
    let mut original = Engine::new(settings, vec![]);
    for _ in 0..60 {
        original.step_once();
    }
    // A rate of 10 diverges; the session rolls back and pauses.
    original.set_learning_rate("10").unwrap();
    let rolled_back = (0..200).any(|_| {
        original.step_once();
        original.status.errors.iter().any(|e| e.contains("Rolled back"))
    });
    assert!(rolled_back, "{:?}", original.status.errors);
    // A sane rate and another batch, mid-run.
    original.set_learning_rate("0.001").unwrap();
    original.set_batch("96").unwrap();
    for _ in 0..30 {
        original.step_once();
    }
    let link = original.link_settings().to_query();
    assert!(link.contains("changes=0:0.002:128,"), "{link}");
    let (settings, problems) = Settings::from_query(&link);
    assert!(problems.is_empty(), "{problems:?}");
    let mut reloaded = Engine::new(settings, problems);
    settle(&mut reloaded, 5000);
    assert_eq!(reloaded.session.steps(), original.session.steps());
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&reloaded.session.trainer.mlp.params), bits(&original.session.trainer.mlp.params));
    assert_eq!(bits(&reloaded.session.trainer.ema.params), bits(&original.session.trainer.ema.params));
    assert_eq!((reloaded.settings.learning_rate, reloaded.settings.batch), (0.001, 96));
    assert_eq!(reloaded.link_settings(), original.link_settings());
}

#[test]
fn a_link_that_would_replay_for_long_waits_for_the_visitor() {
    // Width 256, depth 6 and a million steps: hours of replay in a browser at batch 8, over a
    // day at the largest batch the page allows this network (98; the link asked for 4096).
    let huge = Settings::from_query("width=256&depth=6&batch=4096&steps=1000000").0;
    assert!(Engine::replay_seconds(&huge) > 86_400.0);
    let link = "width=256&depth=6&batch=8&start=fresh&steps=1000000";
    let (settings, problems) = Settings::from_query(link);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(Engine::replay_seconds(&settings) > 3600.0);
    let mut engine = Engine::new(settings, problems);
    assert_eq!(engine.replay_pending, Some(1_000_000));
    assert!(
        engine.status.notices.iter().any(|e| e.contains("press Replay") && e.contains(" h")),
        "{:?}",
        engine.status.notices
    );
    // It opens at once with the settings (no replay in the first frames), and the link still
    // records the steps, so passing it on loses nothing.
    let clock = clock();
    for _ in 0..3 {
        engine.tick(8.0, &clock);
    }
    assert_eq!(engine.session.steps(), 0);
    assert!(engine.link_settings().to_query().contains("steps=1000000"));
    assert_eq!(engine.settings.width, 256);
    // The visitor starts it: the progress row says so.
    assert!(engine.panels.iter().any(|p| p.run.is_some()), "the starting weights are sampled at once");
    engine.start_replay();
    assert_eq!(engine.replay_pending, None);
    assert!(engine.panels.iter().all(|p| p.run.is_none()), "their runs are cleared until the replay's");
    engine.tick(8.0, &clock);
    assert!(engine.progress().is_some_and(|(label, _)| label.contains("replaying 1000000")));
    // A short replay (the shared-link test above) still runs by itself.
    let (small, _) = Settings::from_query("width=16&depth=1&batch=32&start=fresh&steps=40");
    assert!(Engine::replay_seconds(&small) < 1.0);
    assert_eq!(Engine::new(small, vec![]).replay_pending, None);
}

#[test]
fn a_bad_link_opens_the_defaults_with_a_message_never_a_panic() {
    for link in ["width=8", "width=99999999999999999999999", "depth=0&width=4", "data=custom&pts=1e200_0~0_0"] {
        let (settings, problems) = Settings::from_query(link);
        assert!(!problems.is_empty(), "{link}");
        let engine = Engine::new(settings, problems);
        assert_eq!(engine.settings.width, Settings::default().width, "{link}");
        assert!(!engine.status.errors.is_empty(), "{link}");
    }
}

#[test]
fn uploads_far_out_or_too_large_are_refused_and_the_data_kept() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    let before = engine.data.clone();
    let e = engine.load_csv("far.csv", "x,y\n0,0\n1e200,1\n").unwrap_err();
    assert!(e.contains("far.csv") && e.contains("row 2"), "{e}");
    let big: String = (0..20_001).map(|i| format!("{},{}\n", i % 7, i % 5)).collect();
    let e = engine.load_csv("big.csv", &big).unwrap_err();
    assert!(e.contains("big.csv") && e.contains("20000"), "{e}");
    assert_eq!(engine.data, before);
    // Full precision survives the link.
    engine.load_csv("fine.csv", "x,y\n0.123456789,1.5\n-2.000001,0.333333333333\n").unwrap();
    let (back, problems) = Settings::from_query(&engine.link_settings().to_query());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(back.custom_points, vec![[0.123456789, 1.5], [-2.000001, 0.333333333333]]);
    assert_eq!(engine.data_csv(), "x,y\n0.123456789,1.5\n-2.000001,0.333333333333\n");
}

#[test]
fn a_diverging_run_pauses_and_rolls_back() {
    let mut engine = Engine::new(Settings { start: Start::Fresh, width: 16, depth: 2, ..Settings::default() }, vec![]);
    engine.set_learning_rate("0.003").unwrap();
    engine.toggle_training();
    let clock = clock();
    for _ in 0..30 {
        engine.tick(5.0, &clock);
    }
    assert!(engine.session.steps() > 30);
    engine.set_learning_rate("10").unwrap();
    for _ in 0..2000 {
        engine.tick(5.0, &clock);
        if !engine.playing {
            break;
        }
    }
    assert!(!engine.playing, "training at lr 10 was never stopped");
    let message = engine.status.errors.last().expect("a message says why");
    assert!(message.contains("diverged") && message.contains("Rolled back"), "{message}");
    assert!(engine.session.trainer.mlp.params.iter().all(|p| p.is_finite()));
    assert!(engine.set_learning_rate("abc").unwrap_err().contains("not a number"));
    assert!(engine.set_learning_rate("100").unwrap_err().contains("must be between"));
}

#[test]
fn a_bad_csv_names_the_line_and_changes_nothing() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    let before = engine.data.clone();
    let error = engine.load_csv("bad.csv", "x,y\n1,2\n3,oops\n").unwrap_err();
    assert!(error.contains("bad.csv") && error.contains("line 3") && error.contains("oops"), "{error}");
    assert_eq!(engine.data, before);
    assert_eq!(engine.settings.dataset, Settings::default().dataset);
    engine.load_csv("good.csv", "x,y\n1,2\n3,4\n-1,0.5\n").unwrap();
    assert_eq!(engine.settings.dataset, DataChoice::Custom);
    assert_eq!(engine.data, vec![[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]);
    assert_eq!(engine.settings.start, Start::Fresh, "the shipped model was not trained on these points");
    // And the link carries the points.
    let (settings, problems) = Settings::from_query(&engine.link_settings().to_query());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(settings.custom_points, engine.data);
}

#[test]
fn drawing_makes_a_custom_set() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    engine.draw_point([1.0, 1.0]);
    engine.draw_point([-1.0, 2.0]);
    assert_eq!(engine.settings.dataset, DataChoice::Custom);
    assert_eq!(engine.data.len(), 2);
}

#[test]
fn clicking_seeds_a_particle_in_every_panel() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    settle(&mut engine, 5000);
    engine.seed_at([3.5, 0.5]);
    for panel in &engine.panels {
        let path = panel.seeded.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(path[0], [3.5, 0.5]);
        assert!(path.len() > 10, "{}", path.len());
    }
}

#[test]
fn weights_export_and_import_round_trip_and_bad_files_are_refused() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    let json = engine.weights_json();
    let mut other = Engine::new(Settings { start: Start::Fresh, width: 16, depth: 1, ..Settings::default() }, vec![]);
    other.import_weights("w.json", &json).unwrap();
    assert_eq!(other.session.trainer.mlp.params, engine.session.trainer.mlp.params);
    assert_eq!((other.settings.width, other.settings.depth), (64, 3));
    let before = other.session.trainer.mlp.params.clone();
    assert!(other.import_weights("x.json", "{\"format\": 1}").unwrap_err().contains("x.json"));
    assert!(other.import_weights("y.json", &json.replacen("\"vp\"", "\"mr\"", 1)).is_err());
    assert_eq!(other.session.trainer.mlp.params, before);
    let csv = {
        settle(&mut engine, 5000);
        engine.samples_csv(0).unwrap()
    };
    assert_eq!(csv.lines().count(), 1 + Settings::default().particles);
}

#[test]
fn model_changes_keep_only_panels_that_still_run() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    engine.add_panel().unwrap();
    engine.set_panel_sampler(2, registry::find("edm-heun").unwrap()).unwrap();
    engine.set_process(Process::RectifiedFlow).unwrap();
    assert_eq!(engine.settings.param, Parameterisation::Flow);
    let left: Vec<&str> = engine.panels.iter().map(|p| p.settings.sampler.name).collect();
    assert_eq!(left, ["em", "dpmpp-2m"], "edm-heun's sigma~ form needs a diffusion; em and dpmpp-2m run a flow");
    assert!(engine.status.notices.iter().any(|n| n.contains("removed 1 panel")), "{:?}", engine.status.notices);
    let refusal = engine.set_panel_sampler(0, registry::find("edm-heun").unwrap()).unwrap_err();
    assert!(refusal.contains("diffusions"), "{refusal}");
    assert!(!engine.default_model_fits());
    assert!(engine.set_width("100000").is_err());
    assert!(engine.add_panel().is_ok());
    assert!(engine.set_panel_nfe(0, "0").unwrap_err().contains("must be between"));
}

#[test]
fn runs_handed_to_another_executor_come_back_into_the_panels() {
    use nde_playground::exec::cpu::run_plan;
    let mut cpu = Engine::new(Settings::default(), vec![]);
    settle(&mut cpu, 5000);
    let mut handed = Engine::new(Settings::default(), vec![]);
    handed.gpu = true;
    handed.tick(15.0, &clock()); // the load's run starts
    let jobs = handed.take_jobs(Executor::Gpu);
    assert_eq!(jobs.len(), 2 + 2 * 5, "two panels and their sweeps");
    assert!(handed.take_jobs(Executor::Gpu).is_empty(), "a job is handed out once");
    for (k, job) in jobs.into_iter().enumerate() {
        let mut model = nde_playground::core::sample::model::MlpModel::new(
            match &job.model {
                nde_playground::core::sample::model::ModelData::Mlp { mlp, .. } => mlp.clone(),
                _ => unreachable!(),
            },
            handed.session.param,
        );
        // The first job fails: its run must fall back to the CPU.
        let result = if k == 0 {
            Err("device lost".to_string())
        } else {
            run_plan(&job.plan, &mut model, &job.options).map_err(|e| e.to_string())
        };
        handed.finish_job(job.id, result, 1.0);
    }
    assert!(
        handed.status.errors.iter().any(|e| e.contains("device lost") && e.contains("CPU instead")),
        "{:?}",
        handed.status.errors
    );
    settle(&mut handed, 5000);
    // Sliced and whole runs batch the network differently (its tiled pass rounds a little
    // differently from the scalar one), so they agree to rounding, not bit for bit.
    let worst = |a: &[[f32; 2]], b: &[[f32; 2]]| {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())).fold(0.0f32, f32::max)
    };
    for (a, b) in cpu.panels.iter().zip(&handed.panels) {
        let (a, b) = (a.run.as_ref().unwrap(), b.run.as_ref().unwrap());
        assert!(worst(&a.positions, &b.positions) < 1e-4, "{}", a.plan.sampler);
        assert_eq!(a.frames.len(), b.frames.len());
        assert!(worst(&a.frames[a.frames.len() / 2], &b.frames[b.frames.len() / 2]) < 1e-4);
        assert!((a.quality.unwrap().swd - b.quality.unwrap().swd).abs() < 1e-4);
    }
}

/// Panels at GPU scale: up to 10^5 particles per panel where the GPU runs them, which keeps
/// them there and reads back the first `GPU_READ_BACK` for the metrics; the CPU runs at most
/// `PAGE_CPU_PARTICLES` and says so, and the GPU's arrival reruns the capped panels in full.
#[test]
fn panels_at_gpu_scale_keep_their_particles_on_the_gpu() {
    use nde_playground::core::limits::PAGE_CPU_PARTICLES;
    use nde_playground::core::sample::model::{MlpModel, ModelData};
    use nde_playground::exec::cpu::{run_plan, RunOptions};
    use nde_playground::playground::diffusion::comparison::GPU_READ_BACK;

    let mut cpu = Engine::new(Settings::default(), vec![]);
    assert!(cpu.set_particles("100001").unwrap_err().contains("must be between"));
    cpu.set_particles("20000").unwrap();
    cpu.tick(15.0, &clock());
    for panel in &cpu.panels {
        assert_eq!(panel.run.as_ref().unwrap().particles, PAGE_CPU_PARTICLES);
    }
    assert!(
        cpu.status.notices.iter().any(|n| n.contains("20000 particles per panel need a GPU that draws them")),
        "{:?}",
        cpu.status.notices
    );
    cpu.run_samplers();
    assert_eq!(cpu.status.notices.iter().filter(|n| n.contains("need a GPU")).count(), 1, "said once");
    cpu.use_gpu(true);
    for panel in &cpu.panels {
        let run = panel.run.as_ref().unwrap();
        assert_eq!(
            (run.particles, run.executor, run.resident),
            (20000, Executor::Gpu, true),
            "rerun in full on the GPU"
        );
    }

    // A GPU that does not draw in place (a software adapter): its runs come back whole, at
    // most the CPU's share of particles.
    let mut plain = Engine::new(Settings::default(), vec![]);
    plain.set_particles("20000").unwrap();
    plain.use_gpu(false);
    plain.tick(15.0, &clock());
    let jobs = plain.take_jobs(Executor::Gpu);
    assert!(!jobs.is_empty() && jobs.iter().all(|j| !j.resident && j.options.particles <= PAGE_CPU_PARTICLES));

    let mut gpu = Engine::new(Settings::default(), vec![]);
    gpu.gpu = true;
    gpu.gpu_canvas = true;
    gpu.set_particles("12000").unwrap();
    gpu.tick(15.0, &clock());
    let jobs = gpu.take_jobs(Executor::Gpu);
    let (panels, sweep): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| j.resident);
    assert_eq!((panels.len(), sweep.len()), (2, 2 * 5), "the panels stay on the GPU, the sweep's points come back");
    for job in panels.iter().chain(&sweep) {
        let ModelData::Mlp { mlp, .. } = &job.model else { unreachable!() };
        let mut model = MlpModel::new(mlp.clone(), gpu.session.param);
        // The GPU's sample is the whole run's first particles (each draws by its index), which
        // the CPU computes alone here.
        let read = if job.resident { GPU_READ_BACK.min(job.options.particles) } else { job.options.particles };
        assert_eq!(job.options.traced.len(), if job.resident { 12000 } else { 0 });
        let options = RunOptions {
            particles: read,
            traced: job.options.traced.iter().copied().take(read).collect(),
            ..job.options.clone()
        };
        let result = run_plan(&job.plan, &mut model, &options).map_err(|e| e.to_string());
        gpu.finish_job(job.id, result, 1.0);
    }
    settle(&mut gpu, 5000);
    assert!(gpu.status.errors.is_empty(), "{:?}", gpu.status.errors);
    for panel in &gpu.panels {
        let run = panel.run.as_ref().unwrap();
        assert!(run.resident && run.is_done() && run.quality.is_some());
        assert_eq!((run.particles, run.positions.len()), (12000, GPU_READ_BACK));
        assert!(run.frames.iter().all(|f| f.len() == GPU_READ_BACK));
        assert_eq!(run.trajectories(1.0).len(), 12);
    }
    // A result of the wrong size is refused and the run falls back to the CPU, capped.
    let mut wrong = Engine::new(Settings::default(), vec![]);
    wrong.gpu = true;
    wrong.gpu_canvas = true;
    wrong.set_particles("30000").unwrap();
    wrong.tick(15.0, &clock());
    let job = wrong.take_jobs(Executor::Gpu).into_iter().find(|j| j.resident).unwrap();
    let short =
        nde_playground::exec::cpu::RunResult { positions: vec![[0.0; 2]; 3], frames: vec![], nfe: 1.0, values: vec![] };
    wrong.finish_job(job.id, Ok(short), 1.0);
    assert!(wrong.status.errors.iter().any(|e| e.contains("3 particles came back")), "{:?}", wrong.status.errors);
    let fallen = wrong.panels.iter().filter_map(|p| p.run.as_ref()).find(|r| r.executor == Executor::Page).unwrap();
    assert_eq!((fallen.particles, fallen.resident), (PAGE_CPU_PARTICLES, false));
    let clock = clock();
    let fallen_done = |e: &Engine| {
        e.panels
            .iter()
            .filter_map(|p| p.run.as_ref())
            .find(|r| r.executor == Executor::Page)
            .map(|r| (r.is_done(), r.positions.len()))
    };
    for _ in 0..20_000 {
        if fallen_done(&wrong).is_some_and(|d| d.0) {
            break;
        }
        wrong.tick(15.0, &clock);
    }
    assert_eq!(fallen_done(&wrong), Some((true, PAGE_CPU_PARTICLES)), "the CPU finishes its share");
}

/// The page's Web Workers path without the browser: the engine hands its runs out for the
/// workers, each is split into parts that go through the workers' messages (JSON headers,
/// raw floats) and joined back; the panels end as the page thread's do, and say who ran them.
#[test]
fn runs_split_across_workers_come_back_into_the_panels() {
    use nde_playground::exec::split_run::{decode_result, encode_result, join, run_part, split, PartRequest};
    let mut cpu = Engine::new(Settings::default(), vec![]);
    settle(&mut cpu, 5000);
    let mut page = Engine::new(Settings::default(), vec![]);
    page.workers = 3;
    page.tick(15.0, &clock());
    assert!(page.take_jobs(Executor::Gpu).is_empty(), "no GPU job without a GPU");
    let stale = page.take_jobs(Executor::Workers);
    assert!(stale.iter().all(|j| page.waiting_jobs().contains(&j.id)));
    // A new run replaces them: the old jobs are no longer wanted (the pool drops their parts).
    page.run_samplers();
    assert!(stale.iter().all(|j| !page.waiting_jobs().contains(&j.id)), "replaced runs are not waited for");
    let jobs = page.take_jobs(Executor::Workers);
    assert_eq!(jobs.len(), 2 + 2 * 5, "two panels and their sweeps");
    assert!(jobs.iter().all(|j| page.waiting_jobs().contains(&j.id)));
    // A replaced run's late result changes nothing.
    page.finish_job(stale[0].id, Err("thrown away".into()), 1.0);
    assert!(page.status.errors.is_empty(), "{:?}", page.status.errors);
    for job in jobs {
        let (requests, params) = split(job.id, &job.plan, &job.model, &job.options, page.workers).expect("a network");
        let results: Vec<_> = requests
            .iter()
            .map(|r| {
                let r: PartRequest = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
                let (shape, words) = encode_result(&run_part(&r, params.clone()).expect("a part runs"));
                decode_result(&shape, &words).expect("the floats fit")
            })
            .collect();
        page.finish_job(job.id, join(&job.options, &requests, &results), 1.0);
    }
    settle(&mut page, 5000);
    assert!(page.status.errors.is_empty(), "{:?}", page.status.errors);
    for (a, b) in cpu.panels.iter().zip(&page.panels) {
        let (a, b) = (a.run.as_ref().unwrap(), b.run.as_ref().unwrap());
        assert_eq!(b.executor, Executor::Workers);
        assert_eq!(a.executor, Executor::Page);
        assert_eq!(a.frames.len(), b.frames.len());
        let worst = a.positions.iter().zip(&b.positions).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs()));
        assert!(worst.fold(0.0f32, f32::max) < 1e-4, "{}", a.plan.sampler);
        assert!((a.quality.unwrap().swd - b.quality.unwrap().swd).abs() < 1e-4);
    }
}

#[test]
fn the_scrubber_plays_through_the_steps_and_stops_at_the_end() {
    let mut engine = Engine::new(Settings::default(), vec![]);
    settle(&mut engine, 5000);
    assert_eq!(engine.settings.scrub, 1.0);
    engine.toggle_scrub_play();
    assert_eq!(engine.settings.scrub, 0.0, "play from the end starts over");
    let now = std::cell::Cell::new(0.0);
    let clock = || now.get();
    engine.tick(5.0, &clock);
    now.set(1000.0);
    engine.tick(5.0, &clock);
    let quarter = engine.settings.scrub;
    assert!(
        (quarter - 1000.0 / nde_playground::playground::diffusion::engine::SCRUB_ANIMATION_MS).abs() < 1e-9,
        "{quarter}"
    );
    now.set(1e6);
    engine.tick(5.0, &clock);
    assert_eq!(engine.settings.scrub, 1.0);
    assert!(!engine.scrub_playing);
}

/// The page speaks of its controls, never of `nde`'s flags: every message a visitor's bad
/// input or a refused choice leads to is free of "--".
#[test]
fn messages_on_the_page_name_no_command_line_flags() {
    let (settings, problems) = Settings::from_query(
        "width=8&n=1e999&lr=NaN&samplers=edm-heun:0,mala:10,mrs-ode:5,nosuch:3&process=rf&param=eps&changes=5:1:1&overlay=x",
    );
    let mut engine = Engine::new(settings, problems);
    let refusals = [
        engine.set_width("8").unwrap_err(),
        engine.set_batch("100000").unwrap_err(),
        engine.set_learning_rate("-1").unwrap_err(),
        engine.set_panel_nfe(0, "0").unwrap_err(),
        engine.set_particles("1").unwrap_err(),
        engine.load_csv("a.csv", "x,y\n1,oops\n").unwrap_err(),
        engine.import_weights("w.json", "{}").unwrap_err(),
    ];
    engine.set_process(Process::RectifiedFlow).unwrap();
    let edm = engine.set_panel_sampler(0, registry::find("edm-heun").unwrap()).unwrap_err();
    let mala = engine.set_panel_sampler(0, registry::find("mala").unwrap()).unwrap_err();
    let all: Vec<&String> =
        refusals.iter().chain([&edm, &mala]).chain(&engine.status.errors).chain(&engine.status.notices).collect();
    assert!(all.len() > 12, "{all:?}");
    for message in all {
        assert!(!message.contains("--"), "a command-line flag on the page: {message}");
    }
}

/// A link whose replay waits for the visitor, given up by training on: the rates shown are
/// the ones the weights train at from the start, and the link then records what happens next.
#[test]
fn giving_up_a_pending_replay_trains_at_the_starting_rates() {
    let query = "width=256&depth=6&batch=8&lr=0.0005&steps=1000000&start=fresh&changes=0:0.003:8,500:0.0005:8";
    let (settings, problems) = Settings::from_query(query);
    assert!(problems.is_empty(), "{problems:?}");
    let mut engine = Engine::new(settings, problems);
    assert_eq!(engine.replay_pending, Some(1_000_000));
    engine.step_once();
    assert_eq!(engine.replay_pending, None);
    assert_eq!(engine.session.steps(), 1);
    assert_eq!((engine.settings.learning_rate, engine.session.trainer.config.learning_rate), (0.003, 0.003));
    let link = engine.link_settings();
    assert_eq!(link.train_steps, 1);
    assert!(link.rate_changes.iter().all(|c| c.step <= 1), "{:?}", link.rate_changes);
}

/// The GPU precision setting: f16 is refused (with the reason, the setting kept) until the
/// page offers it, then the GPU's jobs take it where their plan is op-major, and f32 where the
/// interpreter runs it (an adaptive solver); the link carries it.
#[test]
fn f16_is_offered_only_where_the_page_checked_it_and_only_to_op_major_plans() {
    use nde_playground::exec::gpu::op_major::{runs_op_major, Precision};
    use nde_playground::playground::diffusion::settings::PanelSettings;
    let settings = Settings {
        panels: vec![PanelSettings::named("ddim", 10), PanelSettings::named("pf-dopri5", 10)],
        ..Settings::default()
    };
    let mut page = Engine::new(settings, vec![]);
    page.use_gpu(false);
    let refused = page.set_gpu_precision("f16").unwrap_err();
    assert!(refused.contains("shader-f16"), "{refused}");
    assert_eq!(page.settings.gpu_precision, Precision::F32, "a refusal changes nothing");
    assert!(page.set_gpu_precision("f8").unwrap_err().contains("choose f32 or f16"));
    page.offer_f16();
    page.set_gpu_precision("f16").unwrap();
    assert!(page.settings.to_query().contains("precision=f16"));
    page.run_samplers();
    page.tick(15.0, &clock());
    let jobs = page.take_jobs(Executor::Gpu);
    assert!(!jobs.is_empty());
    let (mut f16, mut f32) = (0, 0);
    for job in &jobs {
        let op_major = runs_op_major(&job.plan, &job.model);
        assert_eq!(job.precision, if op_major { Precision::F16 } else { Precision::F32 }, "{}", job.plan.sampler);
        if op_major {
            f16 += 1;
        } else {
            f32 += 1;
        }
    }
    assert!(f16 > 0 && f32 > 0, "{f16} f16 jobs, {f32} f32 jobs");
}

/// A link's batch above the CPU's per-frame bound is lowered when the link is read, and comes
/// back when training moves to the GPU, unless the visitor chose a batch meanwhile.
#[test]
fn a_links_large_batch_comes_back_when_training_moves_to_the_gpu() {
    let query = "width=256&depth=4&batch=4096";
    let (settings, problems) = Settings::from_query(query);
    let most = settings.max_page_batch();
    assert!(most < 4096, "the CPU bound of a 256x4 network: {most}");
    assert_eq!(settings.batch, most);
    assert!(
        problems.iter().any(|p| p.contains("the link's batch 4096 comes back if training moves to the GPU")),
        "{problems:?}"
    );
    assert_eq!(Settings::link_batch(query), Some(4096));
    assert_eq!(Settings::link_batch("batch=99999"), None);
    assert_eq!(Settings::link_batch("batch=lots&width=64"), None);
    assert_eq!(Settings::link_batch("width=64"), None);

    let mut engine = Engine::new(settings.clone(), problems.clone());
    engine.keep_link_batch_for_gpu(4096);
    engine.use_gpu_training();
    assert_eq!(engine.settings.batch, 4096);
    assert_eq!(engine.session.trainer.config.batch, 4096);
    assert!(engine.status.notices.iter().any(|n| n.contains("batch 4096, the link's")), "{:?}", engine.status.notices);

    // The visitor set a batch before the GPU was ready: theirs stays.
    let mut chosen = Engine::new(settings.clone(), problems.clone());
    chosen.keep_link_batch_for_gpu(4096);
    chosen.set_batch("64").unwrap();
    chosen.use_gpu_training();
    assert_eq!(chosen.settings.batch, 64);

    // A batch within the CPU's bound is not kept: nothing was lowered.
    let (small, _) = Settings::from_query("batch=256");
    let mut plain = Engine::new(small, Vec::new());
    plain.keep_link_batch_for_gpu(256);
    plain.use_gpu_training();
    assert_eq!(plain.settings.batch, 256);
}

/// A link that asks for f16 where the page cannot offer it (no GPU, no shader-f16, or a failed
/// check) says so once, and the setting and the link come back to f32, what the runs use.
#[test]
fn a_links_f16_that_the_page_cannot_offer_says_so_and_runs_in_f32() {
    use nde_playground::exec::gpu::op_major::Precision;
    let (settings, problems) = Settings::from_query("precision=f16");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(settings.gpu_precision, Precision::F16);
    let mut engine = Engine::new(settings, problems);
    engine.refuse_f16("this adapter offers no shader-f16");
    assert_eq!(engine.settings.gpu_precision, Precision::F32);
    let said = "link: precision=f16: this adapter offers no shader-f16; samplers run in f32";
    assert_eq!(engine.status.errors.iter().filter(|e| e.contains(said)).count(), 1, "{:?}", engine.status.errors);
    assert!(!engine.link_settings().to_query().contains("precision=f16"));
    // Said once: a second refusal has nothing left to refuse.
    engine.refuse_f16("this adapter offers no shader-f16");
    assert_eq!(engine.status.errors.iter().filter(|e| e.contains(said)).count(), 1);
    // A page that did not ask for f16 has nothing to say.
    let mut plain = Engine::new(Settings::default(), Vec::new());
    plain.refuse_f16("this adapter offers no shader-f16");
    assert!(plain.status.errors.is_empty(), "{:?}", plain.status.errors);
}
