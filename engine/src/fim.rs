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
    let [pre, suf, mid] = fim_tokens(tok)?;
    Some(format!("{pre}{prefix}{suf}{suffix}{mid}"))
}
