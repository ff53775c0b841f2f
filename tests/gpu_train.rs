//! Test layer (c): training on the GPU, on Vulkan (lavapipe in CI). The MLP's batch gradient
//! (shaders/mlp_gradient.wgsl) against the CPU's batched f32 backward pass
//! (`BatchMlp::backward`), within the CPU trainer's own `GRADIENT_TOLERANCE`, for every
//! activation, widths on and off the workgroup, several depths, and batches that are not a
//! multiple of the chunk; and a batch repeats bit for bit.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::nn::backprop::{Tape, GRADIENT_TOLERANCE};
use nde_playground::core::nn::batch::BatchMlp;
use nde_playground::core::nn::{Activation, Mlp, MlpConfig};
use nde_playground::core::rng::RngStream;
use nde_playground::exec::gpu::mlp_gradient::{mlp_gradient, GradientKernel};

#[test]
fn the_batch_gradient_matches_the_cpu_backward_pass() {
    let Some(ctx) = gpu_or_skip("the_batch_gradient_matches_the_cpu_backward_pass") else { return };
    let kernel = pollster::block_on(GradientKernel::new(&ctx.device)).unwrap();
    let mut rng = RngStream::new(41, 42);
    let mut compared = 0usize;
    for activation in Activation::ALL {
        // Widths, outputs and rows on and off the kernels' 32 x 32 blocks and 4-wide registers;
        // 1030 rows end in a chunk of 6.
        let shapes =
            [(16, 1, 2, 5), (40, 2, 2, 300), (64, 3, 2, 517), (32, 2, 7, 70), (100, 6, 2, 1030), (256, 2, 3, 33)];
        for (width, depth, outputs, rows) in shapes {
            let config = MlpConfig { width, depth, activation, outputs, condition_dim: 2, ..MlpConfig::default() };
            let mlp = Mlp::new(config, 3).unwrap();
            let features: Vec<f32> = (0..rows * config.input_dim()).map(|_| rng.normal() as f32).collect();
            let d_out: Vec<f32> = (0..rows * outputs).map(|_| rng.normal() as f32).collect();
            let batch = BatchMlp::new(&mlp);
            let mut tape = Tape::default();
            let want_out = batch.forward_taped(rows, &features, &mut tape).to_vec();
            let mut want = vec![0.0f32; mlp.params.len()];
            batch.backward(&mut tape, &d_out, &mut want, None);
            let run = || {
                pollster::block_on(mlp_gradient(&ctx.device, &ctx.queue, &kernel, &mlp, rows, &features, &d_out))
                    .unwrap()
            };
            let got = run();
            let what = format!("{activation:?} {width}x{depth}, {outputs} outputs, {rows} rows");
            let out_scale = want_out.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (k, (g, w)) in got.outputs.iter().zip(&want_out).enumerate() {
                assert!((g - w).abs() <= 1e-5 * out_scale, "{what}: output {k}: {g} vs {w}");
            }
            let scale = want.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            assert!(scale > 0.0, "{what}: a zero gradient proves nothing");
            for (k, (g, w)) in got.gradient.iter().zip(&want).enumerate() {
                assert!(
                    f64::from((g - w).abs()) <= GRADIENT_TOLERANCE * f64::from(scale),
                    "{what}: parameter {k}: {g} vs {w} (scale {scale})"
                );
            }
            assert_eq!(got, run(), "{what}: a batch repeats bit for bit");
            compared += got.gradient.len();
        }
    }
    println!("compared {compared} gradient entries");
}

#[test]
fn a_batch_of_the_wrong_shape_is_refused() {
    let Some(ctx) = gpu_or_skip("a_batch_of_the_wrong_shape_is_refused") else { return };
    let kernel = pollster::block_on(GradientKernel::new(&ctx.device)).unwrap();
    let mlp = Mlp::new(MlpConfig::default(), 1).unwrap();
    let inputs = mlp.config.input_dim();
    let e =
        pollster::block_on(mlp_gradient(&ctx.device, &ctx.queue, &kernel, &mlp, 3, &vec![0.0; 3 * inputs], &[0.0; 5]))
            .unwrap_err();
    assert!(e.to_string().contains("output gradients"), "{e}");
}

