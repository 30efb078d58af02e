//! Fuzzing the worker protocol (`kiln_web::protocol`): the messages the playground's UI (or a
//! hostile page's script, in the app's webview) sends the engine. Mutated `generate` and `lab`
//! messages are decoded and, when they decode, answered by the same code the worker and the app
//! run (`kiln_web::answer`) on the tiny model. No message may panic the engine (in wasm a panic
//! kills the worker) or hang it. See `kiln_tests::fuzz` for the method and `KILN_FUZZ_SECS`.

#![cfg(feature = "app")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::block_on;
use kiln_engine::lab::LabRequest;
use kiln_engine::post::{Language, PostOptions};
use kiln_engine::{DeviceChoice, GenerateRequest, Message, Prompt, SamplingParams};
use kiln_tests::fuzz::{Target, corpus, run};
use kiln_tests::{fixtures, load, read_model};
use kiln_web::answer;
use kiln_web::protocol::{ToWorker, decode, encode};

fn seeds() -> Vec<Vec<u8>> {
    let request = GenerateRequest {
        prompt: Prompt::Chat(vec![Message::user("Write add(a, b).")]),
        sampling: SamplingParams::default(),
        max_tokens: 4,
        stop: vec!["\n\n".into()],
        ignore_eos: false,
        stop_on_repetition: true,
    };
    let post = PostOptions {
        language: Some(Language::Python),
        chat: true,
        ..PostOptions::default()
    };
    let messages = [
        ToWorker::Generate {
            id: 1,
            request: GenerateRequest {
                prompt: Prompt::Raw("def add(a, b):".into()),
                ..request.clone()
            },
            post: Some(post.clone()),
        },
        ToWorker::Generate {
            id: 2,
            request: GenerateRequest {
                prompt: Prompt::Tokens(vec![1, 2, 3]),
                ..request.clone()
            },
            post: None,
        },
        ToWorker::Lab {
            id: 3,
            request: LabRequest {
                request: request.clone(),
                temperatures: vec![0.0, 0.7],
                samples: 2,
            },
            post,
        },
        ToWorker::Cancel { id: 1 },
        ToWorker::Hello,
    ];
    let mut out: Vec<Vec<u8>> = messages.iter().map(|m| encode(m).into_bytes()).collect();
    out.extend(corpus("protocol"));
    out
}

#[test]
fn worker_messages_never_crash_the_engine() {
    let engine = Arc::new(kiln_tests::tiny_engine());
    let target = Target {
        name: "protocol",
        tokens: &[
            b"{",
            b"[",
            b"\"",
            b",",
            b"-1",
            b"1e999",
            b"18446744073709551615",
            b"\"samples\": 1000000000,",
            b"\"max_tokens\": 18446744073709551615,",
            b"\"temperatures\": [",
            b"null",
        ],
        max_len: 64 * 1024,
        stack: 2 * 1024 * 1024,
        per_input: Duration::from_secs(20),
    };
    run(&target, seeds(), move |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        let Ok(msg) = decode::<ToWorker>(text) else {
            return false;
        };
        let emit = |_| {};
        let go_on = || ControlFlow::Continue(());
        match msg {
            ToWorker::Generate { id, request, post } => block_on(answer::generate(
                &engine,
                id,
                &request,
                post.as_ref(),
                &emit,
                &go_on,
            ))
            .is_ok(),
            ToWorker::Lab { id, request, post } => block_on(answer::lab(
                &engine,
                Vec::new(),
                id,
                &request,
                &post,
                &emit,
                &go_on,
            ))
            .is_ok(),
            _ => true,
        }
    });
}
