//! The playground's UI (Leptos, client-side rendered). It never runs the engine: it starts the
//! worker, sends it messages and renders what comes back ([`crate::state`]). The page: a header,
//! the status and progress lines, the model panel and the prompt on the left, and on the right
//! either one generation (output, tokens, post-processing report) or the temperature lab.

use leptos::prelude::*;
use web_sys::DragEvent;

use crate::components::lab::Lab;
use crate::components::model_panel::{ModelPanel, load_files};
use crate::components::output::Output;
use crate::components::prompt_panel::PromptPanel;
use crate::components::report::Report;
use crate::logic::progress_text;
use crate::page::{device_from_url, location_search, set_theme};
use crate::settings::{Settings, View};
use crate::state::{Form, Ui};

/// Mounts the app on `<body>`.
pub fn start() {
    mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let (initial, problems) = Settings::from_query(&location_search());
    let ui = Ui::new(device_from_url(), initial.model_sha256.clone());
    ui.error.set(problems.join("; "));
    ui.start_worker();
    let form = Form::new(initial);
    let theme = RwSignal::new("auto");
    let tab = move |v: View, id: &'static str, label: &'static str| {
        view! {
            <button class="tab" id=id class:active=move || form.view.get() == v
                on:click=move |_| form.view.set(v)>{label}</button>
        }
    };
    view! {
        <main
            on:dragover=move |ev: DragEvent| ev.prevent_default()
            on:drop=move |ev: DragEvent| {
                ev.prevent_default();
                load_files(ui, ev.data_transfer().and_then(|d| d.files()));
            }>
            <header>
                <h1>"kiln" <small>{move || if ui.host.with(Option::is_some) {
                    " local code generation, offline on this machine"
                } else {
                    " local code generation, in your browser"
                }}</small></h1>
                <button id="theme" title="colour theme" on:click=move |_| {
                    let next = match theme.get_untracked() { "auto" => "dark", "dark" => "light", _ => "auto" };
                    theme.set(next);
                    set_theme(next);
                }>{move || format!("theme: {}", theme.get())}</button>
            </header>
            <p id="status" data-ready=move || (ui.model.get().is_some() && !ui.loading.get()).to_string()>
                {move || ui.status.get()}</p>
            <p id="progress">{move || ui.progress.get().map(|(stage, done, total)| view! {
                <progress max=total.unwrap_or(0).to_string() value=done.to_string()></progress>
                " " {progress_text(&stage, done, total)}
            })}</p>
            <p id="error" class="error">{move || ui.error.get()}</p>
            <p id="notice" class="notice">{move || ui.notice.get()}</p>
            <div class="columns" class:wide-right=move || form.view.get() == View::Lab>
                <div class="left">
                    <ModelPanel ui=ui/>
                    <PromptPanel ui=ui form=form/>
                </div>
                <div class="right">
                    <div class="tabs views">
                        {tab(View::Generate, "view-generate", "generate")}
                        {tab(View::Lab, "view-lab", "temperature lab")}
                    </div>
                    <div hidden=move || form.view.get() != View::Generate>
                        <Output ui=ui/>
                        <Report ui=ui/>
                    </div>
                    <div hidden=move || form.view.get() != View::Lab>
                        <Lab ui=ui form=form/>
                    </div>
                </div>
            </div>
        </main>
    }
}
