//! Labelled inputs. A value is committed on change; if the engine refuses it, the input
//! shows the old value again and the banner says why, so a typo loses nothing.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::playground::deq::DeqLab;
use crate::playground::diffusion::Engine;
use crate::playground::inverse::InverseLab;
use crate::playground::ncde::NcdeLab;
use crate::playground::node::NodeLab;
use crate::playground::nsde::NsdeLab;
use crate::playground::odice::OdiceLab;
use crate::playground::symreg::SymregLab;

/// A lab's state as the controls see it: where a refused action's message goes.
pub trait Reports: 'static {
    fn report(&mut self, message: String);
}

impl Reports for Engine {
    fn report(&mut self, message: String) {
        Engine::report(self, message);
    }
}

impl Reports for NodeLab {
    fn report(&mut self, message: String) {
        NodeLab::report(self, message);
    }
}

impl Reports for NcdeLab {
    fn report(&mut self, message: String) {
        NcdeLab::report(self, message);
    }
}

impl Reports for NsdeLab {
    fn report(&mut self, message: String) {
        NsdeLab::report(self, message);
    }
}

impl Reports for DeqLab {
    fn report(&mut self, message: String) {
        DeqLab::report(self, message);
    }
}

impl Reports for InverseLab {
    fn report(&mut self, message: String) {
        InverseLab::report(self, message);
    }
}

impl Reports for OdiceLab {
    fn report(&mut self, message: String) {
        OdiceLab::report(self, message);
    }
}

impl Reports for SymregLab {
    fn report(&mut self, message: String) {
        SymregLab::report(self, message);
    }
}

/// Runs an action on a lab's state (the diffusion engine unless named), shows its error (if
/// any) in the banner and re-renders.
pub struct Act<E: Reports = Engine> {
    pub engine: Rc<RefCell<E>>,
    pub update: UseForceUpdateHandle,
}

impl<E: Reports> Clone for Act<E> {
    fn clone(&self) -> Self {
        Act { engine: self.engine.clone(), update: self.update.clone() }
    }
}

impl<E: Reports> PartialEq for Act<E> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.engine, &other.engine)
    }
}

impl<E: Reports> Act<E> {
    pub fn run(&self, action: impl FnOnce(&mut E) -> Result<(), String>) -> bool {
        let result = action(&mut self.engine.borrow_mut());
        let ok = result.is_ok();
        if let Err(message) = result {
            self.engine.borrow_mut().report(message);
        }
        self.update.force_update();
        ok
    }

    /// A file input's change handler: reads the chosen file and gives its name and text to
    /// `action` (a file that cannot be read becomes a banner message).
    pub fn on_file(&self, action: fn(&mut E, &str, &str) -> Result<(), String>) -> Callback<Event> {
        let act = self.clone();
        Callback::from(move |ev: Event| {
            let element: web_sys::HtmlInputElement = ev.target_unchecked_into();
            let act = act.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let result = super::browser::read_chosen_file(&element).await;
                // Cleared, so that choosing the same file again is a change too.
                element.set_value("");
                act.run(|engine| match result? {
                    Some((name, text)) => action(engine, &name, &text),
                    None => Ok(()),
                });
            });
        })
    }

    /// A change handler (a checkbox), for an action that needs no value.
    pub fn on_change(&self, action: impl Fn(&mut E) -> Result<(), String> + 'static) -> Callback<Event> {
        let act = self.clone();
        Callback::from(move |_| {
            act.run(&action);
        })
    }

    /// A click handler.
    pub fn on_click(&self, action: impl Fn(&mut E) -> Result<(), String> + 'static) -> Callback<MouseEvent> {
        let act = self.clone();
        Callback::from(move |_| {
            act.run(&action);
        })
    }
}

/// What an input commits its text to.
pub type Commit<E = Engine> = Rc<dyn Fn(&mut E, &str) -> Result<(), String>>;

#[derive(Properties)]
pub struct SettingInputProps<E: Reports> {
    pub act: Act<E>,
    /// Identifies what the input sets (with the panel index where there is one): two
    /// renders with the same id and value are the same input.
    pub id: AttrValue,
    pub label: AttrValue,
    pub kind: AttrValue,
    pub value: AttrValue,
    #[prop_or_default]
    pub step: Option<AttrValue>,
    #[prop_or_default]
    pub testid: Option<AttrValue>,
    #[prop_or_default]
    pub title: AttrValue,
    pub commit: Commit<E>,
}