mod trainer {
    use super::*;
    use nde_playground::core::data::GaussianMixture;
    use nde_playground::core::process::Process;
    use nde_playground::core::train::{Objective, Parameterisation, TrainConfig, TrainError, Trainer, Weighting};
    use nde_playground::exec::gpu::trainer::{train_in_slot, GpuTrainError, GpuTrainState, GpuTrainer, TrainKernels};

    fn trainer(process: Process, objective: Objective, batch: usize) -> Trainer {
        let conditional = process.is_conditional();
        let config =
            MlpConfig { width: 32, depth: 2, condition_dim: if conditional { 2 } else { 0 }, ..MlpConfig::default() };
        let data = GaussianMixture::eight_gaussians().sample(2000, 7);
        let conditions = conditional.then(|| data.iter().map(|p| [p[0] * 0.5, p[1] * 0.5]).collect());
        let train = TrainConfig { batch, learning_rate: 3e-3, ema_decay: 0.99, seed: 11 };
        Trainer::new(Mlp::new(config, 5).unwrap(), process, objective, data, conditions, train).unwrap()
    }

    /// Every process and objective: the rows the GPU draws (shaders/train_rows.wgsl) are the
    /// host's (`Trainer::regression_row`, f64 rounded to f32) within `ROW_TOLERANCE` of each
    /// number's size (at least 1): the same data point, time, noise, features and record.
    #[test]
    fn the_gpu_draws_the_cpu_trainers_rows() {
        use nde_playground::exec::gpu::train_rows::{execute_draw_rows, largest_row_gap, ROW_TOLERANCE};
        let Some(ctx) = gpu_or_skip("the_gpu_draws_the_cpu_trainers_rows") else { return };
        let dsm = |param, weighting| Objective::Dsm { param, weighting };
        let mut cases = vec![(Process::RectifiedFlow, Objective::FlowMatching)];
        for process in [Process::vp(), Process::sub_vp(), Process::ve(), Process::cosine(), Process::mean_reverting()] {
            for param in Parameterisation::ALL {
                for weighting in [Weighting::Default, Weighting::Likelihood] {
                    cases.push((process, dsm(param, weighting)));
                }
            }
        }
        let (rows, step) = (301, 7);
        let mut worst = (0.0f64, String::new());
        for (process, objective) in cases {
            let cpu = trainer(process, objective, rows);
            let config = cpu.mlp.config;
            let (features, records) =
                pollster::block_on(execute_draw_rows(&ctx.device, &ctx.queue, &cpu.draw_recipe(), &config, rows, step))
                    .unwrap();
            let (gap, at) = largest_row_gap(&cpu, step, &features, &records);
            let what = format!("{} {objective:?}, {at}", process.name());
            assert!(gap <= ROW_TOLERANCE, "{what}: {gap:.2e}");
            if gap > worst.0 {
                worst = (gap, what);
            }
        }
        println!("largest gap between the GPU's and the host's rows: {:.2e} ({})", worst.0, worst.1);
    }

