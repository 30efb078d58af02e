//! One sequence being decoded: its sampler (with its own rng), stream decoder, stop matcher and
//! repetition guard, and what it has produced so far. The generate loop feeds each lane the
//! logits of its last token; the lane chooses the next token and says whether it goes on.

use std::ops::ControlFlow;

use crate::error::Result;
use crate::repetition::RepetitionGuard;
use crate::request::{Event, Finish, GenerateRequest};
use crate::sampler::{Rng, Sampler, SamplingParams};
use crate::stop::{StopMatcher, StopStep};
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// What a lane does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Feed this token to the model and call [`Lane::advance`] with its logits.
    Next(u32),
    /// The lane is done (call [`Lane::finish`]).
    Done(Finish),
}

/// The per-sequence state of a generation.
pub(crate) struct Lane {
    sampler: Sampler,
    decoder: StreamDecoder,
    stops: StopMatcher,
    repetition: Option<RepetitionGuard>,
    max_tokens: usize,
    ignore_eos: bool,
    /// The text emitted so far (stop strings excluded).
    pub(crate) text: String,
    /// The chosen ids (end-of-generation excluded).
    pub(crate) tokens: Vec<u32>,
    /// Each chosen id's probability under the model, and the entropy (nats) it was drawn from.
    pub(crate) probs: Vec<f32>,
    pub(crate) entropies: Vec<f32>,
}

impl Lane {
    /// A lane for `req` sampling with `sampling` (in place of the request's own), whose sampler
    /// has seen `prompt` (for the penalties), drawing from `rng`.
    pub(crate) fn new(
        req: &GenerateRequest,
        sampling: &SamplingParams,
        prompt: &[u32],
        rng: Rng,
    ) -> Result<Self> {
        let mut sampler = Sampler::new(sampling, rng)?;
        for &t in prompt {
            sampler.accept(t);
        }
        Ok(Self {
            sampler,
            decoder: StreamDecoder::default(),
            stops: StopMatcher::new(&req.stop),
            repetition: req.stop_on_repetition.then(RepetitionGuard::default),
            max_tokens: req.max_tokens,
            ignore_eos: req.ignore_eos,
            text: String::new(),
            tokens: Vec::new(),
            probs: Vec::new(),
            entropies: Vec::new(),
        })
    }

