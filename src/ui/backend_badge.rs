//! The badge that says which backend runs the page's work.

use yew::prelude::*;

use crate::exec::backend::BackendStatus;

#[derive(Properties, PartialEq)]
pub struct BackendBadgeProps {
    pub status: BackendStatus,
}

#[component]
pub fn BackendBadge(props: &BackendBadgeProps) -> Html {
    let software = matches!(props.status, BackendStatus::WebGpu { software: true, .. });
    let title = if software {
        "A software (CPU-emulated) GPU adapter: results are right, speeds are not a GPU's."
    } else {
        "Which executor runs sampling and training on this page."
    };
    html! {
        <span
            class={classes!("backend-badge", props.status.kind(), software.then_some("software"))}
            data-testid="backend-badge"
            data-backend={props.status.kind()}
            title={title}
            role="status"
        >
            { props.status.badge_text() }
        </span>
    }
}