    /// The first step's loss and gradient on the GPU against the per-sample f64 definition
    /// (`Trainer::reference_gradient`), for every objective kind: the same minibatch, drawn
    /// from the same counters.
    #[test]
    fn a_gpu_step_has_the_cpu_trainers_loss_and_gradient() {
        let Some(ctx) = gpu_or_skip("a_gpu_step_has_the_cpu_trainers_loss_and_gradient") else { return };
        let dsm = |param, weighting| Objective::Dsm { param, weighting };
        let cases = [
            (Process::vp(), dsm(Parameterisation::Eps, Weighting::Default)),
            (Process::vp(), dsm(Parameterisation::V, Weighting::Likelihood)),
            (Process::cosine(), dsm(Parameterisation::X0, Weighting::Default)),
            (Process::ve(), dsm(Parameterisation::Score, Weighting::Default)),
            (Process::RectifiedFlow, Objective::FlowMatching),
            (Process::mean_reverting(), dsm(Parameterisation::Eps, Weighting::Default)),
        ];
        for (process, objective) in cases {
            let cpu = trainer(process, objective, 300);
            let (loss, want) = cpu.reference_gradient();
            let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
            let got_loss = pollster::block_on(gpu.step(&cpu)).unwrap();
            let got = pollster::block_on(gpu.gradient()).unwrap();
            let what = format!("{} {objective:?}", process.name());
            assert!((got_loss - loss).abs() <= 1e-5 * (1.0 + loss.abs()), "{what}: loss {got_loss} vs {loss}");
            let scale = want.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*g) - w).abs() <= GRADIENT_TOLERANCE * scale,
                    "{what}: parameter {k}: {g} vs {w} (scale {scale})"
                );
            }
            assert_eq!(gpu.steps(), 1);
        }
    }

    /// 100 steps on each side from the same weights and draws: the weights stay together.
    /// Both train in f32 with sums in different orders, so they part by rounding, which Adam's
    /// normalised steps carry forward. Measured on lavapipe: 2.4e-7 of the largest weight (EMA
    /// 2.8e-7), losses 7e-7 apart; the bounds leave 40x.
    #[test]
    fn a_hundred_gpu_steps_follow_the_cpu_trainer() {
        let Some(ctx) = gpu_or_skip("a_hundred_gpu_steps_follow_the_cpu_trainer") else { return };
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let mut cpu = trainer(Process::vp(), objective, 256);
        let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let (mut cpu_losses, mut gpu_losses) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            gpu_losses.push(pollster::block_on(gpu.step(&cpu)).unwrap());
            cpu_losses.push(cpu.step().unwrap());
        }
        let (weights, ema) = pollster::block_on(gpu.weights()).unwrap();
        let drift = |a: &[f32], b: &[f32]| {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max) / scale
        };
        let (w, e) = (drift(&weights, &cpu.mlp.params), drift(&ema, &cpu.ema.params));
        let loss_gap = cpu_losses.iter().zip(&gpu_losses).map(|(a, b)| (a - b).abs() / a.abs()).fold(0.0, f64::max);
        println!("after 100 steps: weights differ by {w:.2e}, EMA by {e:.2e} of the largest weight; losses by {loss_gap:.2e}");
        assert!(w < 1e-5 && e < 1e-5, "weights drifted apart: {w:.2e}, EMA {e:.2e}");
        assert!(loss_gap < 1e-5, "losses differ by {loss_gap:.2e}");
        assert!(cpu_losses[99] < cpu_losses[0], "the loss must fall: {} -> {}", cpu_losses[0], cpu_losses[99]);
    }

    /// A step whose loss is not finite changes nothing and is refused with the CPU's reason.
    #[test]
    fn a_diverged_gpu_step_is_refused_and_changes_nothing() {
        let Some(ctx) = gpu_or_skip("a_diverged_gpu_step_is_refused_and_changes_nothing") else { return };
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let mut cpu = trainer(Process::vp(), objective, 64);
        let last = cpu.mlp.params.len() - 1;
        cpu.mlp.params[last] = f32::NAN; // an output bias: every row's loss is NaN
        let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let before = pollster::block_on(gpu.weights()).unwrap();
        let refused = pollster::block_on(gpu.step(&cpu)).unwrap_err();
        assert_eq!(refused, GpuTrainError::Diverged(TrainError::NonFiniteLoss { step: 1 }));
        assert!(refused.to_string().contains("lower the learning rate"), "{refused}");
        let after = pollster::block_on(gpu.weights()).unwrap();
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same(&before.0, &after.0) && same(&before.1, &after.1), "a refused step changed the weights");
        assert_eq!(gpu.steps(), 0);
    }

    /// A run of steps submitted together with one readback (what the page does) is the same
    /// computation as the steps one at a time: the same losses and weights, bit for bit.
    #[test]
    fn a_run_of_steps_equals_the_steps_one_at_a_time() {
        let Some(ctx) = gpu_or_skip("a_run_of_steps_equals_the_steps_one_at_a_time") else { return };
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let cpu = trainer(Process::vp(), objective, 96);
        let mut one = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let singles: Vec<f64> = (0..25).map(|_| pollster::block_on(one.step(&cpu)).unwrap()).collect();
        let mut many = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let done = pollster::block_on(many.run_steps(&cpu, 25)).unwrap();
        assert_eq!(done.refused, None);
        assert_eq!(done.losses, singles, "a run's losses are the single steps' losses");
        assert_eq!(many.steps(), 25);
        assert_eq!(done.row_losses.len(), 96);
        let (a, b) = (pollster::block_on(one.state()).unwrap(), pollster::block_on(many.state()).unwrap());
        assert_eq!(a, b, "a run ends on the single steps' weights and optimiser state");
    }

    /// The page trains a run at a time and keeps the state on the host between runs: state
    /// read back and installed in the CPU trainer lets either side carry on, and the GPU
    /// trainer takes a CPU trainer's state mid-training (not only fresh optimisers).
    #[test]
    fn training_moves_between_the_cpu_and_the_gpu_mid_run() {
        let Some(ctx) = gpu_or_skip("training_moves_between_the_cpu_and_the_gpu_mid_run") else { return };
        let objective = Objective::Dsm { param: Parameterisation::V, weighting: Weighting::Default };
        let mut reference = trainer(Process::vp(), objective, 128);
        let mut mixed = reference.clone();
        for _ in 0..60 {
            reference.step().unwrap();
        }
        for _ in 0..10 {
            mixed.step().unwrap();
        }
        let kernels = pollster::block_on(TrainKernels::new(&ctx.device)).unwrap();
        let mut slot = None;
        for run in [25, 15] {
            let (done, state) =
                pollster::block_on(train_in_slot(&mut slot, &ctx.device, &ctx.queue, &kernels, &mixed, run)).unwrap();
            assert_eq!(done.losses.len(), run);
            state.install(&mut mixed).unwrap();
        }
        assert_eq!(mixed.adam.steps(), 50);
        assert_eq!(mixed.ema.updates(), 50);
        // A state the GPU already holds is not uploaded again; a changed one is.
        let held = GpuTrainState::of(&mixed);
        assert_eq!(pollster::block_on(slot.as_mut().unwrap().state()).unwrap(), held);
        for _ in 0..10 {
            mixed.step().unwrap();
        }
        let scale = reference.mlp.params.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max) / scale;
        let (w, e) = (gap(&mixed.mlp.params, &reference.mlp.params), gap(&mixed.ema.params, &reference.ema.params));
        println!("60 steps, 40 of them on the GPU: weights {w:.2e}, EMA {e:.2e} of the largest weight from the CPU's");
        assert!(w < 1e-5 && e < 1e-5, "the mixed run parted from the CPU's: {w:.2e}, EMA {e:.2e}");
        // A new batch needs new buffers: the slot rebuilds its trainer.
        mixed.config.batch = 40;
        let (done, _) =
            pollster::block_on(train_in_slot(&mut slot, &ctx.device, &ctx.queue, &kernels, &mixed, 3)).unwrap();
        assert_eq!((done.losses.len(), done.row_losses.len()), (3, 40));
    }

    /// A refused step halts a run: nothing after it is taken, and the weights are those of
    /// the steps before it.
    #[test]
    fn a_refused_step_halts_the_rest_of_a_run() {
        let Some(ctx) = gpu_or_skip("a_refused_step_halts_the_rest_of_a_run") else { return };
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let mut cpu = trainer(Process::vp(), objective, 64);
        // A learning rate this large sends the weights to infinity within a few steps.
        cpu.config.learning_rate = 1e37;
        let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let done = pollster::block_on(gpu.run_steps(&cpu, 30)).unwrap();
        let taken = done.losses.len();
        let refused = done.refused.clone().expect("a learning rate of 1e37 must diverge within 30 steps");
        let (TrainError::NonFiniteLoss { step } | TrainError::NonFiniteGradient { step }) = refused;
        assert_eq!(step, taken as u64 + 1, "the refused step follows the last one taken");
        assert!(done.row_losses.is_empty());
        assert_eq!(gpu.steps(), taken as u64);
        // The same steps one at a time reach the same weights, and refuse the same step.
        let mut one = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        for _ in 0..taken {
            pollster::block_on(one.step(&cpu)).unwrap();
        }
        assert_eq!(pollster::block_on(one.step(&cpu)).unwrap_err(), GpuTrainError::Diverged(refused));
        assert_eq!(pollster::block_on(one.state()).unwrap(), pollster::block_on(gpu.state()).unwrap());
    }

    /// The page's engine training on the GPU a run at a time (what the page's runner does,
    /// driven here natively): the same weights as training on the CPU, the batch bound lifted,
    /// divergence caught and rolled back by the session's rules, late results dropped, and a
    /// failed GPU sending training back to the CPU.
    #[test]
    fn the_page_engine_trains_on_the_gpu_under_the_sessions_rules() {
        use nde_playground::playground::diffusion::engine::{Engine, TrainJob};
        use nde_playground::playground::diffusion::settings::{Settings, Start};
        let Some(ctx) = gpu_or_skip("the_page_engine_trains_on_the_gpu_under_the_sessions_rules") else { return };
        let kernels = pollster::block_on(TrainKernels::new(&ctx.device)).unwrap();
        let mut slot = None;
        let mut run = |job: &TrainJob| {
            pollster::block_on(train_in_slot(&mut slot, &ctx.device, &ctx.queue, &kernels, &job.trainer, job.steps))
                .map_err(|e| e.to_string())
        };
        let settings = Settings { start: Start::Fresh, width: 32, depth: 2, ..Settings::default() };
        let mut cpu = Engine::new(settings.clone(), vec![]);
        let mut gpu = Engine::new(settings, vec![]);
        gpu.use_gpu_training();
        assert!(gpu.take_train_job(0.0).is_none(), "nothing is handed out while training is paused");
        gpu.toggle_training();
        // A page clock: each run takes 1 ms here.
        let mut now = 0.0;
        let mut sizes = Vec::new();
        while gpu.session.steps() < 100 {
            let job = gpu.take_train_job(now).expect("a run while training plays");
            assert!(gpu.take_train_job(now).is_none(), "one run out at a time");
            sizes.push(job.steps);
            let result = run(&job);
            now += 1.0;
            gpu.finish_train_job(job.id, result, now);
        }
        assert_eq!(sizes, [1, 24, 25, 25, 25], "one step until a rate is measured, then runs end at checkpoints");
        for _ in 0..100 {
            cpu.session.step().unwrap();
        }
        assert_eq!(gpu.session.steps(), 100);
        assert!(gpu.status.errors.is_empty(), "{:?}", gpu.status.errors);
        assert!(gpu.session.steps_per_second.is_some());
        let (g, c) = (&gpu.session.trainer, &cpu.session.trainer);
        let scale = c.mlp.params.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let gap = g.mlp.params.iter().zip(&c.mlp.params).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / scale;
        assert!(gap < 1e-5, "100 steps on the GPU are {gap:.2e} from the CPU's");
        let (gh, ch) = (&gpu.session.history, &cpu.session.history);
        assert_eq!(gh.points.len(), ch.points.len());
        assert!((gh.ema.unwrap() - ch.ema.unwrap()).abs() < 1e-4 * ch.ema.unwrap(), "{:?} {:?}", gh.ema, ch.ema);
        assert!(gh.by_time.iter().all(Option::is_some), "the loss-by-time bins fill from each run's last step");

        // The batch bound: the CPU's per-frame budget, lifted where the GPU trains.
        let wide = Settings { start: Start::Fresh, width: 256, depth: 4, ..Settings::default() };
        let (mut cpu_wide, mut gpu_wide) = (Engine::new(wide.clone(), vec![]), Engine::new(wide, vec![]));
        gpu_wide.use_gpu_training();
        let most = cpu_wide.max_batch(&cpu_wide.settings);
        assert!(most < 4096);
        assert!(cpu_wide.set_batch("4096").unwrap_err().contains("more work per training step"));
        gpu_wide.set_batch("4096").unwrap();
        gpu.set_batch("4096").unwrap();
        let job = gpu.take_train_job(now).unwrap();
        assert_eq!((job.trainer.config.batch, job.steps), (4096, 25));
        let result = run(&job);
        // A slow run (2.5 s): the next is sized to about 100 ms of work, one step here.
        now += 2500.0;
        gpu.finish_train_job(job.id, result, now);
        assert_eq!(gpu.session.steps(), 125);

        // A result for a session that changed meanwhile is dropped.
        let job = gpu.take_train_job(now).unwrap();
        assert_eq!(job.steps, 1, "sized to the measured rate");
        gpu.step_once();
        gpu.toggle_training();
        let result = run(&job);
        gpu.finish_train_job(job.id, result, now + 1.0);
        assert_eq!(gpu.session.steps(), 126, "the late run was not taken");

        // A learning rate of 10 diverges: the session rolls back to a checkpoint and pauses.
        gpu.set_learning_rate("10").unwrap();
        for _ in 0..400 {
            let Some(job) = gpu.take_train_job(now) else { break };
            let result = run(&job);
            now += 1.0;
            gpu.finish_train_job(job.id, result, now);
        }
        assert!(!gpu.playing, "training at lr 10 was never stopped");
        let message = gpu.status.errors.last().expect("a message says why");
        assert!(message.contains("Rolled back") && message.contains("training paused"), "{message}");
        assert!(gpu.session.trainer.mlp.params.iter().all(|p| p.is_finite()));
        assert_eq!(gpu.session.steps() % 25, 1, "back at the checkpoint the rate change took (step 126)");

        // A GPU that fails sends training back to the CPU, with a batch that fits a frame there.
        gpu_wide.toggle_training();
        let job = gpu_wide.take_train_job(0.0).unwrap();
        gpu_wide.finish_train_job(job.id, Err("device lost".into()), 1.0);
        assert!(!gpu_wide.gpu_training && gpu_wide.take_train_job(1.0).is_none());
        assert!(gpu_wide.status.errors.iter().any(|e| e.contains("training on the GPU failed (device lost)")));
        assert_eq!(gpu_wide.settings.batch, most);
        assert_eq!(gpu_wide.session.trainer.config.batch, most);
        assert!(gpu_wide.playing, "training goes on, on the CPU");
    }

    /// DLG's noise-level classifier trains on the GPU too (cross-entropy over its levels'
    /// softmax): the first step's loss and gradient against its per-sample f64 definition, and
    /// 50 steps against the CPU's level trainer.
    #[test]
    fn the_level_classifier_trains_on_the_gpu_as_on_the_cpu() {
        use nde_playground::core::train::level_classifier::{LevelClassifier, LevelTrainer};
        let Some(ctx) = gpu_or_skip("the_level_classifier_trains_on_the_gpu_as_on_the_cpu") else { return };
        let process = Process::vp();
        let config = MlpConfig { width: 32, depth: 2, ..MlpConfig::default() };
        let times = vec![0.02, 0.1, 0.3, 0.6, 1.0];
        let classifier = LevelClassifier::new(config, times, &process, 1).unwrap();
        let data = GaussianMixture::eight_gaussians().sample(2000, 6);
        let mut cpu = LevelTrainer::new(classifier, process, data, 200, 3e-3, 2).unwrap();
        let (loss, want) = cpu.reference_gradient();
        let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &cpu)).unwrap();
        let got_loss = pollster::block_on(gpu.step(&cpu)).unwrap();
        let got = pollster::block_on(gpu.gradient()).unwrap();
        assert!((got_loss - loss).abs() <= 1e-5 * (1.0 + loss.abs()), "loss {got_loss} vs {loss}");
        let scale = want.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((f64::from(*g) - w).abs() <= GRADIENT_TOLERANCE * scale, "parameter {k}: {g} vs {w}");
        }
        let first = cpu.step().unwrap();
        let done = pollster::block_on(gpu.run_steps(&cpu, 49)).unwrap();
        let mut last = first;
        for _ in 0..49 {
            last = cpu.step().unwrap();
        }
        assert_eq!(done.refused, None);
        assert!(done.row_losses.is_empty(), "a classifier's rows have no diffusion time");
        assert!((done.losses[48] - last).abs() <= 1e-5 * last, "loss after 50 steps {} vs {last}", done.losses[48]);
        assert!(last < first, "the cross-entropy must fall: {first} -> {last}");
        let (weights, _) = pollster::block_on(gpu.weights()).unwrap();
        let params = &cpu.classifier.mlp.params;
        let largest = params.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let gap = weights.iter().zip(params).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / largest;
        println!(
            "level classifier, 50 steps: weights {gap:.2e} of the largest apart; cross-entropy {first:.4} -> {last:.4}"
        );
        assert!(gap < 1e-5, "after 50 steps the weights are {gap:.2e} apart");
    }
}
