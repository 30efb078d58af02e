//! What the lab measures over the `k` samples of one temperature: how deterministic they are and
//! how diverse. Every definition here is the one docs/LAB.md states; each is table-tested.

use std::collections::HashSet;

/// Distinct outputs among `outputs` (exact text).
pub fn distinct_outputs<T: AsRef<str>>(outputs: &[T]) -> usize {
    outputs
        .iter()
        .map(AsRef::as_ref)
        .collect::<HashSet<_>>()
        .len()
}

/// The share of unordered pairs of samples whose texts are identical; `None` for fewer than two
/// samples.
pub fn exact_match_rate<T: AsRef<str>>(outputs: &[T]) -> Option<f64> {
    let (mut same, mut pairs) = (0usize, 0usize);
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[i + 1..] {
            pairs += 1;
            same += usize::from(a.as_ref() == b.as_ref());
        }
    }
    (pairs > 0).then(|| same as f64 / pairs as f64)
}

/// The share of `outputs` identical to `reference` (the lab's T = 0 output); `None` for none.
pub fn share_identical<T: AsRef<str>>(outputs: &[T], reference: &str) -> Option<f64> {
    let same = outputs.iter().filter(|o| o.as_ref() == reference).count();
    (!outputs.is_empty()).then(|| same as f64 / outputs.len() as f64)
}

/// The first token index at which `a` and `b` differ (the shorter one's length when one is a
/// prefix of the other); `None` when they are identical.
pub fn first_divergence(a: &[u32], b: &[u32]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(a.iter().zip(b).take_while(|(x, y)| x == y).count())
}

/// The median first-divergence index over the pairs of samples that differ (identical pairs never
/// diverge and are left out); `None` when no pair differs. For an even count, the lower middle.
pub fn median_first_divergence(samples: &[Vec<u32>]) -> Option<usize> {
    let mut at: Vec<usize> = Vec::new();
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            at.extend(first_divergence(a, b));
        }
    }
    at.sort_unstable();
    at.get(at.len().saturating_sub(1) / 2).copied()
}

/// distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
/// Conversation Models"): distinct token n-grams over all samples divided by all n-grams; `None`
/// when the samples hold no n-gram (all shorter than `n`) or `n` is 0.
pub fn distinct_n(samples: &[Vec<u32>], n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let mut seen: HashSet<&[u32]> = HashSet::new();
    let mut total = 0usize;
    for s in samples {
        for g in s.windows(n) {
            total += 1;
            seen.insert(g);
        }
    }
    (total > 0).then(|| seen.len() as f64 / total as f64)
}

/// Levenshtein distance between two token sequences (insert, delete, substitute: cost 1),
/// in one row of memory.
pub fn edit_distance(a: &[u32], b: &[u32]) -> usize {
    let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y {
                diag
            } else {
                1 + diag.min(up).min(row[j])
            };
            diag = up;
        }
    }
    row[b.len()]
}

/// The edit distance divided by the longer length: 0 for identical sequences, 1 for sequences
/// with nothing in common (two empty sequences: 0).
pub fn normalised_edit_distance(a: &[u32], b: &[u32]) -> f64 {
    let longest = a.len().max(b.len());
    if longest == 0 {
        0.0
    } else {
        edit_distance(a, b) as f64 / longest as f64
    }
}

/// The mean normalised edit distance over unordered pairs of samples; `None` for fewer than two.
pub fn mean_pairwise_edit_distance(samples: &[Vec<u32>]) -> Option<f64> {
    let (mut sum, mut pairs) = (0.0, 0usize);
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            sum += normalised_edit_distance(a, b);
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

/// The mean of `values`; `None` for none.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn determinism_counts_outputs_pairs_and_the_greedy_reference() {
        let outs = ["a", "b", "a", "a"];
        assert_eq!(distinct_outputs(&outs), 2);
        // Pairs: 6; identical: the three pairs among the "a"s.
        assert_eq!(exact_match_rate(&outs), Some(0.5));
        assert_eq!(share_identical(&outs, "a"), Some(0.75));
        assert_eq!(share_identical(&outs, "c"), Some(0.0));
        assert_eq!(exact_match_rate(&["only"]), None);
        assert_eq!(share_identical::<&str>(&[], "a"), None);
        assert_eq!(distinct_outputs::<&str>(&[]), 0);
    }

    #[test]
    fn divergence_is_the_first_differing_token() {
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 2, 4]), Some(2));
        assert_eq!(first_divergence(&[1, 2], &[1, 2, 3]), Some(2));
        assert_eq!(first_divergence(&[5], &[6]), Some(0));
        assert_eq!(first_divergence(&[1, 2], &[1, 2]), None);
        // Pairs: (0,1) at 1, (0,2) at 3, (1,2) at 1, and (0,3) identical, left out; lower
        // middle of [1, 1, 3, 1 (1,3), 3 (2,3)] sorted = [1, 1, 1, 3, 3] → 1.
        let s = vec![
            vec![1, 2, 3, 4],
            vec![1, 9],
            vec![1, 2, 3, 5],
            vec![1, 2, 3, 4],
        ];
        assert_eq!(median_first_divergence(&s), Some(1));
        assert_eq!(median_first_divergence(&[vec![1], vec![1]]), None);
    }

    #[test]
    fn distinct_n_is_unique_over_all_ngrams() {
        let s = vec![vec![1, 2, 1, 2], vec![1, 2, 3]];
        // Unigrams: 7, distinct {1, 2, 3}.
        assert_eq!(distinct_n(&s, 1), Some(3.0 / 7.0));
        // Bigrams: (1,2) (2,1) (1,2) | (1,2) (2,3) → 5, distinct 3.
        assert_eq!(distinct_n(&s, 2), Some(3.0 / 5.0));
        // Trigrams: (1,2,1) (2,1,2) | (1,2,3) → all distinct.
        assert_eq!(distinct_n(&s, 3), Some(1.0));
        assert_eq!(distinct_n(&s, 5), None);
        assert_eq!(distinct_n(&s, 0), None);
    }

    #[test]
    fn edit_distance_matches_its_table() {
        // kitten → sitting, on letters as tokens: 3.
        let t = |s: &str| s.bytes().map(u32::from).collect::<Vec<_>>();
        assert_eq!(edit_distance(&t("kitten"), &t("sitting")), 3);
        assert_eq!(edit_distance(&t("sitting"), &t("kitten")), 3);
        assert_eq!(edit_distance(&t(""), &t("abc")), 3);
        assert_eq!(edit_distance(&t("flaw"), &t("lawn")), 2);
        assert_eq!(edit_distance(&t("same"), &t("same")), 0);
        assert!((normalised_edit_distance(&t("kitten"), &t("sitting")) - 3.0 / 7.0).abs() < 1e-12);
        assert_eq!(normalised_edit_distance(&[], &[]), 0.0);
        assert_eq!(normalised_edit_distance(&[1, 2], &[3, 4]), 1.0);
        let s = vec![vec![1, 2], vec![1, 2], vec![3, 4]];
        // Pairs: 0, 1, 1 → 2/3.
        assert!((mean_pairwise_edit_distance(&s).expect("pairs") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(mean_pairwise_edit_distance(&s[..1]), None);
        assert_eq!(mean([1.0, 2.0]), Some(1.5));
        assert_eq!(mean(std::iter::empty()), None);
    }
}
