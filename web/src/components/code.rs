//! Code with its syntax errors on their lines: numbered lines, a line with an error tinted, and
//! under it a caret at the error's column with `line:column: message`, as a compiler prints it.
//! The generate view's report and the lab's lane cards both show code this way.

use leptos::prelude::*;

use crate::logic::{CodeLine, DiffLine};

/// The lines' rows (to go inside a `.code` block).
pub fn code_lines(lines: Vec<CodeLine>) -> impl IntoView {
    lines
        .into_iter()
        .map(|l| {
            let bad = !l.errors.is_empty();
            let number = l.number;
            view! {
                <div class="line" class:bad=bad>
                    <span class="ln">{number}</span><span class="src">{l.text}</span>
                </div>
                {l.errors.into_iter().map(|(col, msg)| view! {
                    <div class="marker"><span class="ln"></span>
                        <span class="src">{format!("{}^ {number}:{col}: {msg}", " ".repeat(col.saturating_sub(1)))}</span></div>
                }).collect_view()}
            }
        })
        .collect_view()
}

/// A line diff's rows (to go inside a `.code` block): added lines green, removed ones red.
pub fn diff_rows(diff: Vec<DiffLine>) -> impl IntoView {
    diff.into_iter()
        .map(|d| {
            let class = match d.sign {
                '+' => "line add",
                '-' => "line del",
                _ => "line",
            };
            view! {
                <div class=class><span class="ln">{d.sign.to_string()}</span><span class="src">{d.text}</span></div>
            }
        })
        .collect_view()
}
