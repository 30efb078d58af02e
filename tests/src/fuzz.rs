//! A seeded mutation fuzzer on stable Rust, for the readers and stages that take input from
//! strangers (model files, templates, parameters, protocol messages, generated code).
//!
//! Each target replays its seeds unchanged first (the committed corpus in `tests/fuzz/`, the
//! tiny fixtures, real headers: so every case that was ever found stays a regression test),
//! then mutates them — bit flips, random bytes, "interesting" integers written over the bytes
//! (0, -1, 2^31, 2^32, 2^40, u64::MAX, …), deleted, duplicated and spliced ranges, the target's
//! own tokens inserted, once or thousands of times (nesting bombs) — until its time is up.
//! Every input runs on its own thread with a fixed stack (a stack overflow aborts the whole
//! test binary: a crash, as it would be for a user) and a time limit; a panic or an input
//! slower than the limit fails the target, with the input saved and the seed printed.
//!
//! `KILN_FUZZ_SECS` (default 10) is each target's time; `KILN_FUZZ_SEED` replays a run (the
//! inputs depend only on the seed, not on the machine's speed).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// xorshift64*: small, fast and the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift has no state 0).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX as u64,
    u64::MAX,
];

/// One mutant of `input`: one to four edits; `tokens` are the target's own words, `others`
/// inputs to splice from; never longer than `max_len`.
pub fn mutate(
    rng: &mut Rng,
    input: &[u8],
    tokens: &[&[u8]],
    others: &[Vec<u8>],
    max_len: usize,
) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(9) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next_u64() as u8;
            }
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1, 2, 4, 8][rng.below(4)];
                let bytes = v.to_le_bytes();
                for (k, b) in bytes[..width].iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 => {
                let end = (at + 1 + rng.below(256)).min(out.len());
                let chunk = out[at.min(end)..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, chunk);
            }
            5 | 6 if !tokens.is_empty() => {
                let token = tokens[rng.below(tokens.len())];
                // Mostly once; sometimes a run of thousands (nesting, repetition).
                let times = if rng.below(2) == 0 {
                    1
                } else {
                    [8, 100, 1_000, 10_000, 100_000][rng.below(5)]
                };
                let run: Vec<u8> = token
                    .iter()
                    .copied()
                    .cycle()
                    .take(token.len() * times)
                    .collect();
                out.splice(at..at, run);
            }
            7 => out.truncate(at),
            _ if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len() + 1);
                let end = (from + 1 + rng.below(512)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => {}
        }
        out.truncate(max_len);
    }
    out
}

/// Each target's time (`KILN_FUZZ_SECS`, default 10 s).
pub fn budget() -> Duration {
    let secs = std::env::var("KILN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs)
}

/// The run's seed: `KILN_FUZZ_SEED`, or the clock's.
pub fn seed() -> u64 {
    std::env::var("KILN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// The committed corpus of one target: every file in `tests/fuzz/<target>/`.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = crate::fixtures().join("../fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// How one target's run went.
pub struct Report {
    /// Inputs run (seeds included).
    pub runs: usize,
    /// Inputs the target accepted (`f` returned true), against those it refused.
    pub accepted: usize,
    /// The slowest input's time.
    pub slowest: Duration,
}

/// A target's settings.
pub struct Target<'a> {
    /// Its name (messages, the saved input's file name).
    pub name: &'a str,
    /// The target's own words, for insertion.
    pub tokens: &'a [&'a [u8]],
    /// Longest mutant.
    pub max_len: usize,
    /// The thread's stack (the product's smallest: 1 MiB is a wasm worker's default).
    pub stack: usize,
    /// The slowest an input may be.
    pub per_input: Duration,
}

/// Runs `f` on every seed, then on mutants until [`budget`] is spent. `f` returns whether
/// the input was accepted (for the report); a panic or a slow input fails the run.
pub fn run(
    target: &Target,
    seeds: Vec<Vec<u8>>,
    f: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
) -> Report {
    assert!(!seeds.is_empty(), "{}: no seeds", target.name);
    let seed = seed();
    eprintln!(
        "fuzz {}: {} seeds, seed {seed} (KILN_FUZZ_SEED={seed} replays), {:.0} s",
        target.name,
        seeds.len(),
        budget().as_secs_f64()
    );
    let current = found_dir().join(format!("{}-current", target.name));
    eprintln!(
        "fuzz {}: an input that aborts the process is left in {}",
        target.name,
        current.display()
    );
    let f = Arc::new(f);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut report = Report {
        runs: 0,
        accepted: 0,
        slowest: Duration::ZERO,
    };
    let mut i = 0usize;
    loop {
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else if started.elapsed() < budget() {
            let base = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, base, target.tokens, &seeds, target.max_len)
        } else {
            break;
        };
        i += 1;
        // An abort (stack overflow, out of memory) ends the process before anything can be
        // saved: the input that caused it is left here.
        let _ = std::fs::write(&current, &input);
        let (tx, rx) = mpsc::channel();
        let (g, data) = (f.clone(), input.clone());
        let t0 = Instant::now();
        let spawned = std::thread::Builder::new()
            .stack_size(target.stack)
            .spawn(move || {
                let ok = g(&data);
                let _ = tx.send(ok);
            });
        let Ok(handle) = spawned else {
            panic!("{}: cannot start a thread", target.name);
        };
        let outcome = rx.recv_timeout(target.per_input);
        let took = t0.elapsed();
        match outcome {
            Ok(ok) => {
                let _ = handle.join();
                report.accepted += usize::from(ok);
            }
            Err(e) => {
                let what = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("took longer than {:?}", target.per_input)
                    }
                    mpsc::RecvTimeoutError::Disconnected => "panicked".to_string(),
                };
                let path = save(target.name, &input);
                panic!(
                    "fuzz {}: input {i} {what} (seed {seed}); saved as {} — add it to \
                     tests/fuzz/{}/ once fixed",
                    target.name,
                    path.display(),
                    target.name
                );
            }
        }
        report.slowest = report.slowest.max(took);
        report.runs += 1;
    }
    let _ = std::fs::remove_file(&current);
    eprintln!(
        "fuzz {}: {} inputs in {:.1} s, {} accepted, {} refused, slowest {:?}",
        target.name,
        report.runs,
        started.elapsed().as_secs_f64(),
        report.accepted,
        report.runs - report.accepted,
        report.slowest
    );
    report
}

fn found_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("kiln-fuzz-found");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn save(target: &str, input: &[u8]) -> PathBuf {
    let path = found_dir().join(format!("{target}-{:016x}", hash(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn hash(bytes: &[u8]) -> u64 {
    // FNV-1a: a stable name for the same input.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
