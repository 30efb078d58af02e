//! The engine's answers to the UI's requests, whatever carries them: the browser's Web Worker
//! (`worker.rs`) and the desktop app's native engine thread (`kiln app`) both run a generation or
//! a lab run through these functions, so that the UI sees the same messages from either. `emit`
//! sends one message to the UI; `go_on` says whether the request may go on (the UI's `Cancel`),
//! and is asked once per token.

use std::ops::ControlFlow;

use kiln_engine::lab::{LabRequest, RecordMeta, post_process};
use kiln_engine::post::{PostOptions, process};
use kiln_engine::{Engine, Event, Finish, GenerateRequest, ModelFiles};
use sha2::{Digest, Sha256};

use crate::protocol::{EngineHost, FromWorker, LoadedModel};

/// What the UI is told about a model just loaded into `engine`: the engine's own description
/// (file, architecture, sizes, a usable chat template, device), with what only the caller knows
/// — its hash, where the bytes came from, how long it took, which engine it is.
pub fn loaded_model(
    engine: &Engine,
    sha256: String,
    storage: &str,
    largest_tensor_bytes: u64,
    load_ms: f64,
    host: EngineHost,
) -> LoadedModel {
    let info = engine.info();
    LoadedModel {
        file: info.file.clone(),
        arch: info.arch.clone(),
        n_params: info.n_params,
        vocab_size: info.vocab_size,
        // A template that does not compile leaves the model for raw completion: start in raw.
        has_chat_template: engine
            .chat_template()
            .is_some_and(|t| t.problem().is_none()),
        sha256,
        from_cache: false,
        storage: storage.to_string(),
        device: engine.device().clone(),
        webgpu: None,
        largest_tensor_bytes,
        load_ms,
        engine: host,
    }
}

/// One generation: every event streamed with the token's text (and its alternatives' texts) for
/// the token view, then, if asked, the post-processing report.
pub async fn generate(
    engine: &Engine,
    id: u64,
    request: &GenerateRequest,
    post_opts: Option<&PostOptions>,
    emit: &dyn Fn(FromWorker),
    go_on: &dyn Fn() -> ControlFlow<()>,
) -> Result<(), String> {
    // The token's own text (the token view shows tokens, the output shows text).
    let text_of = |t: u32| engine.tokenizer().piece(t);
    let mut on_event = |event: Event| {
        let (piece, top_pieces) = match &event {
            Event::Token { id, top, .. } => (
                Some(text_of(*id)),
                top.iter().map(|&(t, _)| text_of(t)).collect(),
            ),
            _ => (None, Vec::new()),
        };
        emit(FromWorker::Event {
            id,
            event,
            piece,
            top_pieces,
        });
        go_on()
    };
    let generation = engine
        .generate(request, &mut on_event)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(opts) = post_opts {
        let mut opts = opts.clone();
        opts.hit_max_tokens = generation.finish == Finish::MaxTokens;
        let report = Box::new(process(&generation.text, &opts));
        emit(FromWorker::Post { id, report });
    }
    Ok(())
}

/// A lab run: every lane decoded together, each lane's events streamed as they come, then every
/// lane post-processed and (when a temperature is 0 and nothing was cancelled) the batch checked
/// for invariance — the same steps as `kiln lab`. `hashes` are the model's files and their
/// sha256, for the run's record.
pub async fn lab(
    engine: &Engine,
    hashes: Vec<(String, String)>,
    id: u64,
    request: &LabRequest,
    post_opts: &PostOptions,
    emit: &dyn Fn(FromWorker),
    go_on: &dyn Fn() -> ControlFlow<()>,
) -> Result<(), String> {
    let mut on_event = |lane: usize, event: Event| {
        // The alternatives stay with the engine: a lab run streams many lanes at once.
        let event = match event {
            Event::Token {
                id: token, prob, ..
            } => Event::Token {
                id: token,
                prob,
                top: Vec::new(),
            },
            other => other,
        };
        emit(FromWorker::Lane { id, lane, event });
        go_on()
    };
    let run = engine
        .lab(request, &mut on_event)
        .await
        .map_err(|e| e.to_string())?;
    let reports = run
        .lanes
        .iter()
        .map(|lane| post_process(lane, post_opts))
        .collect();
    let cancelled = go_on().is_break();
    let invariance = if !cancelled && request.temperatures.contains(&0.0) {
        let steps = request.request.max_tokens.min(32);
        let check = engine.batch_invariance(&request.request.prompt, run.lanes.len(), steps);
        Some(check.await.map_err(|e| e.to_string())?)
    } else {
        None
    };
    let meta = RecordMeta::new(engine, hashes);
    emit(FromWorker::LabDone {
        id,
        run: Box::new(run),
        reports,
        invariance,
        meta,
    });
    Ok(())
}

/// The model's sha256 (a GGUF: its file's; a Hugging Face set: the hash of each file's name and
/// hash, in name order) and each file's, by name, in hex: the cache key, the reproducible link's
/// pin and the lab record's.
pub fn model_hashes(files: &ModelFiles) -> (String, Vec<(String, String)>) {
    match files {
        ModelFiles::Gguf { name, bytes } => {
            let sha = hex(&Sha256::digest(bytes));
            (sha.clone(), vec![(name.clone(), sha)])
        }
        ModelFiles::HfDir(map) => {
            let mut set = Sha256::new();
            let mut each = Vec::with_capacity(map.len());
            for (name, bytes) in map {
                let digest = Sha256::digest(bytes);
                set.update(name.as_bytes());
                set.update(digest);
                each.push((name.clone(), hex(&digest)));
            }
            (hex(&set.finalize()), each)
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gguf_is_its_file_and_a_set_hashes_names_and_hashes_in_order() {
        let g = ModelFiles::Gguf {
            name: "m.gguf".into(),
            bytes: b"abc".to_vec(),
        };
        // sha256("abc"), FIPS 180-2's example.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            model_hashes(&g),
            (abc.to_string(), vec![("m.gguf".into(), abc.to_string())])
        );
        let set = |names: [&str; 2]| {
            ModelFiles::HfDir(
                names
                    .iter()
                    .map(|n| (n.to_string(), b"abc".to_vec()))
                    .collect(),
            )
        };
        let (a, each) = model_hashes(&set(["config.json", "model.safetensors"]));
        assert_eq!(each.len(), 2);
        assert!(each.iter().all(|(_, h)| h == abc));
        let (b, _) = model_hashes(&set(["config.json", "tokenizer.json"]));
        assert_ne!(a, b, "a file's name is part of the set's hash");
        assert_eq!(a.len(), 64);
    }
}
