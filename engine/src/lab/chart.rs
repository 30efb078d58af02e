//! The lab's charts as plain SVG text, one function for the CLI (`kiln lab --svg`) and the
//! playground: pass@k against temperature (a line per k), the outcomes of the samples stacked per
//! temperature, and determinism and diversity against temperature. Temperatures are placed in
//! the run's order, evenly spaced (the lab's grid is usually 0, 0.3, 0.7, 1, 1.5).

use std::fmt::Write;

use super::outcome::Outcome;
use super::summary::TemperatureSummary;

const W: f64 = 400.0;
const H: f64 = 260.0;
const LEFT: f64 = 44.0;
/// The right margin holds the legend.
const RIGHT: f64 = 104.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const PALETTE: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// Every chart for `rows`, side by side in one SVG document: pass@k (when the run had tests),
/// outcomes, determinism and diversity.
pub fn svg(rows: &[TemperatureSummary]) -> String {
    let mut panels: Vec<String> = Vec::new();
    let ks: Vec<usize> = rows
        .first()
        .map(|r| r.pass_at.iter().map(|&(k, _)| k).collect())
        .unwrap_or_default();
    if !ks.is_empty() {
        let series: Vec<(String, Vec<Option<f64>>)> = ks
            .iter()
            .map(|&k| {
                let ys = rows
                    .iter()
                    .map(|r| r.pass_at.iter().find(|&&(x, _)| x == k).map(|&(_, p)| p))
                    .collect();
                (format!("pass@{k}"), ys)
            })
            .collect();
        panels.push(lines("pass@k", rows, &series));
    }
    panels.push(outcomes(rows));
    let series = vec![
        (
            "exact match".to_string(),
            rows.iter().map(|r| r.exact_match_rate).collect(),
        ),
        (
            "= greedy".to_string(),
            rows.iter().map(|r| r.identical_to_greedy).collect(),
        ),
        (
            "distinct-2".to_string(),
            rows.iter().map(|r| r.distinct_n[1]).collect(),
        ),
        (
            "edit distance".to_string(),
            rows.iter().map(|r| r.mean_edit_distance).collect(),
        ),
        (
            "shapes ÷ k".to_string(),
            rows.iter()
                .map(|r| {
                    r.distinct_structures
                        .map(|d| d as f64 / r.samples.max(1) as f64)
                })
                .collect(),
        ),
    ];
    panels.push(lines("determinism and diversity", rows, &series));
    let width = W * panels.len() as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{H}\" \
         viewBox=\"0 0 {width} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n"
    );
    for (i, p) in panels.iter().enumerate() {
        let _ = writeln!(
            out,
            "<g transform=\"translate({})\">\n{p}</g>",
            W * i as f64
        );
    }
    out.push_str("</svg>\n");
    out
}

/// x of the `i`-th of `n` temperatures.
fn x_at(i: usize, n: usize) -> f64 {
    let span = W - LEFT - RIGHT;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * (0.08 + 0.84 * i as f64 / (n - 1) as f64)
    }
}

/// y of a value in [0, 1].
fn y_at(v: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - v.clamp(0.0, 1.0))
}

/// The frame: title, y grid 0–1, temperature labels on x.
fn frame(title: &str, rows: &[TemperatureSummary], y_label: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"16\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        escape(title)
    );
    for g in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = y_at(g);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{g}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_at(i, rows.len()),
            H - BOTTOM + 14.0,
            r.temperature
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">temperature</text>\
         <text x=\"10\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 10 {:.1})\">{}</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 8.0,
        TOP + (H - TOP - BOTTOM) / 2.0,
        TOP + (H - TOP - BOTTOM) / 2.0,
        escape(y_label)
    );
    s
}

/// A line per series over the temperatures (a gap where a value is undefined), with a legend.
fn lines(
    title: &str,
    rows: &[TemperatureSummary],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let mut s = frame(title, rows, "share");
    for (j, (name, ys)) in series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let points: Vec<String> = ys
            .iter()
            .enumerate()
            .filter_map(|(i, y)| y.map(|y| format!("{:.1},{:.1}", x_at(i, rows.len()), y_at(y))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline class=\"series\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for p in &points {
            if let Some((x, y)) = p.split_once(',') {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{color}\"/>"
                );
            }
        }
        let ly = TOP + 4.0 + 13.0 * j as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - RIGHT + 8.0,
            ly - 3.0,
            W - RIGHT + 22.0,
            ly + 1.0,
            escape(name)
        );
    }
    s
}

