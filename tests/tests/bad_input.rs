//! Bad input gets a clear error and never a panic: corrupt and hostile model files, broken
//! configuration, prompts beyond the context, nonsense parameters. Each case pins the message.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::ops::ControlFlow;

use futures_lite::future::block_on;
use kiln_engine::{DeviceChoice, Engine, GenerateRequest, ModelFiles, Prompt, SamplingParams};
use kiln_tests::{GgufWriter, fixtures, load, read_model};

fn gguf(bytes: Vec<u8>) -> ModelFiles {
    ModelFiles::Gguf {
        name: "bad.gguf".into(),
        bytes,
    }
}

fn load_err(files: &ModelFiles) -> String {
    match load(files, DeviceChoice::Cpu) {
        Ok(_) => panic!("loading succeeded but should have failed"),
        Err(e) => e.to_string(),
    }
}

/// Metadata of a one-layer Llama with hidden 4, ffn 8, 2 heads, and a 3-token vocabulary.
fn tiny_llama() -> GgufWriter {
    GgufWriter::default()
        .str("general.architecture", "llama")
        .u32("llama.context_length", 16)
        .u32("llama.embedding_length", 4)
        .u32("llama.feed_forward_length", 8)
        .u32("llama.block_count", 1)
        .u32("llama.attention.head_count", 2)
        .u32("llama.attention.head_count_kv", 2)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .str("tokenizer.ggml.model", "gpt2")
        .strs("tokenizer.ggml.tokens", &["a", "b", "ab"])
        .strs("tokenizer.ggml.merges", &["a b"])
        .i32s("tokenizer.ggml.token_type", &[1, 1, 1])
}

#[test]
fn truncated_header() {
    let mut b = tiny_llama().build();
    b.truncate(12);
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: truncated: needed 8 bytes at offset 8, file has 12"
    );
}

#[test]
fn truncated_real_file_is_caught_in_the_tensor_table_or_data() {
    let path = fixtures().join("tiny/llama_gqa/gguf/model-Q4_1.gguf");
    let full = std::fs::read(&path).expect("fixture");
    for cut in [full.len() / 3, full.len() / 2, full.len() - 1] {
        let err = load_err(&ModelFiles::Gguf {
            name: "cut.gguf".into(),
            bytes: full[..cut].to_vec(),
        });
        assert!(
            err.starts_with("cut.gguf: truncated:") || err.starts_with("cut.gguf: tensor `"),
            "cut at {cut}: {err}"
        );
        assert!(
            err.contains("past the end of the file") || err.contains("truncated"),
            "{err}"
        );
    }
}

#[test]
fn wrong_magic() {
    let mut b = tiny_llama().build();
    b[..4].copy_from_slice(b"GGML");
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: not a GGUF file: wrong magic [47, 47, 4d, 4c], expected \"GGUF\""
    );
}

#[test]
fn unsupported_version() {
    let mut b = tiny_llama().build();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: not a GGUF file: version 1 is not supported (supported: 2, 3)"
    );
}

#[test]
fn absurd_tensor_count_allocates_nothing() {
    let mut b = tiny_llama().build();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let left = b.len() - 16;
    assert_eq!(
        load_err(&gguf(b)),
        format!(
            "bad.gguf: not a GGUF file: tensor count 18446744073709551615 at offset 8 cannot fit in the {left} bytes left"
        )
    );
}

#[test]
fn absurd_string_length_allocates_nothing() {
    let mut b = tiny_llama().build();
    // The first key's length field follows the 24-byte header.
    b[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let left = b.len() - 32;
    assert_eq!(
        load_err(&gguf(b)),
        format!(
            "bad.gguf: not a GGUF file: string length count 1152921504606846976 at offset 24 cannot fit in the {left} bytes left"
        )
    );
}

#[test]
fn absurd_dimensions() {
    let b = tiny_llama()
        .tensor("token_embd.weight", &[1 << 40, 1 << 40], 0, vec![0; 64])
        .build();
    let err = load_err(&gguf(b));
    assert!(
        err.starts_with(
            "bad.gguf: not a GGUF file: tensor `token_embd.weight` has dimensions [1099511627776, 1099511627776] that overflow or do not fit F32 blocks"
        ),
        "{err}"
    );
    let b = tiny_llama()
        .tensor("token_embd.weight", &[4, 1 << 30], 0, vec![0; 64])
        .build();
    let err = load_err(&gguf(b));
    assert!(
        err.starts_with("bad.gguf: tensor `token_embd.weight` data ["),
        "{err}"
    );
    assert!(
        err.ends_with("lies past the end of the file (")
            || err.contains("past the end of the file"),
        "{err}"
    );
    let b = tiny_llama()
        .tensor("t", &[1, 1, 1, 1, 1], 0, vec![0; 4])
        .build();
    assert!(load_err(&gguf(b)).contains("tensor `t` has 5 dimensions (1..=4 allowed)"));
}

#[test]
fn unknown_tensor_type_is_named() {
    let b = tiny_llama()
        .tensor("token_embd.weight", &[256, 3], 23, vec![0; 64])
        .build();
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: tensor `token_embd.weight` has GGUF tensor type IQ4_XS (23), which is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
    );
}

