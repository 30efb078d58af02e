//! Fill-in-the-middle prompts: the code before and after a gap, in the spelling of the model's
//! own FIM tokens (prefix, suffix, middle — the "PSM" order these models were trained on), so
//! that the model writes the gap. Models without such tokens cannot be asked this way.

use crate::tokenizer::Tokenizer;

/// FIM token spellings of the families that have them: prefix, suffix, middle.
const SPELLINGS: [[&str; 3]; 3] = [
    // Qwen2.5-Coder (tokenizer_config.json), CodeGemma.
    ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
    // StarCoder, StarCoder2, SantaCoder.
    ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
    // DeepSeek-Coder: begin, hole, end.
    ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
];

/// The model's FIM token texts (prefix, suffix, middle), if its vocabulary has a full set.
pub fn fim_tokens(tok: &Tokenizer) -> Option<[&'static str; 3]> {
    SPELLINGS
        .into_iter()
        .find(|set| set.iter().all(|t| tok.token_id(t).is_some()))
}

/// The prompt that asks the model for the text between `prefix` and `suffix`, or `None` when
/// its vocabulary has no FIM tokens.
pub fn fim_prompt(tok: &Tokenizer, prefix: &str, suffix: &str) -> Option<String> {
    Some(fim_text(fim_tokens(tok)?, prefix, suffix))
}

/// The FIM prompt in the given token spellings ([`fim_tokens`]): prefix, suffix, then the
/// middle marker the model continues from.
pub fn fim_text([pre, suf, mid]: [&str; 3], prefix: &str, suffix: &str) -> String {
    format!("{pre}{prefix}{suf}{suffix}{mid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Specials;

    fn tokenizer(added: &[&str]) -> Tokenizer {
        let vocab: Vec<String> = ["<unk>", "def", " f", "():", "\n", "pass"]
            .iter()
            .chain(added)
            .enumerate()
            .map(|(i, t)| format!("{}: {i}", serde_json::to_string(t).unwrap_or_default()))
            .collect();
        let added_tokens: Vec<String> = added
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    r#"{{"id": {}, "content": {}, "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true}}"#,
                    6 + i,
                    serde_json::to_string(t).unwrap_or_default()
                )
            })
            .collect();
        let json = format!(
            r#"{{"version": "1.0", "truncation": null, "padding": null,
                "added_tokens": [{}], "normalizer": null, "pre_tokenizer": null,
                "post_processor": null, "decoder": {{"type": "Fuse"}},
                "model": {{"type": "WordLevel", "unk_token": "<unk>", "vocab": {{{}}}}}}}"#,
            added_tokens.join(","),
            vocab.join(",")
        );
        Tokenizer::from_json("test.json", json.as_bytes(), Specials::default()).expect("tokenizer")
    }

    #[test]
    fn each_family_gets_its_own_spelling_and_a_model_without_fim_gets_none() {
        let qwen = tokenizer(&["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
        assert_eq!(
            fim_prompt(&qwen, "def f():\n", "\npass").as_deref(),
            Some("<|fim_prefix|>def f():\n<|fim_suffix|>\npass<|fim_middle|>")
        );
        // The markers tokenize as the special tokens, not as text.
        let ids = qwen
            .encode_plain("<|fim_prefix|>def<|fim_suffix|>pass<|fim_middle|>")
            .expect("encode");
        assert_eq!(ids, [6, 1, 7, 5, 8]);
        let star = tokenizer(&["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]);
        assert_eq!(fim_tokens(&star), Some(SPELLINGS[1]));
        // Two of three markers are not a set.
        let partial = tokenizer(&["<fim_prefix>", "<fim_suffix>"]);
        assert_eq!(fim_prompt(&partial, "a", "b"), None);
        assert_eq!(fim_tokens(&tokenizer(&[])), None);
    }
}
