//! Fuzzing what strangers hand kiln (`kiln_tests::fuzz`: seeded mutation, a bounded time per
//! target): GGUF files and the GGUF vocabulary, Hugging Face directories (config.json,
//! tokenizer.json, tokenizer_config.json, safetensors, the shard index), the real default
//! model's header, chat templates, sampling parameters, and every post-processing stage on
//! generated code. No input may panic, abort (stack overflow, out of memory) or take longer than
//! its limit; an error is the right answer to nonsense.
//!
//! CI runs each target for `KILN_FUZZ_SECS` (10 s by default); a release runs them longer:
//! `KILN_FUZZ_SECS=600 cargo test --release -p kiln-tests --test fuzz -- --test-threads=1`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::block_on;
use kiln_engine::format::gguf::Gguf;
use kiln_engine::post::{Language, PostOptions, process};
use kiln_engine::{
    ChatTemplate, DeviceChoice, GenerateRequest, Message, ModelFiles, Prompt, SamplingParams,
};
use kiln_tests::fuzz::{Target, corpus, run};
use kiln_tests::{default_model, fixtures, load, read_model};

const MIB: usize = 1 << 20;

fn gguf_fixtures() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for model in ["llama_gqa", "llama3_rope", "qwen2_bias"] {
        let dir = fixtures().join("tiny").join(model).join("gguf");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        out.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    out
}

/// A model that loaded generates two greedy tokens: the loaded weights and vocabulary are used,
/// not only parsed.
fn exercise(files: &ModelFiles) -> bool {
    let Ok(engine) = load(files, DeviceChoice::Cpu) else {
        return false;
    };
    let req = GenerateRequest {
        prompt: Prompt::Raw("ab".into()),
        sampling: SamplingParams::greedy(),
        max_tokens: 2,
        stop: vec![],
        ignore_eos: true,
        stop_on_repetition: false,
    };
    let _ = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())));
    true
}

#[test]
fn gguf_files_never_crash_the_loader() {
    let seeds = gguf_fixtures();
    let max_len = seeds.iter().map(Vec::len).max().unwrap() + 64 * 1024;
    let target = Target {
        name: "gguf",
        tokens: &[
            b"GGUF",
            b"\x08\x00\x00\x00",
            b"\x09\x00\x00\x00",
            b"\xff\xff\xff\xff",
            b"\x00\x00\x00\x00\x00\x00\x00\x00",
            b"general.alignment",
            b"llama.attention.head_count",
            b"tokenizer.ggml.tokens",
        ],
        max_len,
        stack: 2 * MIB,
        per_input: Duration::from_secs(20),
    };
    let mut seeds = seeds;
    seeds.extend(corpus("gguf"));
    run(&target, seeds, |bytes| {
        exercise(&ModelFiles::Gguf {
            name: "fuzz.gguf".into(),
            bytes: bytes.to_vec(),
        })
    });
}

/// The input names the directory and the file it replaces in its first byte.
#[test]
fn hugging_face_directories_never_crash_the_loader() {
    let mut dirs: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for d in [
        "llama_gqa/hf",
        "llama_gqa/hf_sharded",
        "qwen2_bias/hf",
        "qwen2_bias/hf_bf16",
    ] {
        match read_model(&fixtures().join("tiny").join(d)) {
            ModelFiles::HfDir(files) => dirs.push(files),
            ModelFiles::Gguf { .. } => unreachable!(),
        }
    }
    let mut seeds = Vec::new();
    for (i, files) in dirs.iter().enumerate() {
        for (j, content) in files.values().enumerate() {
            let mut s = vec![(i * 16 + j) as u8];
            s.extend_from_slice(content);
            seeds.push(s);
        }
    }
    seeds.extend(corpus("hf"));
    let max_len = seeds.iter().map(Vec::len).max().unwrap() + 64 * 1024;
    let dirs = Arc::new(dirs);
    let target = Target {
        name: "hf",
        tokens: &[
            b"{",
            b"[",
            b"\"",
            b"null",
            b"-1",
            b"1e999",
            b"18446744073709551615",
            b"\"head_dim\": 1099511627776,",
            b"\"num_hidden_layers\": 100000,",
            b"\"data_offsets\": [0, 18446744073709551615]",
        ],
        max_len,
        stack: 2 * MIB,
        per_input: Duration::from_secs(20),
    };
    run(&target, seeds, move |input| {
        let Some((&sel, content)) = input.split_first() else {
            return false;
        };
        let mut files = dirs[usize::from(sel / 16) % dirs.len()].clone();
        let Some(name) = files
            .keys()
            .nth(usize::from(sel % 16) % files.len())
            .cloned()
        else {
            return false;
        };
        files.insert(name, content.to_vec());
        exercise(&ModelFiles::HfDir(files))
    });
}

