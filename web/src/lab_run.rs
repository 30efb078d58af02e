//! The lab's run in the playground: started from the form's settings with the engine's one
//! request builder, its lanes streamed into their columns as the worker decodes them, then —
//! when the lanes end — each usable sample tested in the browser's test workers (when tests were
//! given) and the run's record assembled by the same function `kiln lab` uses. A record can be
//! exported, imported (one made by `kiln lab --json` too) and run again to check it replays.
//! (The state itself, [`LabState`], lives with the rest of the UI's state in `state.rs`.)

use kiln_engine::Event;
use kiln_engine::lab::{
    BatchInvariance, LabRecord, LabRequest, LabRun, RecordMeta, differences, isolated_sampling,
    published_sampling, usable,
};
use kiln_engine::post::PostReport;
use leptos::prelude::*;

use crate::lab_logic::{record_file_name, replay_post_options};
use crate::logic::split_tests;
use crate::page::{replace_query, save_text};
use crate::protocol::ToWorker;
use crate::sandbox::{can_test, run_one, to_verdict};
use crate::state::{Form, LabState, LiveLane, Ui};

impl LabState {
    /// Starts a run of the form's prompt at the lab's temperatures.
    pub fn run(&self, ui: Ui, form: Form) {
        let built = form.settings().and_then(|mut s| {
            s.model_sha256 = ui.model.get_untracked().map(|m| m.sha256);
            replace_query(&format!("?{}", s.to_query()));
            let seed = s.request.sampling.seed;
            s.request.sampling = if s.lab.published {
                published_sampling(seed)
            } else {
                isolated_sampling(seed)
            };
            let post = s.request.post_options().unwrap_or_default();
            LabRequest::new(&s.request, s.lab.temperatures.clone(), s.lab.samples)
                .map(|r| (r, post))
                .map_err(|e| e.to_string())
        });
        match built {
            Ok((request, post)) => {
                self.replay_of.set_value(None);
                self.send(ui, request, post);
            }
            Err(e) => ui.error.set(e),
        }
    }

    /// Runs the shown record's request again; when it ends, says whether every lane gave the
    /// recorded tokens and text.
    pub fn replay(&self, ui: Ui) {
        let Some(record) = self.record.get_untracked() else {
            return;
        };
        if let Some(m) = ui.model.get_untracked()
            && !record.meta.model_sha256.iter().any(|(_, h)| *h == m.sha256)
        {
            ui.notice.set(format!(
                "this record was made with model {:?}; the loaded model is {}: lanes will differ",
                record.meta.model_sha256, m.sha256
            ));
        }
        let post = replay_post_options(&record);
        let request = record.run.request.clone();
        self.replay_of.set_value(Some(record.run));
        self.send(ui, request, post);
    }

    fn send(&self, ui: Ui, request: LabRequest, post: kiln_engine::post::PostOptions) {
        let id = ui.next_id();
        let lanes = request.temperatures.len() * request.samples;
        self.live.set(vec![LiveLane::default(); lanes]);
        self.live_temps.set(request.temperatures.clone());
        self.live_samples.set(request.samples);
        self.record.set(None);
        ui.error.set(String::new());
        self.status.set(format!(
            "decoding {lanes} lanes ({} temperatures × {}) together…",
            request.temperatures.len(),
            request.samples
        ));
        self.started_ms.set_value(js_sys::Date::now());
        self.running.set(Some(id));
        ui.send(&ToWorker::Lab { id, request, post }, &[]);
    }

    /// One lane's event from the worker.
    pub fn apply_lane(&self, id: u64, lane: usize, event: Event) {
        if self.running.get_untracked() != Some(id) {
            return;
        }
        self.live.update(|v| {
            let Some(l) = v.get_mut(lane) else {
                return;
            };
            match event {
                Event::Token { .. } => l.tokens += 1,
                Event::Text { text } => l.text.push_str(&text),
                Event::Done { finish, .. } => l.finish = Some(finish),
            }
        });
        let (tokens, done) = self.live.with_untracked(|v| {
            (
                v.iter().map(|l| l.tokens).sum::<usize>(),
                v.iter().filter(|l| l.finish.is_some()).count(),
            )
        });
        let secs = (js_sys::Date::now() - self.started_ms.get_value()) / 1000.0;
        let lanes = self.live.with_untracked(Vec::len);
        self.status.set(format!(
            "decoding: {done}/{lanes} lanes done · {tokens} tokens · {:.1} tok/s over all lanes",
            tokens as f64 / secs.max(1e-3)
        ));
    }

