//! The prompt and its settings: mode, language, temperature (with the explainer's presets),
//! the other sampling parameters, seed, limits and stop strings; Generate and Cancel. The same
//! fields feed the lab. The request is built by the engine's one builder
//! ([`kiln_engine::RequestSettings`]), as for `kiln generate`, and the settings go into the page
//! URL so that a link reproduces the run.

use kiln_engine::DeviceChoice;
use kiln_engine::post::Language;
use leptos::prelude::*;

use crate::logic::LANGUAGES;
use crate::page::replace_query;
use crate::protocol::ToWorker;
use crate::settings::TEMPERATURE_PRESETS;
use crate::state::{Form, Ui};

/// Sends one generation of the form's settings.
fn generate(ui: Ui, form: Form) {
    let built = form.settings().and_then(|mut s| {
        s.model_sha256 = ui.model.get_untracked().map(|m| m.sha256);
        let request = s.request.request().map_err(|e| e.to_string())?;
        Ok((s, request))
    });
    let (s, request) = match built {
        Ok(b) => b,
        Err(e) => {
            ui.error.set(e);
            return;
        }
    };
    let device = match ui.device.get_untracked() {
        DeviceChoice::Auto => String::new(),
        d => format!("&device={}", d.name()),
    };
    replace_query(&format!("?{}{device}", s.to_query()));
    let id = ui.next_id();
    let raw_prefix = if s.request.chat {
        String::new()
    } else {
        s.request.prompt.clone()
    };
    ui.begin_generation(id, raw_prefix);
    let msg = ToWorker::Generate {
        id,
        request,
        post: s.request.post_options(),
    };
    ui.send(&msg, &[]);
}

/// A number field bound to `signal`; what does not parse becomes `fallback` (and is refused by
/// the request builder when it is out of range).
macro_rules! number {
    ($label:expr, $id:expr, $signal:expr, $fallback:expr, $($attr:tt)*) => {
        view! {
            <label>{$label}<input type="number" id=$id $($attr)*
                prop:value=move || $signal.get().to_string()
                on:input=move |ev| $signal.set(event_target_value(&ev).parse().unwrap_or($fallback))/></label>
        }
    };
}

/// The panel.
#[component]
pub fn PromptPanel(ui: Ui, form: Form) -> impl IntoView {
    let f = form;
    view! {
        <section class="panel">
            <div class="row">
                <label><input type="checkbox" id="chat" prop:checked=move || f.chat.get()
                    on:change=move |ev| f.chat.set(event_target_checked(&ev))/>" chat template"</label>
                <label>"language "<select id="lang"
                    on:change=move |ev| f.language.set(Language::from_tag(&event_target_value(&ev)))
                    prop:value=move || f.language.get().name().to_string()>
                    {LANGUAGES.iter().map(|l| view! { <option value=l.name()>{l.name()}</option> }).collect_view()}
                </select></label>
            </div>
            <textarea id="prompt" rows="6" aria-label="prompt"
                prop:value=move || f.prompt.get()
                on:input=move |ev| f.prompt.set(event_target_value(&ev))></textarea>
            <div class="row">
                <label>"temperature "
                    <input type="range" id="temperature" min="0" max="2" step="0.05"
                        prop:value=move || f.temperature.get().to_string()
                        on:input=move |ev| f.temperature.set(event_target_value(&ev).parse().unwrap_or(0.0))/>
                    <output>{move || format!("{:.2}", f.temperature.get())}</output></label>
                <span class="presets">{TEMPERATURE_PRESETS.iter().map(|&t| view! {
                    <button class="preset" class:active=move || f.temperature.get() == t
                        on:click=move |_| f.temperature.set(t)>{t.to_string()}</button>
                }).collect_view()}</span>
            </div>
            <div class="grid">
                {number!("top-k ", "top-k", f.top_k, 0, min="0")}
                {number!("top-p ", "top-p", f.top_p, f32::NAN, min="0" max="1" step="0.05")}
                {number!("min-p ", "min-p", f.min_p, f32::NAN, min="0" max="1" step="0.01")}
                {number!("repeat penalty ", "repeat-penalty", f.repeat_penalty, f32::NAN, min="0" step="0.05")}
                {number!("seed ", "seed", f.seed, 0, min="0")}
                {number!("max tokens ", "max-tokens", f.max_tokens, 256, min="1")}
                <label class="wide">"stop strings "<input type="text" id="stop" placeholder="comma-separated; \\n for a newline"
                    prop:value=move || f.stops.get()
                    on:input=move |ev| f.stops.set(event_target_value(&ev))/></label>
            </div>
            <div class="row">
                <button id="generate" class="primary" on:click=move |_| generate(ui, form)
                    disabled=move || ui.model.get().is_none() || ui.busy()>"Generate"</button>
                <button id="cancel" on:click=move |_| {
                    if let Some(id) = ui.running.get_untracked() {
                        ui.cancel(id);
                    }
                } disabled=move || ui.running.get().is_none()>"Cancel"</button>
                <span id="speed">{move || ui.speed.get()}</span>
            </div>
        </section>
    }
}
