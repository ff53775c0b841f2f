//! The shell: the title, the backend badge, the lab tabs, the banners and the address bar,
//! around the open lab. It finds the GPU, starts the frame loop and keeps each lab's state
//! while another tab is open. What a lab shows is the lab's own component (`ui/<lab>/`).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use super::backend_badge::BackendBadge;
use super::browser;
use super::controls::Act;
use super::deq::DeqLabView;
use super::detect_backend::detect_backend;
use super::diffusion::{shortcuts::install_shortcuts, DiffusionLab};
use super::frame_loop::start_frame_loop;
use super::gpu_runner::{compile_gpu_sampler, RunnerRef, SharedRunner};
use super::inverse::InverseLabView;
use super::ncde::NcdeLabView;
use super::node::NodeLabView;
use super::nsde::NsdeLabView;
use super::odice::OdiceLabView;
use super::symreg::SymregLabView;
use super::worker_pool::{worker_count, WorkerPool};
use crate::exec::backend::BackendStatus;
use crate::exec::gpu::op_major::GpuPath;
use crate::exec::gpu::GpuContext;
use crate::playground::deq::{DeqLab, DeqSettings};
use crate::playground::diffusion::{Engine, Settings};
use crate::playground::inverse::{InverseLab, InverseSettings};
use crate::playground::labs::{LabId, LABS};
use crate::playground::ncde::{NcdeLab, NcdeSettings};
use crate::playground::node::{NodeLab, NodeSettings};
use crate::playground::nsde::{NsdeLab, NsdeSettings};
use crate::playground::odice::{OdiceLab, OdiceSettings};
use crate::playground::shell::{LabStatus, Location};
use crate::playground::symreg::{SymregLab, SymregSettings};

/// `?debug-panic` makes the page panic on purpose, so the end-to-end test can check that a
/// crash shows a readable message rather than a blank page.
fn debug_panic_requested() -> bool {
    browser::query().contains("debug-panic")
}

/// Whether the link asks to draw the panels on a WebGPU canvas even on a software adapter
/// (`?gpu-canvas`: the e2e layer's way to test it, in a browser that presents such canvases).
fn gpu_canvas_requested() -> bool {
    browser::query().trim_start_matches('?').split('&').any(|p| p == "gpu-canvas" || p.starts_with("gpu-canvas="))
}

/// The GPU path the link asks for (`?gpu-path=op-major|interpreter`), if any: a switch the page
/// reads itself (`ui::gpu_runner::choose_path`), not a setting of a lab. Another value is
/// ignored with a message in the address's other problems.
fn gpu_path_requested() -> Option<GpuPath> {
    browser::query().trim_start_matches('?').split('&').find_map(|p| match p.strip_prefix("gpu-path=") {
        Some("op-major") => Some(GpuPath::OpMajor),
        Some("interpreter") => Some(GpuPath::Interpreter),
        _ => None,
    })
}

/// Every lab's state, built when the page opens, so that switching tabs loses nothing.
struct Labs {
    diffusion: Rc<RefCell<Engine>>,
    node: Rc<RefCell<NodeLab>>,
    ncde: Rc<RefCell<NcdeLab>>,
    nsde: Rc<RefCell<NsdeLab>>,
    symreg: Rc<RefCell<SymregLab>>,
    deq: Rc<RefCell<DeqLab>>,
    odice: Rc<RefCell<OdiceLab>>,
    inverse: Rc<RefCell<InverseLab>>,
}

