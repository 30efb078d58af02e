//! The model and device panel: the backend, the default model, a model by URL, picked or dropped
//! files, the browser cache, and what the engine runs on.

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
    let model_url = RwSignal::new(String::new());
    let busy = move || ui.busy();
    view! {
        <details class="panel" id="model-panel" open>
            <summary>"model & device"</summary>
            <div class="row">
                <label>"device "
                    <select id="device" on:change=move |ev| {
                        ui.device.set(event_target_value(&ev).parse().unwrap_or_default());
                        ui.reload();
                    } prop:value=move || ui.device.get().name() disabled=busy>
                        <option value="auto">"auto (WebGPU, else CPU)"</option>
                        <option value="gpu">"WebGPU"</option>
                        <option value="cpu">"CPU (wasm)"</option>
                    </select></label>
                <button id="load-default" disabled=busy
                    on:click=move |_| ui.load(ModelSource::Default, Vec::new())>"default model"</button>
                <button id="clear-cache" disabled=busy on:click=move |_| {
                    ui.send(&ToWorker::ClearCache, &[]);
                    ui.notice.set("cleared the browser's model cache".into());
                }>"clear cache"</button>
            </div>
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
            <ul id="device-info">{move || ui.model.get().map(|m| device_details(&m)
                .into_iter().map(|l| view! { <li>{l}</li> }).collect_view())}</ul>
        </details>
    }
}
