//! The temperature lab's view: the prompt panel's prompt at several temperatures, `k` samples
//! each, decoded together — its controls (temperatures, samples, preset, tests), Run and Cancel,
//! the record's export, import and replay, the charts (the same SVG as `kiln lab --svg`), and
//! one column per temperature ([`super::lab_columns`]).

use kiln_engine::lab::chart;
use leptos::prelude::*;
use web_sys::HtmlInputElement;

use super::lab_columns::LabColumns;
use crate::page::read_text;
use crate::sandbox::TEST_TIMEOUT_MS;
use crate::state::{Form, Ui};

/// The lab's view.
#[component]
pub fn Lab(ui: Ui, form: Form) -> impl IntoView {
    let lab = ui.lab;
    let f = form;
    let import = move |ev: leptos::ev::Event| {
        let Some(file) = event_target::<HtmlInputElement>(&ev)
            .files()
            .and_then(|l| l.get(0))
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            match read_text(&file).await {
                Ok(text) => lab.import(ui, &file.name(), &text),
                Err(e) => ui.error.set(e),
            }
        });
    };
    view! {
        <section class="panel" id="lab">
            <h2>"temperature lab"</h2>
            <p class="hint">"The prompt on the left at every temperature, "<i>"k"</i>" samples each, all decoded \
                together from one prefilled prompt; each sample post-processed and, with tests, tested \
                in the browser. The mode, language, seed, max tokens and stop strings come from the left; the \
                temperature slider, top-k, top-p and min-p do not (the lab sets them). Definitions: docs/LAB.md."</p>
            <div class="grid">
                <label class="wide">"temperatures "<input type="text" id="lab-temps"
                    prop:value=move || f.lab_temps.get()
                    on:input=move |ev| f.lab_temps.set(event_target_value(&ev))/></label>
                <label>"samples (k) "<input type="number" id="lab-k" min="1" max="16"
                    prop:value=move || f.lab_samples.get().to_string()
                    on:input=move |ev| f.lab_samples.set(event_target_value(&ev).parse().unwrap_or(1))/></label>
                <label><input type="checkbox" id="lab-published" prop:checked=move || f.lab_published.get()
                    on:change=move |ev| f.lab_published.set(event_target_checked(&ev))/>
                    " top-p 0.95 (published settings; off: temperature alone)"</label>
            </div>
            <label class="wide">"tests (optional; blocks separated by a blank line, "
                {format!("{} s limit each) ", TEST_TIMEOUT_MS / 1000)}
                <textarea id="lab-tests" rows="3" placeholder="assert is_prime(7)"
                    prop:value=move || lab.tests.get()
                    on:input=move |ev| lab.tests.set(event_target_value(&ev))></textarea></label>
            <div class="row">
                <button id="lab-run" class="primary" on:click=move |_| lab.run(ui, form)
                    disabled=move || ui.model.get().is_none() || ui.busy()>"Run lab"</button>
                <button id="lab-cancel" on:click=move |_| {
                    if let Some(id) = lab.running.get_untracked() {
                        ui.cancel(id);
                    }
                } disabled=move || lab.running.get().is_none()>"Cancel"</button>
                <button id="lab-export" on:click=move |_| lab.export(ui)
                    disabled=move || lab.record.get().is_none()>"export record"</button>
                <label class="button">"import record "
                    <input id="lab-import" type="file" accept=".json" on:change=import/></label>
                <button id="lab-replay" on:click=move |_| lab.replay(ui)
                    disabled=move || lab.record.get().is_none() || ui.model.get().is_none() || ui.busy()>"run again"</button>
            </div>
            <p id="lab-status" data-done=move || (lab.running.get().is_none() && lab.record.get().is_some()).to_string()>
                {move || lab.status.get()}</p>
            <div id="lab-charts" class="charts"
                inner_html=move || lab.record.get().map(|r| chart::svg(&r.summary)).unwrap_or_default()></div>
            <LabColumns ui=ui/>
        </section>
    }
}
