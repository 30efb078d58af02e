//! The lab's columns, one per temperature: while the lanes decode, each lane's text as it
//! streams; once the run is judged, the column's metrics and a card per lane — its outcome, its
//! code with syntax errors on their lines, its tokens shaded by probability with the token where
//! it parts from the greedy sample marked, the diff against the greedy sample's code, and its
//! test verdicts.

use leptos::prelude::*;

use super::code::{code_lines, diff_rows};
use crate::lab_logic::{ColumnView, Divergence, LaneView, columns, metric_rows};
use crate::state::{Ui, finish_text};

/// The columns of the running or shown run.
#[component]
pub fn LabColumns(ui: Ui) -> impl IntoView {
    let lab = ui.lab;
    move || match lab.record.get() {
        Some(record) => {
            let cols = columns(&record);
            let style = format!("--cols: {}", cols.len().max(1));
            view! {
                <div id="lab-columns" class="lab-columns" style=style>
                    {cols.into_iter().map(column).collect_view()}
                </div>
            }
            .into_any()
        }
        None => {
            let temps = lab.live_temps.get();
            let k = lab.live_samples.get();
            let style = format!("--cols: {}", temps.len().max(1));
            view! {
                <div id="lab-columns" class="lab-columns live" style=style>
                    {temps.into_iter().enumerate().map(|(t, temp)| view! {
                        <div class="lab-column">
                            <h3>{format!("T = {temp}")}</h3>
                            {(0..k).map(|s| {
                                let i = t * k + s;
                                let lane = move || lab.live.with(|v| v.get(i).cloned().unwrap_or_default());
                                view! {
                                    <div class="lane live-lane">
                                        <div class="lane-head">{move || {
                                            let l = lane();
                                            format!("sample {} · {} tokens{}", s + 1, l.tokens,
                                                l.finish.map(|f| format!(" · {}", finish_text(f))).unwrap_or_default())
                                        }}</div>
                                        <pre class="lane-text">{move || lane().text}</pre>
                                    </div>
                                }
                            }).collect_view()}
                        </div>
                    }).collect_view()}
                </div>
            }
            .into_any()
        }
    }
}

fn column(c: ColumnView) -> impl IntoView {
    let rows = metric_rows(&c.summary);
    view! {
        <div class="lab-column" data-temperature=c.summary.temperature.to_string()>
            <h3>{format!("T = {}", c.summary.temperature)}</h3>
            <table class="metrics">
                {rows.into_iter().map(|(label, value, means)| view! {
                    <tr title=means><th>{label}</th><td>{value}</td></tr>
                }).collect_view()}
            </table>
            {c.lanes.into_iter().map(lane).collect_view()}
        </div>
    }
}

fn lane(l: LaneView) -> impl IntoView {
    let outcome = l.outcome.name();
    let head = format!(
        "sample {} · seed {} · {} tokens · {}{}",
        l.sample + 1,
        l.seed,
        l.tokens.len(),
        finish_text(l.finish),
        l.diverges_at
            .map(|d| format!(" · parts from greedy at token {d}"))
            .unwrap_or_default()
    );
    view! {
        <div class="lane" data-outcome=outcome.replace(' ', "-") data-lane=l.lane.to_string()>
            <div class="lane-head"><span class=format!("badge {}", outcome.replace(' ', "-"))>{outcome}</span>
                " " {head}</div>
            <div class="code">{code_lines(l.code)}</div>
            <p class="hint">{l.verdict}</p>
            <details class="lane-tokens">
                <summary>"tokens (fainter = less likely; underlined: where it parts from greedy)"</summary>
                <div class="tokens">
                    {l.tokens.into_iter().map(|t| {
                        let class = match t.diverged {
                            Divergence::Before => "token",
                            Divergence::At => "token diverge",
                            Divergence::After => "token after",
                        };
                        let title = format!("{:?}  p = {:.3}", t.piece, t.prob);
                        let style = format!("opacity: {:.2}", 0.35 + 0.65 * t.prob);
                        view! { <span class=class title=title style=style>{t.piece}</span> }
                    }).collect_view()}
                </div>
            </details>
            {l.diff.map(|d| view! {
                <details class="lane-diff">
                    <summary>"diff against the greedy sample"</summary>
                    <div class="code">{diff_rows(d)}</div>
                </details>
            })}
            {(!l.tests.is_empty()).then(|| view! {
                <ul class="lane-tests">
                    {l.tests.into_iter().map(|(test, verdict, message)| {
                        let class = format!("verdict {verdict}");
                        let data = verdict.clone();
                        view! {
                        <li class=class data-verdict=data>
                            <b>{verdict}</b> " " <code>{test}</code>
                            {(!message.is_empty()).then(|| format!(" — {message}"))}</li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}