#[test]
fn tensor_offset_past_the_end() {
    let b = tiny_llama()
        .f32_tensor("token_embd.weight", &[3, 4], |i| i as f32)
        .build();
    // Point the tensor's offset (the last 8 bytes of its table entry) far away.
    let data_start = b.len() - 64;
    let mut b = b;
    let at = b
        .windows(17)
        .position(|w| w == b"token_embd.weight")
        .expect("name")
        + 17
        + 4
        + 16
        + 4;
    b[at..at + 8].copy_from_slice(&4096u64.to_le_bytes());
    let len = b.len();
    assert_eq!(
        load_err(&gguf(b)),
        format!(
            "bad.gguf: tensor `token_embd.weight` data [{}, {}) lies past the end of the file ({len} bytes)",
            data_start + 4096,
            data_start + 4096 + 48
        )
    );
}

#[test]
fn missing_tensor() {
    let b = tiny_llama()
        .f32_tensor("token_embd.weight", &[3, 4], |_| 0.1)
        .build();
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: missing tensor `blk.0.attn_norm.weight`"
    );
}

#[test]
fn shape_mismatch() {
    let b = tiny_llama()
        .f32_tensor("token_embd.weight", &[3, 5], |_| 0.1)
        .build();
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: tensor `token_embd.weight` has shape [3, 5], expected [3, 4]"
    );
}

#[test]
fn unsupported_architecture() {
    let b = tiny_llama().str("general.architecture", "mamba").build();
    assert_eq!(
        load_err(&gguf(b)),
        "bad.gguf: architecture `mamba` is not supported (supported: llama, mistral, qwen2)"
    );
}

/// The file's tensor table entry for `name`: where its offset field is.
fn offset_field(b: &[u8], name: &[u8], n_dims: usize) -> usize {
    b.windows(name.len()).position(|w| w == name).expect("name") + name.len() + 4 + 8 * n_dims + 4
}

#[test]
fn a_gguf_that_contradicts_itself_is_refused() {
    // The same key twice: which value the writer meant is not kiln's to guess.
    let b = tiny_llama()
        .duplicate_str("general.architecture", "llama")
        .build();
    assert!(load_err(&gguf(b)).starts_with(
        "bad.gguf: not a GGUF file: metadata key `general.architecture` appears twice"
    ),);
    // The same tensor twice.
    let b = tiny_llama()
        .f32_tensor("token_embd.weight", &[3, 4], |_| 0.1)
        .f32_tensor("token_embd.weight", &[3, 4], |_| 0.2)
        .build();
    let err = load_err(&gguf(b));
    assert!(
        err.starts_with(
            "bad.gguf: not a GGUF file: tensor `token_embd.weight` appears twice in the tensor table"
        ),
        "{err}"
    );
    // An offset off the alignment: every weight would be read shifted.
    let mut b = tiny_llama()
        .f32_tensor("token_embd.weight", &[3, 4], |i| i as f32)
        .build();
    let at = offset_field(&b, b"token_embd.weight", 2);
    b[at..at + 8].copy_from_slice(&4u64.to_le_bytes());
    let err = load_err(&gguf(b));
    assert!(
        err.starts_with(
            "bad.gguf: not a GGUF file: tensor `token_embd.weight` has offset 4, not a multiple of general.alignment 32"
        ),
        "{err}"
    );
    // Head sizes that disagree: key length 2 (4 / 2 heads) against a value length or a rotary
    // dimension of another size.
    for (k, whence) in [
        (
            "llama.attention.value_length",
            "llama.embedding_length / llama.attention.head_count",
        ),
        (
            "llama.rope.dimension_count",
            "llama.embedding_length / llama.attention.head_count",
        ),
    ] {
        let err = load_err(&gguf(tiny_llama().u32(k, 4).build()));
        assert_eq!(
            err,
            format!(
                "bad.gguf: invalid model configuration: {k} = 4 disagrees with the head size 2 ({whence}); kiln supports heads whose keys, values and rotary part all have one size"
            )
        );
    }
    let err = load_err(&gguf(
        tiny_llama()
            .u32("llama.attention.key_length", 2)
            .u32("llama.attention.value_length", 8)
            .build(),
    ));
    assert!(
        err.contains("llama.attention.value_length = 8 disagrees with the head size 2 (llama.attention.key_length)"),
        "{err}"
    );
}

