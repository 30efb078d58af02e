//! The post-processing commands: `kiln check FILE` and `kiln generate` (whose answer is
//! post-processed unless `--raw`). Both print a
//! `PostReport` (human-readable, or JSON with `--json`), and fail when the code does not parse.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use kiln_engine::RequestSettings;
use kiln_engine::post::sandbox::{Limits, Outcome, TestCase, run_tests};
use kiln_engine::post::{Context, Language, PostOptions, PostReport, process};

/// Post-processing flags shared by `check` and `generate`.
#[derive(Args, Clone, Default)]
pub struct PostArgs {
    /// Language (default: the file's extension, or the fence tag of a chat answer).
    #[arg(long)]
    pub lang: Option<String>,
    /// Do not format the code.
    #[arg(long)]
    pub no_format: bool,
    /// Test code to run against the result in the sandbox (Python or JavaScript; repeatable:
    /// one verdict per file).
    #[arg(long = "tests")]
    pub tests: Vec<PathBuf>,
    /// The file the code goes into: text before the insertion point.
    #[arg(long = "context-prefix")]
    pub context_prefix: Option<PathBuf>,
    /// The file the code goes into: text after the insertion point.
    #[arg(long = "context-suffix")]
    pub context_suffix: Option<PathBuf>,
    /// Wall-clock limit per test run, in seconds.
    #[arg(long = "test-timeout", default_value_t = 10)]
    pub test_timeout: u64,
    /// Run tests without the operating-system jail (bubblewrap namespaces, Landlock, seccomp)
    /// where it is unavailable: only the harness's audit hook and limits contain the code.
    #[arg(long = "no-jail")]
    pub no_jail: bool,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

impl PostArgs {
    /// The language named by `--lang`, if any.
    pub fn language(&self) -> Result<Option<Language>> {
        match &self.lang {
            Some(tag) => match Language::from_tag(tag) {
                Language::Other => bail!(
                    "unknown language `{tag}` (known: python, javascript, typescript, rust, go, c, json)"
                ),
                l => Ok(Some(l)),
            },
            None => Ok(None),
        }
    }

    /// The surrounding file given by `--context-prefix` / `--context-suffix`, read.
    pub fn context(&self) -> Result<Option<Context>> {
        Ok(match (&self.context_prefix, &self.context_suffix) {
            (None, None) => None,
            (p, s) => Some(Context {
                prefix: p.as_deref().map(read).transpose()?.unwrap_or_default(),
                suffix: s.as_deref().map(read).transpose()?.unwrap_or_default(),
            }),
        })
    }

    /// The options for `process`, given what the command knows.
    pub fn options(&self, default_lang: Option<Language>) -> Result<PostOptions> {
        Ok(PostOptions {
            language: self.language()?.or(default_lang),
            format: !self.no_format,
            context: self.context()?,
            ..PostOptions::default()
        })
    }

    /// The request settings these flags decide (language, formatting, the surrounding file);
    /// the command fills in the rest.
    pub fn settings(&self) -> Result<RequestSettings> {
        Ok(RequestSettings {
            language: self.language()?,
            no_format: self.no_format,
            context: self.context()?,
            ..RequestSettings::default()
        })
    }

    /// Runs the tests (if any) against the report's code and stores the verdicts in it.
    pub fn run_tests(&self, report: &mut PostReport) -> Result<()> {
        if self.tests.is_empty() {
            return Ok(());
        }
        run_tests_on(report, "", &self.test_cases()?, &self.limits())
    }

    /// The `--tests` files, read.
    pub fn test_cases(&self) -> Result<Vec<TestCase>> {
        self.tests
            .iter()
            .map(|p| {
                Ok(TestCase {
                    name: p.display().to_string(),
                    code: read(p)?,
                })
            })
            .collect()
    }

    /// The sandbox limits, with `--test-timeout`.
    pub fn limits(&self) -> Limits {
        Limits {
            wall_ms: self.test_timeout.saturating_mul(1000),
            jail: !self.no_jail,
            ..Limits::default()
        }
    }
}

/// Runs `tests` against `preamble` + the report's code and stores the verdicts in it.
pub fn run_tests_on(
    report: &mut PostReport,
    preamble: &str,
    tests: &[TestCase],
    limits: &Limits,
) -> Result<()> {
    let code = format!("{preamble}{}", report.code);
    report.tests = Some(run_tests(&code, report.language, tests, limits)?);
    Ok(())
}

/// What the stages that changed the code did, in one clause ("nothing to change" if none did).
pub fn what_it_did(report: &PostReport) -> String {
    let done: Vec<&str> = report
        .stages
        .iter()
        .filter(|s| s.changed)
        .map(|s| s.summary.as_str())
        .collect();
    if done.is_empty() {
        "nothing to change".into()
    } else {
        done.join("; ")
    }
}

/// Prints a report: JSON on stdout, or the code on stdout and what happened on stderr.
/// Fails when the code does not parse or a test did not pass.
pub fn print_report(name: &str, report: &PostReport, json: bool, show_code: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        for d in &report.diagnostics {
            println!("{name}:{}:{}: error: {}", d.line, d.column, d.message);
        }
        if show_code {
            print!("{}", report.code);
        }
        if let Some(i) = &report.incomplete {
            eprintln!("kiln: {name}: {}", report.verdict());
            if !i.cut.trim().is_empty() {
                eprintln!("kiln: cut: {:?}", i.cut);
            }
        }
        if let Some(i) = &report.integration {
            for c in &i.clashes {
                eprintln!(
                    "kiln: clash: `{}` is already defined at line {} of the file (new at line {})",
                    c.name, c.file_line, c.code_line
                );
            }
        }
        for v in report.tests.iter().flatten() {
            let at = v.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            eprintln!(
                "kiln: test {}: {:?}{}{at} {} [{} ms]",
                v.test,
                v.outcome,
                v.kind
                    .as_deref()
                    .map(|k| format!(" ({k})"))
                    .unwrap_or_default(),
                v.message,
                v.wall_ms
            );
        }
        if report.valid == Some(true) && !show_code {
            println!("{name}: {} syntax OK", report.language.name());
        }
    }
    if report.valid == Some(false) {
        bail!("{name}: {} syntax error(s)", report.diagnostics.len());
    }

    let failed = report
        .tests
        .iter()
        .flatten()
        .filter(|v| v.outcome != Outcome::Pass)
        .count();
    if failed > 0 {
        bail!("{name}: {failed} test(s) did not pass");
    }
    Ok(())
}

/// `kiln check FILE`: the file is taken as complete code (no truncation).
pub fn check(file: &Path, args: &PostArgs, json: bool, print_formatted: bool) -> Result<()> {
    let code = read(file)?;
    let name = file.display().to_string();
    let mut opts = args.options(Some(Language::from_path(&name)))?;
    if opts.language == Some(Language::Other) || opts.language.is_none() {
        bail!(
            "{name}: no syntax checker for this file (supported: python, javascript, typescript, rust, json; use --lang)"
        );
    }
    opts.truncate = false;
    opts.stop_sequences = false;
    opts.format = opts.format && print_formatted;
    let mut report = process(&code, &opts);
    if !json {
        for s in &report.stages {
            eprintln!("kiln: {:<9} {}", s.stage, s.summary);
        }
    }
    if report.valid == Some(true) {
        args.run_tests(&mut report)?;
    }
    print_report(&name, &report, json, print_formatted)
}