    /// The lanes ended: tests (if any) run in the browser, then the record is assembled.
    pub fn finish(
        &self,
        id: u64,
        run: LabRun,
        mut reports: Vec<PostReport>,
        invariance: Option<BatchInvariance>,
        meta: RecordMeta,
    ) {
        if self.running.get_untracked() != Some(id) {
            return;
        }
        let blocks = split_tests(&self.tests.get_untracked());
        let state = *self;
        leptos::task::spawn_local(async move {
            let testable: Vec<usize> = (0..reports.len())
                .filter(|&i| usable(&reports[i]) && can_test(reports[i].language))
                .collect();
            let tested = !blocks.is_empty() && reports.iter().any(|r| can_test(r.language));
            if tested {
                let total = reports.iter().filter(|r| usable(r)).count();
                for (n, &i) in testable.iter().enumerate() {
                    state.status.set(format!(
                        "testing sample {} of {total} in the browser's test workers…",
                        n + 1
                    ));
                    let mut verdicts = Vec::new();
                    for test in &blocks {
                        let t0 = js_sys::Date::now();
                        let (verdict, message) =
                            run_one(reports[i].language, &reports[i].code, test).await;
                        let ms = (js_sys::Date::now() - t0) as u64;
                        verdicts.push(to_verdict(test, &verdict, &message, ms));
                    }
                    reports[i].tests = Some(verdicts);
                }
            }
            let wall = run.wall_ms;
            let lanes = run.lanes.len();
            let tokens: usize = run.lanes.iter().map(|l| l.generation.tokens.len()).sum();
            let replayed = state.replay_of.get_value().map(|r| differences(&r, &run));
            let record = LabRecord::new(meta, run, &reports, tested, invariance);
            let mut status = format!(
                "{lanes} lanes decoded together: {tokens} tokens in {:.1} s ({:.1} tok/s over all lanes)",
                wall / 1000.0,
                tokens as f64 * 1000.0 / wall.max(1e-3)
            );
            if tested && testable.len() < record.outcomes.len() {
                status.push_str(" · samples that do not parse are not tested");
            }
            if let Some(b) = &record.invariance {
                status.push_str(&format!(" · batch invariance at T=0: {}", b.summary()));
            }
            match replayed {
                Some(d) if d.is_empty() => {
                    status = format!(
                        "replay: all {lanes} lanes gave the recorded tokens and text · {status}"
                    )
                }
                Some(d) => status = format!("replay differs: {} · {status}", d.join("; ")),
                None => {}
            }
            state.status.set(status);
            state.record.set(Some(record));
            state.running.set(None);
        });
    }

    /// Offers the shown record as a JSON download.
    pub fn export(&self, ui: Ui) {
        let Some(record) = self.record.get_untracked() else {
            return;
        };
        let saved = serde_json::to_string_pretty(&record)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                save_text(
                    &record_file_name(&record, js_sys::Date::now()),
                    "application/json",
                    &text,
                )
            });
        if let Err(e) = saved {
            ui.error.set(e);
        }
    }

    /// Shows a record read from a file (`kiln lab --json`'s or an exported one).
    pub fn import(&self, ui: Ui, name: &str, text: &str) {
        match serde_json::from_str::<LabRecord>(text) {
            Ok(record) => {
                self.live.set(Vec::new());
                self.status.set(format!(
                    "{name}: {} lanes recorded on {} ({}) with kiln {}",
                    record.run.lanes.len(),
                    record.meta.device,
                    record.meta.kernels,
                    record.meta.engine_version
                ));
                self.record.set(Some(record));
            }
            Err(e) => ui
                .error
                .set(format!("{name} is not a kiln lab record: {e}")),
        }
    }
}
