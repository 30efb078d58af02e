//! The model and device panel: the backend, the default model, a model by URL, picked or dropped
//! files, the browser cache, and what the engine runs on. In the desktop app (a native engine
//! behind the window) the page names no files: the models in the model directory, the native
//! file dialog and drops on the window give the engine a path instead.

use leptos::prelude::*;
use web_sys::{File, HtmlInputElement};

use crate::logic::device_details;
use crate::protocol::{ModelSource, ToWorker};
use crate::state::Ui;

/// Loads picked or dropped files (one GGUF, or a Hugging Face set).
pub fn load_files(ui: Ui, list: Option<web_sys::FileList>) {
    let files: Vec<File> = list
        .map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
        .unwrap_or_default();
    if files.is_empty() {
        return;
    }
    let names = files.iter().map(File::name).collect();
    ui.load(ModelSource::Files { names }, files);
}

/// The panel.
#[component]
pub fn ModelPanel(ui: Ui) -> impl IntoView {
    let busy = move || ui.busy();
    let in_app = move || ui.host.with(Option::is_some);
    let device_label = move |which: &str| match (ui.host.get(), which) {
        (None, "auto") => "auto (WebGPU, else CPU)".to_string(),
        (None, "gpu") => "WebGPU".into(),
        (None, _) => "CPU (wasm)".into(),
        (Some(_), "auto") => "auto (native GPU, else CPU)".into(),
        (Some(_), "gpu") => "GPU (native wgpu)".into(),
        (Some(h), _) => format!("CPU (native, {} threads)", h.cpu_threads),
    };
    view! {
        <details class="panel" id="model-panel" open>
            <summary>"model & device"</summary>
            <div class="row">
                <label>"device "
                    <select id="device" on:change=move |ev| {
                        ui.device.set(event_target_value(&ev).parse().unwrap_or_default());
                        ui.reload();
                    } prop:value=move || ui.device.get().name() disabled=busy>
                        <option value="auto">{move || device_label("auto")}</option>
                        <option value="gpu">{move || device_label("gpu")}</option>
                        <option value="cpu">{move || device_label("cpu")}</option>
                    </select></label>
                <button id="load-default" disabled=busy
                    on:click=move |_| ui.load(ModelSource::Default, Vec::new())>"default model"</button>
                <Show when=move || !in_app()>
                    <button id="clear-cache" disabled=busy on:click=move |_| {
                        ui.send(&ToWorker::ClearCache, &[]);
                        ui.notice.set("cleared the browser's model cache".into());
                    }>"clear cache"</button>
                </Show>
            </div>
            <Show when=in_app fallback=move || view! { <BrowserSources ui/> }>
                <AppSources ui/>
            </Show>
            <ul id="device-info">{move || ui.model.get().map(|m| device_details(&m)
                .into_iter().map(|l| view! { <li>{l}</li> }).collect_view())}</ul>
        </details>
    }
}

/// In the desktop app: the model directory's models, the native file dialog, and drops.
#[component]
fn AppSources(ui: Ui) -> impl IntoView {
    let busy = move || ui.busy();
    let dir = move || ui.host.get().map(|h| h.model_dir).unwrap_or_default();
    let models = move || ui.host.get().map(|h| h.models).unwrap_or_default();
    view! {
        <div class="row">
            <label>"model directory "
                <select id="model-dir" disabled=busy on:change=move |ev| {
                    let path = event_target_value(&ev);
                    if !path.is_empty() {
                        ui.load(ModelSource::Path { path }, Vec::new());
                    }
                }>
                    <option value="">{move || format!("{} — {} found", dir(), models().len())}</option>
                    {move || models().into_iter().map(|m| {
                        let name = m.rsplit('/').next().unwrap_or(&m).to_string();
                        view! { <option value=m>{name}</option> }
                    }).collect_view()}
                </select></label>
            <button id="open-model" disabled=busy
                on:click=move |_| ui.send(&ToWorker::PickModel, &[])>"open a model…"</button>
        </div>
        <p class="drop">"a .gguf, or a Hugging Face folder (config.json, tokenizer.json, *.safetensors) — open one, or drop it on the window"</p>
    }
}

/// In a browser: a model by URL, and picked or dropped files.
#[component]
fn BrowserSources(ui: Ui) -> impl IntoView {
    let model_url = RwSignal::new(String::new());
    let busy = move || ui.busy();
    view! {
        <div class="row">
            <input id="model-url" type="url" placeholder="URL of a .gguf file"
                prop:value=move || model_url.get()
                on:input=move |ev| model_url.set(event_target_value(&ev))/>
            <button id="load-url" disabled=busy on:click=move |_| {
                let url = model_url.get_untracked();
                if !url.trim().is_empty() {
                    ui.load(ModelSource::Url { url: url.trim().to_string() }, Vec::new());
                }
            }>"load URL"</button>
        </div>
        <label class="drop">"open a .gguf, or a Hugging Face set (config.json, tokenizer.json, *.safetensors) — or drop files anywhere "
            <input id="model-file" type="file" multiple accept=".gguf,.json,.safetensors"
                disabled=busy
                on:change=move |ev| load_files(ui, event_target::<HtmlInputElement>(&ev).files())/></label>
    }
}