    /// Chooses the next token from `logits` (the model's scores after the last token), reports
    /// it and any complete text through `on_event`, and checks every stop condition.
    pub(crate) fn advance(
        &mut self,
        tok: &Tokenizer,
        logits: &[f32],
        on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Step> {
        if self.tokens.len() >= self.max_tokens {
            return Ok(Step::Done(Finish::MaxTokens));
        }
        let id = self.sampler.sample(logits);
        self.sampler.accept(id);
        if tok.is_eog(id) && !self.ignore_eos {
            return Ok(Step::Done(Finish::Eos));
        }
        self.tokens.push(id);
        let (prob, top, entropy) = probabilities(logits, id, TOP_ALTERNATIVES);
        self.probs.push(prob);
        self.entropies.push(entropy);
        if on_event(Event::Token { id, prob, top }).is_break() {
            return Ok(Step::Done(Finish::Cancelled));
        }
        let Some(piece) = self.decoder.push(tok, id)? else {
            return Ok(Step::Next(id));
        };
        let (out, stop) = match self.stops.push(&piece) {
            StopStep::Emit(t) => (t, false),
            StopStep::Stop(t) => (t, true),
        };
        let degenerate = self.repetition.as_mut().is_some_and(|g| g.push(&out));
        if !out.is_empty() {
            self.text.push_str(&out);
            if on_event(Event::Text { text: out }).is_break() {
                return Ok(Step::Done(Finish::Cancelled));
            }
        }
        Ok(if stop {
            Step::Done(Finish::Stop)
        } else if degenerate {
            Step::Done(Finish::Repetition)
        } else {
            Step::Next(id)
        })
    }

    /// Emits what the decoder and the stop matcher still hold (unless a stop string or the
    /// caller ended the lane).
    pub(crate) fn finish(
        &mut self,
        tok: &Tokenizer,
        finish: Finish,
        on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<()> {
        if finish == Finish::Stop || finish == Finish::Cancelled {
            return Ok(());
        }
        let mut rest = self.decoder.flush(tok)?;
        rest = match self.stops.push(&rest) {
            StopStep::Emit(t) | StopStep::Stop(t) => t,
        };
        rest.push_str(&self.stops.finish());
        if !rest.is_empty() {
            self.text.push_str(&rest);
            let _ = on_event(Event::Text { text: rest });
        }
        Ok(())
    }
}

/// How many alternatives each `Token` event lists (the playground's token view shows them).
pub(crate) const TOP_ALTERNATIVES: usize = 5;

/// Softmax probability of `id` in `logits`, the `k` most likely ids with theirs (most likely
/// first; ties keep the lower id first), and the distribution's entropy in nats.
pub(crate) fn probabilities(logits: &[f32], id: u32, k: usize) -> (f32, Vec<(u32, f32)>, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Z = Σ e^(l − max) and Σ e^(l − max)·(l − max), so that H = ln Z − (Σ e·(l − max)) / Z;
    // −∞ logits (masked tokens) contribute nothing to either.
    let (mut sum, mut weighted) = (0.0f64, 0.0f64);
    for &l in logits {
        let x = f64::from(l - max);
        if x.is_finite() {
            let e = x.exp();
            sum += e;
            weighted += e * x;
        }
    }
    let entropy = if sum > 0.0 {
        (sum.ln() - weighted / sum).max(0.0) as f32
    } else {
        0.0
    };
    let p = |l: f32| (f64::from(l - max).exp() / sum) as f32;
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &l) in logits.iter().enumerate() {
        if best.len() == k && best.last().is_some_and(|&(_, b)| l <= b) {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= l);
        best.insert(at, (i as u32, l));
        best.truncate(k);
    }
    let top = best.into_iter().map(|(i, l)| (i, p(l))).collect();
    (logits.get(id as usize).map_or(0.0, |&l| p(l)), top, entropy)
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::{Lane, Step};
    use crate::request::{Finish, GenerateRequest, Prompt};
    use crate::sampler::{Rng, SamplingParams};
    use crate::tokenizer::{Specials, Tokenizer};

    /// A word-level vocabulary whose decoder concatenates tokens as they are.
    fn tokenizer() -> Tokenizer {
        let json = r#"{
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": null, "post_processor": null,
            "decoder": {"type": "Fuse"},
            "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {
                "<unk>": 0, "<eos>": 1, "def f(n):": 2, "\n": 3, "    if n % 3 == 0": 4,
                ": return False": 5, "    return True": 6
            }}
        }"#;
        let specials = Specials {
            eos: vec![1],
            ..Specials::default()
        };
        Tokenizer::from_json("test.json", json.as_bytes(), specials).expect("tokenizer")
    }

    /// Logits that make greedy decoding pick `id`.
    fn pick(id: u32) -> Vec<f32> {
        let mut l = vec![0.0; 7];
        l[id as usize] = 5.0;
        l
    }

    fn request(stop_on_repetition: bool) -> GenerateRequest {
        GenerateRequest {
            prompt: Prompt::Tokens(vec![2]),
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: 200,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition,
        }
    }

    /// Runs a lane over a logits sequence that loops on one line; returns how it ended and
    /// how many tokens it took.
    fn run_looping(stop_on_repetition: bool) -> (Finish, usize, String) {
        let tok = tokenizer();
        let mut lane = Lane::new(
            &request(stop_on_repetition),
            &SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            &[2],
            Rng::new(0),
        )
        .expect("lane");
        let mut script = vec![3]; // "def f(n):" then newline
        let looping = [4, 5, 3];
        let mut i = 0;
        let finish = loop {
            let next = script.pop().unwrap_or_else(|| {
                i += 1;
                looping[(i - 1) % looping.len()]
            });
            match lane.advance(&tok, &pick(next), &mut |_| ControlFlow::Continue(())) {
                Ok(Step::Next(id)) => assert_eq!(id, next),
                Ok(Step::Done(f)) => break f,
                Err(e) => panic!("{e}"),
            }
        };
        lane.finish(&tok, finish, &mut |_| ControlFlow::Continue(()))
            .expect("finish");
        (finish, lane.tokens.len(), lane.text)
    }

    #[test]
    fn a_looping_logits_sequence_ends_with_repetition_on_the_fourth_copy() {
        let (finish, n, text) = run_looping(true);
        assert_eq!(finish, Finish::Repetition);
        // "def f(n):" is the prompt; "\n" + 4 copies of three tokens.
        assert_eq!(n, 1 + 4 * 3);
        assert_eq!(text.matches("    if n % 3 == 0: return False\n").count(), 4);
    }

    #[test]
    fn without_the_guard_the_same_loop_runs_to_the_token_limit() {
        let (finish, n, _) = run_looping(false);
        assert_eq!((finish, n), (Finish::MaxTokens, 200));
    }

    #[test]
    fn end_of_generation_and_the_limit_still_win() {
        let tok = tokenizer();
        let req = request(true);
        let mut lane = Lane::new(&req, &req.sampling, &[2], Rng::new(0)).expect("lane");
        let step = lane.advance(&tok, &pick(1), &mut |_| ControlFlow::Continue(()));
        assert_eq!(step.ok(), Some(Step::Done(Finish::Eos)));
    }
}

#[cfg(test)]
mod probability_tests {
    use super::probabilities;

    #[test]
    fn top_alternatives_are_the_most_likely_in_order() {
        let logits = [0.5, 3.0, -1.0, 3.0, 2.0, f32::NEG_INFINITY, 1.0];
        let (p, top, _) = probabilities(&logits, 4, 3);
        let ids: Vec<u32> = top.iter().map(|&(i, _)| i).collect();
        assert_eq!(ids, [1, 3, 4]);
        let z: f32 = logits.iter().map(|&l| (l - 3.0).exp()).sum();
        assert!((p - (-1.0f32).exp() / z).abs() < 1e-6);
        assert!((top[0].1 - 1.0 / z).abs() < 1e-6);
        assert_eq!(top[2].1, p);
        let (_, all, _) = probabilities(&logits, 0, 10);
        assert_eq!(all.len(), logits.len());
        assert!((all.iter().map(|&(_, p)| p).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn entropy_is_that_of_the_softmax_and_ignores_masked_tokens() {
        // Four equal logits and a masked one: ln 4.
        let (_, _, h) = probabilities(&[1.0, 1.0, 1.0, 1.0, f32::NEG_INFINITY], 0, 2);
        assert!((h - 4f32.ln()).abs() < 1e-6, "{h}");
        // One certain token: 0.
        let (_, _, h) = probabilities(&[0.0, 100.0, f32::NEG_INFINITY], 1, 1);
        assert!(h.abs() < 1e-6, "{h}");
        // Against the definition on an uneven distribution.
        let l = [0.3f32, -1.2, 2.5, 0.0];
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        let want: f64 = l
            .iter()
            .map(|&x| {
                let p = f64::from(x).exp() / z;
                -p * p.ln()
            })
            .sum();
        let (_, _, h) = probabilities(&l, 0, 1);
        assert!((f64::from(h) - want).abs() < 1e-6, "{h} vs {want}");
    }
}