impl Labs {
    /// The labs as the address describes them: the open lab reads its part of the query,
    /// the others open with their defaults.
    fn open(location: &Location) -> Labs {
        let query = |lab: LabId| if location.lab == lab { location.lab_query.as_str() } else { "" };
        let (settings, mut problems) = Settings::from_query(query(LabId::Diffusion));
        if location.lab == LabId::Diffusion {
            problems.extend(location.problem.clone());
        }
        let (node_settings, mut node_problems) = NodeSettings::from_query(query(LabId::Node));
        if location.lab == LabId::Node {
            node_problems.extend(location.problem.clone());
        }
        let (ncde_settings, mut ncde_problems) = NcdeSettings::from_query(query(LabId::Ncde));
        if location.lab == LabId::Ncde {
            ncde_problems.extend(location.problem.clone());
        }
        let (nsde_settings, mut nsde_problems) = NsdeSettings::from_query(query(LabId::Nsde));
        if location.lab == LabId::Nsde {
            nsde_problems.extend(location.problem.clone());
        }
        let (symreg_settings, mut symreg_problems) = SymregSettings::from_query(query(LabId::Symreg));
        if location.lab == LabId::Symreg {
            symreg_problems.extend(location.problem.clone());
        }
        let (deq_settings, mut deq_problems) = DeqSettings::from_query(query(LabId::Deq));
        if location.lab == LabId::Deq {
            deq_problems.extend(location.problem.clone());
        }
        let (odice_settings, mut odice_problems) = OdiceSettings::from_query(query(LabId::Odice));
        if location.lab == LabId::Odice {
            odice_problems.extend(location.problem.clone());
        }
        let (inverse_settings, mut inverse_problems) = InverseSettings::from_query(query(LabId::Inverse));
        if location.lab == LabId::Inverse {
            inverse_problems.extend(location.problem.clone());
        }
        let mut diffusion = Engine::new(settings, problems);
        if let Some(batch) = Settings::link_batch(query(LabId::Diffusion)) {
            diffusion.keep_link_batch_for_gpu(batch);
        }
        Labs {
            diffusion: Rc::new(RefCell::new(diffusion)),
            node: Rc::new(RefCell::new(NodeLab::new(node_settings, node_problems))),
            ncde: Rc::new(RefCell::new(NcdeLab::new(ncde_settings, ncde_problems))),
            nsde: Rc::new(RefCell::new(NsdeLab::new(nsde_settings, nsde_problems))),
            symreg: Rc::new(RefCell::new(SymregLab::new(symreg_settings, symreg_problems))),
            deq: Rc::new(RefCell::new(DeqLab::new(deq_settings, deq_problems))),
            odice: Rc::new(RefCell::new(OdiceLab::new(odice_settings, odice_problems))),
            inverse: Rc::new(RefCell::new(InverseLab::new(inverse_settings, inverse_problems))),
        }
    }

    /// The open lab's part of the address.
    fn query(&self, lab: LabId) -> String {
        match lab {
            LabId::Diffusion => self.diffusion.borrow().link_settings().to_query(),
            LabId::Node => self.node.borrow().settings.to_query(),
            LabId::Ncde => self.ncde.borrow().settings.to_query(),
            LabId::Nsde => self.nsde.borrow().settings.to_query(),
            LabId::Symreg => self.symreg.borrow().settings.to_query(),
            LabId::Deq => self.deq.borrow().settings.to_query(),
            LabId::Odice => self.odice.borrow().settings.to_query(),
            LabId::Inverse => self.inverse.borrow().settings.to_query(),
        }
    }

    fn status(&self, lab: LabId) -> LabStatus {
        match lab {
            LabId::Diffusion => self.diffusion.borrow().status.clone(),
            LabId::Node => self.node.borrow().status.clone(),
            LabId::Ncde => self.ncde.borrow().status.clone(),
            LabId::Nsde => self.nsde.borrow().status.clone(),
            LabId::Symreg => self.symreg.borrow().status.clone(),
            LabId::Deq => self.deq.borrow().status.clone(),
            LabId::Odice => self.odice.borrow().status.clone(),
            LabId::Inverse => self.inverse.borrow().status.clone(),
        }
    }
}

