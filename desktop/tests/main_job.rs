//! The README's main job (`scripts/run.sh`) on the default model, through the real `kiln`
//! binary: exit status, the code block on stdout, the verdict and the speed on stderr. And the
//! temperature lab (`kiln lab`) on the same model, with tests in the sandbox.

use std::process::Command;

/// The prompt `scripts/run.sh` asks when none is given (checked against the script below).
const DEFAULT_PROMPT: &str = "Write a Python function that returns the factorial of n.";

fn kiln(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kiln: {e}"))
}

/// `kiln generate <mode flags> --model <default> --device cpu --chat --temp 0 -n <n> <prompt>`,
/// or `None` (with the reason printed) when the default model is not there.
fn greedy_chat(mode: &[&str], n: usize, prompt: &str) -> Option<std::process::Output> {
    let model = kiln_tests::default_model()?.to_string_lossy().into_owned();
    let n = n.to_string();
    let common = [
        "--model", &model, "--device", "cpu", "--chat", "--temp", "0", "-n", &n, prompt,
    ];
    Some(kiln(&[&["generate"], mode, &common[..]].concat()))
}

/// The default model's path when it and the Python sandbox (python3, the jail) are there;
/// otherwise `None`, with the reason printed — and a failure under `KILN_REQUIRE_SANDBOX=1`.
fn model_and_python(what: &str) -> Option<std::path::PathBuf> {
    let model = kiln_tests::default_model()?;
    if kiln_tests::interpreter_missing(kiln_engine::post::Language::Python) {
        eprintln!("SKIPPED: {what}");
        return None;
    }
    Some(model)
}

#[test]
fn run_sh_asks_the_prompt_this_test_checks() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run.sh"))
        .unwrap_or_else(|e| panic!("scripts/run.sh: {e}"));
    assert!(
        script.contains(DEFAULT_PROMPT),
        "scripts/run.sh asks another prompt"
    );
    assert!(
        script.contains("generate --chat --temp 0 -n 256"),
        "scripts/run.sh changed its flags"
    );
}

#[test]
fn the_main_job_prints_checked_code() {
    let Some(out) = greedy_chat(&[], 256, DEFAULT_PROMPT) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // The code, extracted from the fenced block (no fence, no prose around it).
    assert!(stdout.contains("def "), "no function on stdout:\n{stdout}");
    assert!(
        !stdout.contains("```"),
        "the fence was not removed:\n{stdout}"
    );
    // One line on stderr: the verdict, what post-processing did, the speed.
    let summary = stderr
        .lines()
        .find(|l| l.contains("syntax OK"))
        .unwrap_or_else(|| panic!("no syntax verdict on stderr:\n{stderr}"));
    assert!(summary.contains("python syntax OK"), "{summary}");
    assert!(summary.contains("tok/s"), "{summary}");
    assert!(summary.contains("fenced block"), "{summary}");
}

#[test]
fn raw_prints_the_models_text_untouched() {
    let (Some(raw), Some(post)) = (
        greedy_chat(&["--raw"], 48, DEFAULT_PROMPT),
        greedy_chat(&["--json"], 48, DEFAULT_PROMPT),
    ) else {
        return;
    };
    assert!(raw.status.success());
    // The JSON events carry the same text the raw mode printed, and a report after them.
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&post.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let text: String = lines
        .iter()
        .filter(|v| v["event"] == "text")
        .filter_map(|v| v["text"].as_str())
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&raw.stdout).trim_end(),
        text.trim_end()
    );
    let report = lines.last().expect("a report line");
    assert!(
        report["code"].is_string() && report["stages"].is_array(),
        "{report}"
    );
}

#[test]
fn an_answer_cut_by_the_token_limit_is_reported_incomplete() {
    let prompt = "Write a Python function that returns the square of a number.";
    let Some(out) = greedy_chat(&[], 12, prompt) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an incomplete answer must not exit 0:\n{stderr}"
    );
    assert!(stderr.contains("incomplete:"), "{stderr}");
    assert!(stderr.contains("raise max tokens"), "{stderr}");
}