/// The samples' outcomes stacked per temperature, as shares of the samples.
fn outcomes(rows: &[TemperatureSummary]) -> String {
    let mut s = frame("outcomes", rows, "share of samples");
    let bar = ((W - LEFT - RIGHT) / rows.len().max(1) as f64 * 0.5).min(36.0);
    let used: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| {
            rows.iter()
                .any(|r| r.outcomes.iter().any(|(x, n)| x == o && *n > 0))
        })
        .collect();
    for (i, r) in rows.iter().enumerate() {
        let mut acc = 0.0;
        for o in &used {
            let n = r
                .outcomes
                .iter()
                .find(|(x, _)| x == o)
                .map_or(0, |&(_, n)| n);
            if n == 0 || r.samples == 0 {
                continue;
            }
            let share = n as f64 / r.samples as f64;
            let (y0, y1) = (y_at(acc + share), y_at(acc));
            let _ = writeln!(
                s,
                "<rect class=\"outcome\" x=\"{:.1}\" y=\"{y0:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {n}/{}</title></rect>",
                x_at(i, rows.len()) - bar / 2.0,
                y1 - y0,
                outcome_color(*o),
                o.name(),
                r.samples
            );
            acc += share;
        }
    }
    for (j, o) in used.iter().enumerate() {
        let ly = TOP + 4.0 + 13.0 * j as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"8\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - RIGHT + 8.0,
            ly - 7.0,
            outcome_color(*o),
            W - RIGHT + 22.0,
            ly + 1.0,
            o.name()
        );
    }
    s
}

fn outcome_color(o: Outcome) -> &'static str {
    match o {
        Outcome::SyntaxError => "#d62728",
        Outcome::RuntimeError => "#ff7f0e",
        Outcome::Timeout => "#9467bd",
        Outcome::WrongAnswer => "#bcbd22",
        Outcome::Passed => "#2ca02c",
        Outcome::Parses => "#1f77b4",
    }
}

/// Text as SVG character data.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f32, passed: usize, syntax: usize, pass_at: Vec<(usize, f64)>) -> TemperatureSummary {
        TemperatureSummary {
            temperature: t,
            samples: passed + syntax,
            outcomes: Outcome::ALL
                .iter()
                .map(|&o| {
                    let n = match o {
                        Outcome::Passed => passed,
                        Outcome::SyntaxError => syntax,
                        _ => 0,
                    };
                    (o, n)
                })
                .collect(),
            syntax_error_rate: syntax as f64 / (passed + syntax) as f64,
            distinct_outputs: 1,
            exact_match_rate: Some(1.0),
            identical_to_greedy: None,
            median_first_divergence: None,
            distinct_n: [Some(0.5), Some(0.6), None, None],
            mean_edit_distance: Some(0.1),
            distinct_structures: Some(1),
            structured: passed,
            pass_at,
            mean_logprob: None,
            mean_entropy: None,
            tokens: 10,
        }
    }

    /// Every opened element is closed, in order (enough of XML for text we write ourselves).
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        for tag in svg.split('<').skip(1) {
            let body = tag.split('>').next().unwrap_or("");
            if let Some(name) = body.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !body.ends_with('/') {
                let name = body.split_whitespace().next().unwrap_or("");
                stack.push(name.to_string());
            }
        }
        stack.is_empty()
    }

    #[test]
    fn charts_have_a_line_per_series_a_bar_per_outcome_and_close_every_tag() {
        let rows = vec![
            row(0.0, 4, 0, vec![(1, 1.0), (2, 1.0)]),
            row(0.7, 3, 1, vec![(1, 0.75), (2, 1.0)]),
            row(1.5, 1, 3, vec![(1, 0.25), (2, 0.5)]),
        ];
        let s = svg(&rows);
        assert!(s.starts_with("<svg") && balanced(&s), "{s}");
        // pass@1, pass@2, then the five determinism/diversity series.
        assert_eq!(s.matches("class=\"series\"").count(), 7);
        // Bars: 3 passed segments + 2 syntax-error segments.
        assert_eq!(s.matches("class=\"outcome\"").count(), 5);
        assert!(
            s.contains("pass@2") && s.contains("syntax error: 3/4"),
            "{s}"
        );
        // "= greedy" is undefined everywhere: an empty line, no points.
        assert!(s.contains("points=\"\""));
        // Without tests there is no pass@k panel.
        let untested: Vec<_> = rows
            .iter()
            .cloned()
            .map(|mut r| {
                r.pass_at.clear();
                r
            })
            .collect();
        let s = svg(&untested);
        assert!(!s.contains("pass@") && balanced(&s));
        assert_eq!(s.matches("class=\"series\"").count(), 5);
    }
}