#[component]
pub fn App() -> Html {
    let location = use_memo((), |_| Location::parse(&browser::query()));
    let labs = use_memo((), {
        let location = location.clone();
        move |_| Labs::open(&location)
    });
    let active = use_state(|| location.lab);
    let update = use_force_update();
    let renders = use_mut_ref(|| 0u64);
    *renders.borrow_mut() += 1;
    let act = Act { engine: labs.diffusion.clone(), update: update.clone() };
    let node_act: Act<NodeLab> = Act { engine: labs.node.clone(), update: update.clone() };
    let ncde_act: Act<NcdeLab> = Act { engine: labs.ncde.clone(), update: update.clone() };
    let nsde_act: Act<NsdeLab> = Act { engine: labs.nsde.clone(), update: update.clone() };
    let symreg_act: Act<SymregLab> = Act { engine: labs.symreg.clone(), update: update.clone() };
    let deq_act: Act<DeqLab> = Act { engine: labs.deq.clone(), update: update.clone() };
    let odice_act: Act<OdiceLab> = Act { engine: labs.odice.clone(), update: update.clone() };
    let inverse_act: Act<InverseLab> = Act { engine: labs.inverse.clone(), update: update.clone() };
    let backend = use_state(|| BackendStatus::Detecting);
    let runner: SharedRunner = use_mut_ref(|| None);
    // Read at the first render, before the page rewrites the address to its settings.
    let canvas_asked = *use_memo((), |_| gpu_canvas_requested());
    let path_asked = *use_memo((), |_| gpu_path_requested());
    // The Web Workers that sample on the CPU's other cores where no hardware GPU does.
    let workers: Rc<RefCell<Option<WorkerPool>>> = use_mut_ref(|| None);
    // A software adapter's device, kept until the visitor opts in to GPU sampling.
    let parked_gpu: Rc<RefCell<Option<GpuContext>>> = use_mut_ref(|| None);
    let last_query = use_mut_ref(String::new);
    // Which lab is open, for the frame loop (it gives the open lab's work the frame first).
    let open_lab = use_mut_ref(|| location.lab);
    *open_lab.borrow_mut() = *active;

    {
        let backend = backend.clone();
        let act = act.clone();
        let node_act = node_act.clone();
        let ncde_act = ncde_act.clone();
        let nsde_act = nsde_act.clone();
        let symreg_act = symreg_act.clone();
        let deq_act = deq_act.clone();
        let odice_act = odice_act.clone();
        let inverse_act = inverse_act.clone();
        let open_lab = open_lab.clone();
        let runner = runner.clone();
        let parked_gpu = parked_gpu.clone();
        let workers = workers.clone();
        use_effect_with((), move |_| {
            if debug_panic_requested() {
                panic!("deliberate panic requested by ?debug-panic");
            }
            start_frame_loop(
                act.clone(),
                node_act,
                ncde_act,
                nsde_act,
                symreg_act,
                deq_act,
                odice_act,
                inverse_act,
                open_lab,
                runner.clone(),
                workers.clone(),
            );
            install_shortcuts(act.clone());
            spawn_local(async move {
                let (status, gpu) = detect_backend().await;
                let software = matches!(status, BackendStatus::WebGpu { software: true, .. });
                let hardware = matches!(status, BackendStatus::WebGpu { software: false, .. });
                backend.set(status);
                if !hardware {
                    match WorkerPool::start(worker_count()) {
                        Ok(pool) => *workers.borrow_mut() = Some(pool),
                        Err(e) => {
                            act.run(|engine| {
                                engine.notify(format!("samplers run on this page's thread only ({e})"));
                                Ok(())
                            });
                        }
                    }
                }
                let Some(context) = gpu else {
                    act.run(|engine| {
                        engine.refuse_f16("this browser gives the page no WebGPU adapter");
                        Ok(())
                    });
                    return;
                };
                if software {
                    // Compiling the interpreter keeps a software adapter's GPU thread (which
                    // also composites the page) busy for about 30 s here: the page would
                    // freeze. Sampling stays on the CPU unless the visitor asks.
                    *parked_gpu.borrow_mut() = Some(context);
                    act.update.force_update();
                } else {
                    compile_gpu_sampler(context, runner, act, canvas_asked, path_asked).await;
                }
            });
        });
    }

    let lab = *active;
    let query = Location::query(lab, &labs.query(lab));
    // After every render: keep the address bar's link current.
    {
        let query = query.clone();
        use_effect(move || {
            if *last_query.borrow() != query {
                browser::replace_query(&query);
                *last_query.borrow_mut() = query;
            }
        });
    }

    let runner_ref = RunnerRef(runner.clone());
    let on_gpu_opt_in = {
        let parked_gpu = parked_gpu.clone();
        let act = act.clone();
        Callback::from(move |_| {
            if let Some(context) = parked_gpu.borrow_mut().take() {
                spawn_local(compile_gpu_sampler(context, runner.clone(), act.clone(), canvas_asked, path_asked));
                act.run(|engine| {
                    engine.notify("compiling the GPU sampler and trainer: the page may stall for up to a minute");
                    Ok(())
                });
            }
        })
    };
    let gpu_parked = parked_gpu.borrow().is_some();
    let software = matches!(*backend, BackendStatus::WebGpu { software: true, .. });
    let status = labs.status(lab);
    let link = AttrValue::from(format!("{}?{query}", browser::base_url()));
    let info = lab.info();
    let (dismiss, dismiss_notices) = match lab {
        LabId::Diffusion => (
            act.on_click(|engine| {
                engine.dismiss_messages();
                Ok(())
            }),
            act.on_click(|engine| {
                engine.dismiss_notices();
                Ok(())
            }),
        ),
        LabId::Node => {
            let dismiss = node_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Ncde => {
            let dismiss = ncde_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Nsde => {
            let dismiss = nsde_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Symreg => {
            let dismiss = symreg_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Deq => {
            let dismiss = deq_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Odice => {
            let dismiss = odice_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
        LabId::Inverse => {
            let dismiss = inverse_act.on_click(|lab| {
                lab.dismiss_messages();
                Ok(())
            });
            (dismiss.clone(), dismiss)
        }
    };

    html! {
        <div class="app" data-lab={info.name}>
            <header class="topbar">
                <h1>{ "NDE Playground" }</h1>
                <nav class="lab-tabs" role="tablist" aria-label="labs">
                    { for LABS.iter().map(|l| {
                        let id = l.id;
                        let active = active.clone();
                        html! {
                            <button role="tab" class={classes!("lab-tab", (id == lab).then_some("active"))}
                                aria-selected={(id == lab).to_string()} data-testid={format!("lab-tab-{}", l.name)}
                                onclick={Callback::from(move |_| active.set(id))}>{ l.title }</button>
                        }
                    }) }
                </nav>
                <span class="tagline">{ info.tagline }</span>
                <BackendBadge status={(*backend).clone()} />
            </header>
            if software {
                <div class="notice-banner" data-testid="software-warning" role="status">
                    { "This browser's WebGPU adapter is a software one (the CPU pretends to be a GPU): results are right, speeds are not a GPU's. " }
                    if gpu_parked {
                        { "Samplers and training run on the CPU here, because compiling the GPU kernels stalls a software adapter for about 30 s. " }
                        <button class="small" data-testid="gpu-opt-in" onclick={on_gpu_opt_in}>{ "Sample and train on the GPU anyway" }</button>
                    }
                </div>
            }
            if !status.errors.is_empty() {
                <div class="error-banner" data-testid="error-banner" role="alert">
                    { for status.errors.iter().rev().take(3).map(|m| html! { <div>{ m.clone() }</div> }) }
                    <button class="dismiss" onclick={dismiss.clone()}>{ "dismiss" }</button>
                </div>
            }
            if !status.notices.is_empty() {
                <div class="notice-banner" data-testid="notice-banner" role="status">
                    { for status.notices.iter().rev().take(2).map(|m| html! { <div>{ m.clone() }</div> }) }
                    <button class="dismiss" onclick={dismiss_notices}>{ "dismiss" }</button>
                </div>
            }
            { match lab {
                LabId::Diffusion => html! { <DiffusionLab act={act.clone()} render={*renders.borrow()} link={link.clone()} runner={runner_ref.clone()} /> },
                LabId::Node => html! { <NodeLabView act={node_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Ncde => html! { <NcdeLabView act={ncde_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Nsde => html! { <NsdeLabView act={nsde_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Symreg => html! { <SymregLabView act={symreg_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Deq => html! { <DeqLabView act={deq_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Odice => html! { <OdiceLabView act={odice_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
                LabId::Inverse => html! { <InverseLabView act={inverse_act.clone()} render={*renders.borrow()} link={link.clone()} /> },
            } }
        </div>
    }
}