/// A small lab run on the default model with a test file: 2 temperatures × 2 samples decoded
/// together, every sample post-processed, tested in the sandbox and classified; every metric
/// present and within its range; the greedy lanes agree and pass (the model writes a correct
/// factorial at T = 0, as the main job shows).
#[test]
fn a_small_lab_run_measures_every_temperature() {
    let Some(model) = model_and_python("the lab run with tests") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kiln-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tests = dir.join("test_factorial.py");
    std::fs::write(
        &tests,
        "assert factorial(0) == 1\nassert factorial(5) == 120\n",
    )
    .expect("write tests");
    let svg = dir.join("lab.svg").to_string_lossy().into_owned();
    let (model, tests) = (model.to_string_lossy(), tests.to_string_lossy());
    let out = kiln(&[
        "lab",
        "--model",
        &model,
        "--device",
        "cpu",
        "--chat",
        "--temps",
        "0,1",
        "-k",
        "2",
        "-n",
        "160",
        "--json",
        "--tests",
        &tests,
        "--svg",
        &svg,
        DEFAULT_PROMPT,
    ]);
    let chart = std::fs::read_to_string(dir.join("lab.svg")).expect("the chart was written");
    assert!(
        chart.starts_with("<svg") && chart.contains("pass@2"),
        "{chart}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    // The record replays: the same request on the same model gives every lane's tokens again.
    let record = dir.join("run.json");
    std::fs::write(&record, &out.stdout).expect("write record");
    let record_path = record.to_string_lossy();
    let again = kiln(&[
        "lab",
        "--model",
        &model,
        "--device",
        "cpu",
        "--replay",
        &record_path,
    ]);
    let replayed = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{replayed}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        replayed.contains("all 4 lanes gave the recorded tokens"),
        "{replayed}"
    );
    // A record edited to claim other tokens does not.
    let mut edited: serde_json::Value = serde_json::from_slice(&out.stdout).expect("record");
    let first = &mut edited["run"]["lanes"][3]["generation"]["tokens"][0];
    *first = serde_json::json!(first.as_u64().expect("a token id") + 1);
    std::fs::write(&record, edited.to_string()).expect("write edited record");
    let differs = kiln(&[
        "lab",
        "--model",
        &model,
        "--device",
        "cpu",
        "--replay",
        &record_path,
    ]);
    let said = String::from_utf8_lossy(&differs.stdout);
    assert!(!differs.status.success(), "{said}");
    assert!(
        said.contains("T=1 sample 1: tokens part at index 0"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let rec: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{stderr}"));
    let lanes = rec["run"]["lanes"].as_array().expect("lanes");
    assert_eq!(lanes.len(), 4);
    let outcomes: Vec<&str> = rec["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| o.as_str().expect("outcome name"))
        .collect();
    let known = [
        "syntax_error",
        "runtime_error",
        "timeout",
        "wrong_answer",
        "passed",
    ];
    assert!(outcomes.iter().all(|o| known.contains(o)), "{outcomes:?}");
    assert_eq!(outcomes[..2], ["passed", "passed"], "the greedy lanes pass");
    assert_eq!(
        lanes[0]["generation"]["tokens"], lanes[1]["generation"]["tokens"],
        "the greedy lanes agree"
    );
    let rows = rec["summary"].as_array().expect("summary");
    assert_eq!(rows.len(), 2);
    let unit = |v: &serde_json::Value| v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x));
    for r in rows {
        assert_eq!(r["samples"], 2, "{r}");
        for key in [
            "syntax_error_rate",
            "exact_match_rate",
            "identical_to_greedy",
            "mean_edit_distance",
        ] {
            assert!(unit(&r[key]), "{key}: {r}");
        }
        assert!(
            r["distinct_n"]
                .as_array()
                .expect("distinct_n")
                .iter()
                .all(unit),
            "{r}"
        );
        let pass_at = r["pass_at"].as_array().expect("pass_at");
        assert_eq!(pass_at.len(), 2, "pass@1 and pass@2: {r}");
        assert!(pass_at.iter().all(|p| unit(&p[1])), "{r}");
        assert!(r["mean_logprob"].as_f64().is_some_and(|l| l <= 0.0), "{r}");
        assert!(r["mean_entropy"].as_f64().is_some_and(|h| h >= 0.0), "{r}");
    }
    assert_eq!(rows[0]["distinct_outputs"], 1, "{}", rows[0]);
    // The two identical greedy programs parse: one structure among two.
    assert_eq!(
        (&rows[0]["distinct_structures"], &rows[0]["structured"]),
        (&serde_json::json!(1), &serde_json::json!(2)),
        "{}",
        rows[0]
    );
    // Every lane keeps its tokens' texts, for token views of the record.
    for l in lanes {
        let n = l["generation"]["tokens"].as_array().map_or(0, Vec::len);
        assert_eq!(l["pieces"].as_array().map_or(0, Vec::len), n, "{l}");
    }
    // The host path is batch-invariant: the greedy lane alone and in a 4-lane batch, bit for bit.
    let inv = &rec["invariance"];
    assert_eq!(inv["lanes"], 4, "{inv}");
    assert_eq!(inv["same_tokens"], true, "{inv}");
    assert_eq!(inv["max_abs_logit_diff"], 0.0, "{inv}");
    assert_eq!(rows[0]["pass_at"][0][1], 1.0, "{}", rows[0]);
    assert!(stderr.contains("decoded together"), "{stderr}");
}

/// `kiln eval` on the first three problems of the built-in easy set at T = 0: pass@1 per
/// temperature from the sandbox, results appended to a file; a rerun resumes (nothing left to
/// do, the same table), and a rerun with other settings is refused.
#[test]
fn eval_measures_pass_at_1_and_resumes() {
    let Some(model) = model_and_python("kiln eval") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("kiln-eval-test-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let (model, out_path) = (model.to_string_lossy(), out.to_string_lossy());
    let eval = |temps: &str| {
        kiln(&[
            "eval",
            "--model",
            &model,
            "--device",
            "cpu",
            "--set",
            "easy",
            "--limit",
            "3",
            "--temps",
            temps,
            "-n",
            "1",
            "--max-tokens",
            "160",
            "--out",
            &out_path,
            "--json",
        ])
    };
    let first = eval("0");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON rows");
    assert_eq!(rows[0]["problems"], 3, "{rows}");
    let p1 = rows[0]["pass_at"][0][1].as_f64().expect("pass@1");
    assert!((0.0..=1.0).contains(&p1), "{rows}");
    // add, is_even, factorial: the greedy chat answers of the default model pass at least one.
    assert!(p1 > 0.0, "{rows}");
    let lines = std::fs::read_to_string(&out).expect("results file");
    assert_eq!(
        lines.lines().count(),
        1 + 3,
        "settings line + one per sample:\n{lines}"
    );

    let again = eval("0");
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("3 of 3 problems already done"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        again.stdout, first.stdout,
        "a resumed run reports the same table"
    );
    assert_eq!(
        std::fs::read_to_string(&out)
            .expect("results")
            .lines()
            .count(),
        4
    );

    let other = eval("0,1");
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("other settings"));
    let _ = std::fs::remove_file(&out);
}
