//! The README's main job (`scripts/run.sh`) on the default model, through the real `kiln`
//! binary: exit status, the code block on stdout, the verdict and the speed on stderr.

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
