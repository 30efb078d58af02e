//! The generation's output as it streams: timings, the text, and the token view (each token
//! shaded by its probability, its alternatives on hover).

use leptos::prelude::*;

use crate::logic::token_title;
use crate::state::{Tok, Ui};

/// The output panel.
#[component]
pub fn Output(ui: Ui) -> impl IntoView {
    view! {
        <section class="panel">
            <p id="timing" data-finish=move || ui.finish.get().map(|f| format!("{f:?}")).unwrap_or_default()>
                {move || ui.timing.get()}</p>
            <pre id="output" data-done=move || ui.running.get().is_none().to_string()>{move || ui.output.get()}</pre>
            <details id="token-view" open>
                <summary>"tokens (hover for the alternatives; fainter = less likely)"</summary>
                <div id="tokens">
                    <For each=move || ui.tokens.get().into_iter().enumerate() key=|(i, _)| *i
                        children=move |(_, t): (usize, Tok)| view! {
                            <span class="token" title=token_title(&t.text, t.prob, &t.top)
                                data-prob=format!("{:.4}", t.prob)
                                style=format!("opacity: {:.2}", 0.35 + 0.65 * t.prob)>{t.text.clone()}</span>
                        }/>
                </div>
            </details>
        </section>
    }
}