impl<E: Reports> PartialEq for SettingInputProps<E> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.value == other.value && self.label == other.label && self.act == other.act
    }
}

/// An input that is not re-filled from the settings on every render (the page renders every
/// frame while it trains, and a controlled input would undo what the visitor is typing): its
/// text is set when the setting's value changes and committed on change.
#[component]
pub fn SettingInput<E: Reports>(props: &SettingInputProps<E>) -> Html {
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with(props.value.clone(), move |value| {
            if let Some(element) = node.cast::<web_sys::HtmlInputElement>() {
                element.set_value(value);
            }
        });
    }
    let onchange = {
        let (act, commit, shown) = (props.act.clone(), props.commit.clone(), props.value.clone());
        Callback::from(move |e: Event| {
            let element: web_sys::HtmlInputElement = e.target_unchecked_into();
            let text = element.value();
            if !act.run(|engine| commit(engine, &text)) {
                element.set_value(&shown);
            }
        })
    };
    html! {
        <label class="field" title={props.title.clone()}>
            <span>{ props.label.clone() }</span>
            <input ref={node} type={props.kind.clone()} step={props.step.clone()}
                data-testid={props.testid.clone()} aria-label={props.label.clone()} {onchange} />
        </label>
    }
}

/// A [`SettingInput`] in one call.
#[allow(clippy::too_many_arguments)]
pub fn input<E: Reports>(
    act: &Act<E>,
    label: &str,
    kind: &str,
    value: String,
    step: Option<&str>,
    testid: Option<&str>,
    title: &str,
    action: impl Fn(&mut E, &str) -> Result<(), String> + 'static,
) -> Html {
    let id = format!("{}/{}", testid.unwrap_or(""), label);
    input_with_id(act, &id, label, kind, value, step, testid, title, action)
}

/// [`input`] with an explicit id (panel inputs add their index).
#[allow(clippy::too_many_arguments)]
pub fn input_with_id<E: Reports>(
    act: &Act<E>,
    id: &str,
    label: &str,
    kind: &str,
    value: String,
    step: Option<&str>,
    testid: Option<&str>,
    title: &str,
    action: impl Fn(&mut E, &str) -> Result<(), String> + 'static,
) -> Html {
    html! {
        <SettingInput<E> act={act.clone()} id={id.to_string()} label={label.to_string()} kind={kind.to_string()}
            value={value} step={step.map(|s| AttrValue::from(s.to_string()))}
            testid={testid.map(|s| AttrValue::from(s.to_string()))} title={title.to_string()}
            commit={Rc::new(action) as Commit<E>} />
    }
}

/// One entry of a drop-down: its value, its label, and why it cannot be chosen here (shown
/// disabled, with the reason as its tooltip), if it cannot.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub refused: Option<String>,
}

impl Choice {
    pub fn new(value: &str, label: &str) -> Self {
        Choice { value: value.to_string(), label: label.to_string(), refused: None }
    }

    /// Choices whose value is also their label.
    pub fn plain<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Choice> {
        names.into_iter().map(|n| Choice::new(n, n)).collect()
    }
}

/// A drop-down committed on change. The select's text is parsed into a typed value by
/// `action` (the edge where the page's strings become the engine's types).
pub fn select<E: Reports>(
    act: &Act<E>,
    label: &str,
    options: &[Choice],
    selected: &str,
    testid: Option<&str>,
    action: impl Fn(&mut E, &str) -> Result<(), String> + 'static,
) -> Html {
    let act = act.clone();
    let onchange = Callback::from(move |e: Event| {
        let element: web_sys::HtmlSelectElement = e.target_unchecked_into();
        let value = element.value();
        act.run(|engine| action(engine, &value));
    });
    html! {
        <label class="field">
            <span>{ label }</span>
            <select data-testid={testid.map(str::to_string)} aria-label={label.to_string()} {onchange}>
                { for options.iter().map(|c| html! {
                    <option value={c.value.clone()} selected={c.value == selected} disabled={c.refused.is_some()}
                        title={c.refused.clone()}>{ c.label.clone() }</option>
                }) }
            </select>
        </label>
    }
}
