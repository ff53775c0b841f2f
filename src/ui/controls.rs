//! Labelled inputs. A value is committed on change; if the engine refuses it, the input
//! shows the old value again and the banner says why, so a typo loses nothing.

use std::cell::RefCell;
use std::rc::Rc;

use yew::prelude::*;

use crate::playground::engine::Engine;

/// Runs an action on the engine, shows its error (if any) in the banner and re-renders.
#[derive(Clone)]
pub struct Act {
    pub engine: Rc<RefCell<Engine>>,
    pub update: UseForceUpdateHandle,
}

impl PartialEq for Act {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.engine, &other.engine)
    }
}

impl Act {
    pub fn run(&self, action: impl FnOnce(&mut Engine) -> Result<(), String>) -> bool {
        let result = action(&mut self.engine.borrow_mut());
        let ok = result.is_ok();
        if let Err(message) = result {
            self.engine.borrow_mut().errors.push(message);
        }
        self.update.force_update();
        ok
    }

    /// A click handler.
    pub fn on_click(&self, action: impl Fn(&mut Engine) -> Result<(), String> + 'static) -> Callback<MouseEvent> {
        let act = self.clone();
        Callback::from(move |_| {
            act.run(&action);
        })
    }
}

/// A text or number input committed on change.
#[allow(clippy::too_many_arguments)]
pub fn input(
    act: &Act,
    label: &str,
    kind: &str,
    value: String,
    step: Option<&str>,
    testid: Option<&str>,
    title: &str,
    action: impl Fn(&mut Engine, &str) -> Result<(), String> + 'static,
) -> Html {
    let act = act.clone();
    let shown = value.clone();
    let onchange = Callback::from(move |e: Event| {
        let element: web_sys::HtmlInputElement = e.target_unchecked_into();
        let text = element.value();
        if !act.run(|engine| action(engine, &text)) {
            element.set_value(&shown);
        }
    });
    html! {
        <label class="field" title={title.to_string()}>
            <span>{ label }</span>
            <input type={kind.to_string()} value={value} step={step.map(str::to_string)}
                data-testid={testid.map(str::to_string)} aria-label={label.to_string()} {onchange} />
        </label>
    }
}

/// A drop-down committed on change.
pub fn select(
    act: &Act,
    label: &str,
    options: &[(&str, &str)],
    selected: &str,
    testid: Option<&str>,
    action: impl Fn(&mut Engine, &str) -> Result<(), String> + 'static,
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
                { for options.iter().map(|(value, text)| html! {
                    <option value={value.to_string()} selected={*value == selected}>{ *text }</option>
                }) }
            </select>
        </label>
    }
}