/// The default model's header (metadata with its 49,152-token vocabulary and merges, the
/// tensor table) mutated, the weights after it as they are.
#[test]
fn the_real_models_header_never_crashes_the_reader() {
    let Some(path) = default_model() else {
        return;
    };
    let file = Arc::new(std::fs::read(&path).unwrap());
    let head = (4 * MIB).min(file.len());
    let target = Target {
        name: "real-header",
        tokens: &[
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x00\x00\x00\x00",
            b"GGUF",
        ],
        max_len: head + 64 * 1024,
        stack: 2 * MIB,
        per_input: Duration::from_secs(20),
    };
    let seeds = vec![file[..head].to_vec()];
    run(&target, seeds, move |header| {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&file[head..]);
        Gguf::parse("fuzz.gguf", &bytes).is_ok()
    });
}

/// Templates as a model file could carry them: the fixtures' real ones and hostile ones (loops,
/// recursion, doubling strings), compiled and rendered on a conversation.
#[test]
fn chat_templates_never_crash_or_hang() {
    let mut seeds = corpus("templates");
    for d in ["llama_gqa", "qwen2_bias", "llama3_rope"] {
        let text = std::fs::read_to_string(
            fixtures()
                .join("tiny")
                .join(d)
                .join("hf/tokenizer_config.json"),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        seeds.push(v["chat_template"].as_str().unwrap().as_bytes().to_vec());
    }
    let target = Target {
        name: "templates",
        tokens: &[
            b"{%",
            b"%}",
            b"{{",
            b"}}",
            b"{% for m in messages %}",
            b"{% endfor %}",
            b"{% if true %}",
            b"{% endif %}",
            b"range(1000000)",
            b" ~ ",
            b" * 1000000",
            b"loop(",
            b"{% macro m() %}",
            b"{% endmacro %}",
            b"(",
            b"[",
        ],
        max_len: 256 * 1024,
        stack: MIB,
        per_input: Duration::from_secs(10),
    };
    run(&target, seeds, |src| {
        let src = String::from_utf8_lossy(src);
        let Ok(t) = ChatTemplate::new(&src, "<s>", "</s>") else {
            return false;
        };
        let messages = [
            Message {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            Message::user("Write a function."),
        ];
        t.render(&messages, true).is_ok()
    });
}

/// Sampling parameters as a request (JSON) could carry them, run on the tiny model.
#[test]
fn sampling_parameters_never_crash_a_generation() {
    let engine = Arc::new(kiln_tests::tiny_engine());
    let target = Target {
        name: "sampling",
        tokens: &[
            b"-",
            b"1e38",
            b"NaN",
            b"0.0",
            b"18446744073709551615",
            b"\"temperature\": ",
            b"\"top_k\": ",
            b",",
        ],
        max_len: 4096,
        stack: 2 * MIB,
        per_input: Duration::from_secs(10),
    };
    run(&target, corpus("sampling"), move |json| {
        let Ok(sampling) = serde_json::from_slice::<SamplingParams>(json) else {
            return false;
        };
        let req = GenerateRequest {
            prompt: Prompt::Tokens(vec![5, 6, 7]),
            sampling,
            max_tokens: 3,
            stop: vec![],
            ignore_eos: true,
            stop_on_repetition: false,
        };
        block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(()))).is_ok()
    });
}

/// Generated code (first line: language and `chat`/`raw`) through every stage: extraction or
/// stop-and-trim, the syntax check, truncation, formatting and integration into a file, on a
/// 1 MiB stack (a wasm worker's).
#[test]
fn post_processing_never_crashes_on_generated_code() {
    let target = Target {
        name: "code",
        tokens: &[
            b"(",
            b"[",
            b"{",
            b")",
            b"\"",
            b"'",
            b"\n",
            b"    ",
            b"\t",
            b"def f():\n",
            b"if x:\n",
            b"```",
            b"```python\n",
            b"1+",
            b"-",
            b"not ",
            b"lambda: ",
            b"\\",
            b"/*",
            b"<",
            b"a.",
            b"x = ",
            b"\xf0\x9f\x98\x80",
        ],
        max_len: 512 * 1024,
        stack: MIB,
        per_input: Duration::from_secs(30),
    };
    run(&target, corpus("code"), |input| {
        let text = String::from_utf8_lossy(input);
        let (head, body) = text.split_once('\n').unwrap_or(("", &text));
        let mut words = head.split_whitespace();
        let lang = Language::from_tag(words.next().unwrap_or(""));
        let chat = words.next() == Some("chat");
        let opts = PostOptions {
            language: Some(lang),
            chat,
            prompt: (!chat).then(|| "def add(a, b):\n".to_string()),
            hit_max_tokens: body.len() % 2 == 0,
            context: Some(kiln_engine::post::Context {
                prefix: "import os\n\nclass A:\n    def g(self):\n        ".into(),
                suffix: "\n\nprint(1)\n".into(),
            }),
            ..PostOptions::default()
        };
        let report = process(body, &opts);
        report.valid == Some(true)
    });
}