#[test]
fn a_head_size_of_2_to_the_40_is_refused_before_anything_is_allocated() {
    // Once an abort: the RoPE table was sized by it before any check.
    let err = load_err(&gguf(
        tiny_llama()
            .u64("llama.attention.key_length", 1 << 40)
            .build(),
    ));
    assert_eq!(
        err,
        "bad.gguf: invalid model configuration: head_dim 1099511627776 must be even and in 2..=1024 (RoPE pairs; no model has wider heads)"
    );
    let config =
        br#"{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_attention_heads":4,
        "num_hidden_layers":2,"rms_norm_eps":1e-5,"vocab_size":300,"max_position_embeddings":128,
        "head_dim":1099511627776}"#;
    assert_eq!(
        load_err(&hf_with("config.json", config)),
        "config.json: invalid model configuration: head_dim 1099511627776 must be even and in 2..=1024 (RoPE pairs; no model has wider heads)"
    );
}

fn hf_with(file: &str, contents: &[u8]) -> ModelFiles {
    let ModelFiles::HfDir(mut map) = read_model(&fixtures().join("tiny/llama_gqa/hf")) else {
        panic!("fixture is a directory")
    };
    map.insert(file.to_string(), contents.to_vec());
    ModelFiles::HfDir(map)
}

#[test]
fn invalid_config_json() {
    assert_eq!(
        load_err(&hf_with("config.json", b"{\"model_type\": \"llama\",")),
        "config.json: invalid model configuration: EOF while parsing a value at line 1 column 23"
    );
    let zero_heads =
        br#"{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_attention_heads":0,
        "num_hidden_layers":2,"rms_norm_eps":1e-5,"vocab_size":300,"max_position_embeddings":128}"#;
    assert_eq!(
        load_err(&hf_with("config.json", zero_heads)),
        "config.json: invalid model configuration: num_attention_heads = 0 is out of range (1..=16777216)"
    );
}

#[test]
fn invalid_tokenizer_json() {
    let err = load_err(&hf_with("tokenizer.json", b"{\"model\": 5}"));
    assert!(
        err.starts_with("tokenizer.json: tokenizer: invalid tokenizer.json: "),
        "{err}"
    );
}

#[test]
fn invalid_safetensors_header() {
    let mut bytes = 1u64.to_le_bytes().to_vec();
    bytes.extend(b"[");
    let err = load_err(&hf_with("model.safetensors", &bytes));
    assert!(
        err.starts_with("model.safetensors: invalid safetensors file: header is not a JSON object"),
        "{err}"
    );
    // A tensor whose data ends before it begins (with a shape whose size overflows, so that
    // the size check alone could not catch it), and one with a sane shape.
    for shape in ["[1099511627776,1099511627776,1099511627776]", "[1]"] {
        let header = format!(
            r#"{{"model.embed_tokens.weight":{{"dtype":"F32","shape":{shape},"data_offsets":[8,4]}}}}"#
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 16]);
        let err = load_err(&hf_with("model.safetensors", &bytes));
        assert!(
            err.starts_with(
                "model.safetensors: invalid safetensors file: tensor `model.embed_tokens.weight` has data_offsets [8, 4): its end precedes its begin"
            ),
            "{err}"
        );
    }
    let huge = (1u64 << 62).to_le_bytes();
    let err = load_err(&hf_with("model.safetensors", &huge));
    assert_eq!(
        err,
        "model.safetensors: invalid safetensors file: header length 4611686018427387904 does not fit in the 8 bytes of the file"
    );
}

