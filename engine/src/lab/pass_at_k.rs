//! pass@k: the chance that at least one of `k` samples passes, estimated without bias from `n`
//! samples of which `c` passed (Chen et al. 2021, "Evaluating Large Language Models Trained on
//! Code", §2.1; openai/human-eval `evaluation.py`, `estimate_pass_at_k`), and a bootstrap
//! interval over problems.

use crate::sampler::Rng;

/// `1 − C(n−c, k) / C(n, k)` in its stable product form `1 − Π_{i=n−c+1}^{n} (1 − k/i)`, which
/// never forms the binomials (they overflow long before n = 200). `None` when `k` is 0 or more
/// than `n`, or `c > n`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let miss: f64 = (n - c + 1..=n).map(|i| 1.0 - k as f64 / i as f64).product();
    Some(1.0 - miss)
}

/// A two-sided bootstrap interval for the mean of `values` (one value per problem): `resamples`
/// means of `values` drawn with replacement, and their `(1 − level)/2` and `(1 + level)/2`
/// quantiles (nearest rank). `None` for no values.
pub fn bootstrap_mean(
    values: &[f64],
    level: f64,
    resamples: usize,
    rng: &mut Rng,
) -> Option<Interval> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: f64 = (0..n)
                .map(|_| values[(rng.next_u64() % n as u64) as usize])
                .sum();
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64).ceil() as usize).clamp(1, resamples) - 1];
    let level = level.clamp(0.0, 1.0);
    Some(Interval {
        mean: values.iter().sum::<f64>() / n as f64,
        lo: at((1.0 - level) / 2.0),
        hi: at((1.0 + level) / 2.0),
    })
}

/// A mean and an interval around it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// The mean of the values.
    pub mean: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact ratio of binomials, in f64 (fine for small n).
    fn exact(n: u64, c: u64, k: u64) -> f64 {
        let choose = |n: u64, k: u64| -> f64 {
            if k > n {
                return 0.0;
            }
            (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product()
        };
        1.0 - choose(n - c, k) / choose(n, k)
    }

    #[test]
    fn the_estimator_matches_its_table_and_the_binomials() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-12);
        assert!(close(pass_at_k(5, 2, 2), 0.7));
        assert!(close(pass_at_k(200, 1, 100), 0.5));
        assert!(close(pass_at_k(10, 0, 3), 0.0));
        assert!(close(pass_at_k(5, 4, 2), 1.0)); // n − c < k
        assert!(close(pass_at_k(5, 5, 5), 1.0));
        assert!(close(pass_at_k(1, 1, 1), 1.0));
        // pass@1 is the plain pass rate.
        assert!(close(pass_at_k(20, 7, 1), 7.0 / 20.0));
        for (n, c, k) in [(10, 3, 2), (20, 5, 10), (30, 1, 7), (12, 11, 1)] {
            assert!(
                close(pass_at_k(n, c, k), exact(n as u64, c as u64, k as u64)),
                "{n} {c} {k}"
            );
        }
        // Large n stays finite and in range where the binomials overflow f64.
        let big = pass_at_k(2000, 3, 1000).expect("defined");
        assert!((0.0..=1.0).contains(&big) && big > 0.87, "{big}");
    }

    #[test]
    fn undefined_cases_say_so() {
        assert_eq!(pass_at_k(5, 2, 0), None);
        assert_eq!(pass_at_k(5, 2, 6), None);
        assert_eq!(pass_at_k(5, 6, 1), None);
    }

    #[test]
    fn the_bootstrap_interval_holds_the_mean_and_shrinks_to_a_point_for_equal_values() {
        let mut rng = Rng::new(3);
        let vals = [0.0, 1.0, 0.5, 1.0, 0.0, 0.25, 1.0, 0.75];
        let i = bootstrap_mean(&vals, 0.95, 2000, &mut rng).expect("interval");
        assert!((i.mean - 4.5 / 8.0).abs() < 1e-12);
        assert!(i.lo < i.mean && i.mean < i.hi, "{i:?}");
        assert!(i.lo >= 0.0 && i.hi <= 1.0);
        let same = bootstrap_mean(&[0.4; 6], 0.95, 100, &mut rng).expect("interval");
        assert!((same.lo - 0.4).abs() < 1e-12 && (same.hi - 0.4).abs() < 1e-12);
        assert_eq!(bootstrap_mean(&[], 0.95, 100, &mut rng), None);
    }
}
