//! The post-processing report of a generation: its verdict, the checked code with errors on
//! their lines, the formatted code, the diff from the raw text, what each stage did, and test
//! runs in the browser's test workers.

use kiln_engine::post::Language;
use leptos::prelude::*;

use super::code::{code_lines, diff_rows};
use crate::logic::{annotate, diff_lines, split_tests};
use crate::sandbox::{TEST_TIMEOUT_MS, run_one};
use crate::state::{TestResult, Ui};

/// The report panel.
#[component]
pub fn Report(ui: Ui) -> impl IntoView {
    let tests = RwSignal::new(String::new());
    let test_results = RwSignal::new(Vec::<TestResult>::new());
    let testing = RwSignal::new(false);
    let view_tab = RwSignal::new("checked");
    // A new generation clears the last one's verdicts.
    Effect::new(move || {
        if ui.running.get().is_some() {
            test_results.set(Vec::new());
        }
    });
    let run_tests = move |_| {
        let Some(report) = ui.report.get_untracked() else {
            return;
        };
        let blocks = split_tests(&tests.get_untracked());
        test_results.set(Vec::new());
        testing.set(true);
        leptos::task::spawn_local(async move {
            for test in blocks {
                let (verdict, message) = run_one(report.language, &report.code, &test).await;
                test_results.update(|r| {
                    r.push(TestResult {
                        test,
                        verdict,
                        message,
                    })
                });
            }
            testing.set(false);
        });
    };
    view! {
        <section id="post" class="panel">{move || ui.report.get().map(|r| {
            let raw = ui.raw_prefix.get_untracked() + &ui.output.get_untracked();
            let lines = annotate(&r.code, &r.diagnostics);
            let diff = diff_lines(&raw, &r.code);
            let runner = match r.language {
                Language::JavaScript => Some(("a fresh worker", "assert is Node's", "assert.strictEqual(add(2, 3), 5);")),
                Language::Python => Some(("a fresh Pyodide (CPython in wasm) worker", "a failed assert is a fail",
                    "assert add(2, 3) == 5")),
                _ => None,
            };
            let language = r.language.name();
            view! {
                <h2>"post-processed (" {language} ")"</h2>
                <p id="valid" class=if r.valid == Some(false) || r.incomplete.is_some() { "error" } else { "" }>
                    {r.verdict()}
                {(!r.raw_diagnostics.is_empty()).then(|| format!(
                    " · the model's text had {} error(s) before truncation", r.raw_diagnostics.len()))}</p>
                <div class="tabs">
                    {[("checked", "checked"), ("formatted", "formatted"), ("diff", "raw ↔ cleaned")].into_iter()
                        .map(|(tab, label)| view! {
                            <button class="tab" id=format!("tab-{tab}") class:active=move || view_tab.get() == tab
                                on:click=move |_| view_tab.set(tab)>{label}</button>
                        }).collect_view()}
                </div>
                <div id="view-checked" class="code" hidden=move || view_tab.get() != "checked">
                    {code_lines(lines)}
                </div>
                <pre id="view-formatted" hidden=move || view_tab.get() != "formatted">{r.code.clone()}</pre>
                <div id="view-diff" class="code" hidden=move || view_tab.get() != "diff">
                    {diff_rows(diff)}
                </div>
                <ul class="stages">{r.stages.iter().map(|s| view! {
                    <li class:changed=s.changed>{format!("{}: {}", s.stage, s.summary)}</li>
                }).collect_view()}</ul>
                <h3>"tests"</h3>
                {match runner {
                    Some((runtime, asserts, example)) => view! {
                        <p class="hint">{format!("Each block (separated by a blank line) runs with the code in {runtime}, \
                            with no network or storage, {} s limit; {asserts}.", TEST_TIMEOUT_MS / 1000)}</p>
                        <textarea id="tests" rows="4" placeholder=example
                            prop:value=move || tests.get()
                            on:input=move |ev| tests.set(event_target_value(&ev))></textarea>
                        <button id="run-tests" on:click=run_tests disabled=move || testing.get()>"run tests"</button>
                    }.into_any(),
                    None => view! {
                        <p class="hint">{format!("kiln runs Python and JavaScript tests (here, and natively with \
                            `kiln check --tests`); it has no test runner for {language}.")}</p>
                    }.into_any(),
                }}
                <ul id="test-results">
                    <For each=move || test_results.get().into_iter().enumerate() key=|(i, _)| *i
                        children=move |(_, t): (usize, TestResult)| view! {
                            <li class=format!("verdict {}", t.verdict) data-verdict=t.verdict.clone()>
                                <b>{t.verdict.clone()}</b> " " <code>{t.test.clone()}</code>
                                {(!t.message.is_empty()).then(|| format!(" — {}", t.message))}</li>
                        }/>
                </ul>
            }
        })}</section>
    }
}