fn tiny_engine() -> Engine {
    load(
        &read_model(&fixtures().join("tiny/llama_gqa/gguf/model-F32.gguf")),
        DeviceChoice::Cpu,
    )
    .expect("tiny model loads")
}

#[test]
fn a_broken_chat_template_still_lets_the_model_complete_raw_prompts() {
    let files = hf_with(
        "tokenizer_config.json",
        br#"{"chat_template": "{% for %}", "bos_token": "", "eos_token": ""}"#,
    );
    let engine = load(&files, DeviceChoice::Cpu).expect("the model loads despite its template");
    let t = engine.chat_template().expect("the template is kept");
    assert!(t.problem().is_some());
    let req = |prompt| GenerateRequest {
        prompt,
        sampling: SamplingParams::greedy(),
        max_tokens: 2,
        stop: vec![],
        ignore_eos: true,
        stop_on_repetition: false,
    };
    let raw = block_on(
        engine.generate(&req(Prompt::Raw("hello".into())), &mut |_| {
            ControlFlow::Continue(())
        }),
    );
    assert_eq!(raw.expect("raw completion").tokens.len(), 2);
    let chat = block_on(engine.generate(
        &req(Prompt::Chat(vec![kiln_engine::Message::user("hi")])),
        &mut |_| ControlFlow::Continue(()),
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        chat.starts_with("chat template: the model's chat template does not compile (")
            && chat.ends_with("raw prompts still work"),
        "{chat}"
    );
}

#[test]
fn prompt_longer_than_the_context() {
    let engine = tiny_engine();
    let req = GenerateRequest {
        prompt: Prompt::Tokens(vec![5; 200]),
        sampling: SamplingParams::greedy(),
        max_tokens: 4,
        stop: vec![],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    let err = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "prompt is 200 tokens; the context is 128 tokens (at least one must be left to generate)"
        )
    );
}

#[test]
fn invalid_sampling_parameters() {
    let engine = tiny_engine();
    let cases = [
        (
            SamplingParams {
                temperature: -1.0,
                ..Default::default()
            },
            "invalid parameter `temperature` = -1: a number in [0, 100]",
        ),
        (
            SamplingParams {
                top_p: 0.0,
                ..Default::default()
            },
            "invalid parameter `top_p` = 0: a number in (0, 1]",
        ),
        (
            SamplingParams {
                min_p: 2.0,
                ..Default::default()
            },
            "invalid parameter `min_p` = 2: a number in [0, 1]",
        ),
        (
            SamplingParams {
                repeat_penalty: 0.0,
                ..Default::default()
            },
            "invalid parameter `repeat_penalty` = 0: a number in (0, 10]",
        ),
        (
            SamplingParams {
                frequency_penalty: f32::INFINITY,
                ..Default::default()
            },
            "invalid parameter `frequency_penalty` = inf: a number in [-10, 10]",
        ),
    ];
    for (sampling, msg) in cases {
        let req = GenerateRequest {
            prompt: Prompt::Tokens(vec![5, 6]),
            sampling,
            max_tokens: 4,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition: false,
        };
        let err = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some(msg));
    }
}

#[test]
fn out_of_vocabulary_token_ids_are_rejected() {
    let engine = tiny_engine();
    let req = GenerateRequest {
        prompt: Prompt::Tokens(vec![5, 100_000]),
        sampling: SamplingParams::greedy(),
        max_tokens: 4,
        stop: vec![],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    let err = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("model-F32.gguf: tokenizer: token id 100000 is outside the model's vocabulary of 300")
    );
}

#[test]
fn context_full_is_a_finish_reason_not_an_error() {
    let engine = tiny_engine();
    let req = GenerateRequest {
        prompt: Prompt::Tokens(vec![5; 120]),
        sampling: SamplingParams::greedy(),
        max_tokens: 100,
        stop: vec![],
        ignore_eos: true,
        stop_on_repetition: false,
    };
    let g = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(()))).expect("generates");
    assert_eq!(g.finish, kiln_engine::Finish::ContextFull);
    assert_eq!(g.prompt_tokens.len() + g.tokens.len(), 128 + 1);
}
