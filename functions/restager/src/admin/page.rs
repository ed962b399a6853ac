//! The run page: `GET /runs/{id}` with `Accept: text/html`. Server-rendered
//! HTML with inline CSS and SVG, no script: the failures and their reasons
//! first, progress per wave, a timeline with one bar per app (build start
//! to verified, grouped by space, coloured by outcome), then every app. A
//! live run's page reloads itself every few seconds (`<meta refresh>`).
//!
//! Every name that comes from Cloud Foundry (apps, spaces, orgs, reasons,
//! the notice) goes through [`esc`]; the page's policy forbids scripts
//! besides (see `reply::html`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::runs::model::{
    AppStatus, PHASE_DONE, PHASE_SKIPPED, RunDetail, RunSummary, WaveSummary,
};

/// Seconds between reloads of a live run's page.
pub const REFRESH_SECS: u32 = 5;
/// The timeline draws at most this many apps (the table lists all).
const TIMELINE_ROWS: usize = 400;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 240.0;
const ROW: f64 = 18.0;

/// HTML-escapes text for element content and quoted attributes alike.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The colour of an outcome (the legend lists them).
fn colour(app: &AppStatus) -> &'static str {
    match app.outcome.as_str() {
        "restaged" => "#2e7d32",
        "already_current" => "#78909c",
        "failed" => "#c62828",
        "rolled_back" => "#ef6c00",
        "skipped" => "#bdbdbd",
        "held" => "#8e24aa",
        _ => "#1e88e5",
    }
}

const LEGEND: &[(&str, &str)] = &[
    ("restaged", "#2e7d32"),
    ("already current", "#78909c"),
    ("failed", "#c62828"),
    ("rolled back", "#ef6c00"),
    ("held", "#8e24aa"),
    ("in progress", "#1e88e5"),
];

fn time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn shown(raw: &str) -> String {
    time(raw).map_or_else(
        || raw.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// The whole page for `run`, as of `now`.
pub fn run_page(run: &RunDetail, now: DateTime<Utc>) -> String {
    let s = &run.summary;
    let mut html = String::new();
    let title = format!("{} · restager", s.notice);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title>",
        esc(&title)
    );
    if s.is_live() {
        let _ = write!(
            html,
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        );
    }
    html.push_str(STYLE);
    html.push_str("</head><body>");
    header(&mut html, s, now);
    counts(&mut html, s);
    failures(&mut html, &run.apps);
    waves(&mut html, s, &run.apps);
    timeline(&mut html, s, &run.apps, now);
    table(&mut html, &run.apps);
    html.push_str("</body></html>\n");
    html
}

fn header(html: &mut String, s: &RunSummary, now: DateTime<Utc>) {
    let state = match (&s.nothing_queued, s.is_live()) {
        (Some(_), _) => "nothing queued".to_string(),
        (None, true) => format!("{} · refreshed {}", s.state, now.format("%H:%M:%S UTC")),
        (None, false) => s.state.clone(),
    };
    let _ = write!(
        html,
        "<header><h1>{}</h1><p class=\"meta\">run <code>{}</code> · {} · started {} · \
         <span class=\"state state-{}\">{}</span>",
        esc(&s.notice),
        esc(&s.run_id),
        esc(&s.action),
        esc(&shown(&s.created_at)),
        esc(&s.state),
        esc(&state),
    );
    if let Some(done) = &s.completed_at {
        let _ = write!(html, " · completed {}", esc(&shown(done)));
    }
    html.push_str("</p>");
    if let Some(detail) = &s.state_reason {
        let _ = write!(
            html,
            "<p class=\"detail state-{}\">{}</p>",
            esc(&s.state),
            esc(detail)
        );
    }
    if let Some(why) = &s.nothing_queued {
        let _ = write!(
            html,
            "<p class=\"note\">Nothing was queued: {}.</p>",
            esc(why)
        );
    }
    html.push_str("</header>");
}

fn counts(html: &mut String, s: &RunSummary) {
    html.push_str("<section class=\"counts\">");
    for (label, n, class) in [
        ("restaged", s.restaged, "ok"),
        ("already current", s.already_current, "current"),
        ("skipped", s.skipped, "skipped"),
        ("failed", s.failed, "failed"),
        ("held", s.held, "held"),
        ("in progress", s.in_progress, "pending"),
    ] {
        let _ = write!(
            html,
            "<div class=\"count {class}\"><span class=\"n\">{n}</span><span>{label}</span></div>"
        );
    }
    html.push_str("</section>");
}

fn failures(html: &mut String, apps: &[AppStatus]) {
    let failed: Vec<&AppStatus> = apps.iter().filter(|a| a.is_failure()).collect();
    if failed.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<section class=\"failures\"><h2>Failures ({})</h2><table><thead><tr>\
         <th>app</th><th>org/space</th><th>outcome</th><th>reason</th></tr></thead><tbody>",
        failed.len()
    );
    for a in failed {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.app),
            esc(&a.org),
            esc(&a.space),
            esc(&a.outcome.replace('_', " ")),
            esc(a.reason.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</tbody></table></section>");
}

/// One progress bar per wave (one for the whole run without waves).
fn waves(html: &mut String, s: &RunSummary, apps: &[AppStatus]) {
    let jobs: Vec<&AppStatus> = apps.iter().filter(|a| a.phase != PHASE_SKIPPED).collect();
    if jobs.is_empty() {
        return;
    }
    let rows: Vec<(String, usize, usize, usize, Option<String>)> = if s.waves.is_empty() {
        let done = jobs.iter().filter(|a| a.phase == PHASE_DONE).count();
        let failed = jobs.iter().filter(|a| a.is_failure()).count();
        vec![("all apps".to_string(), jobs.len(), done, failed, None)]
    } else {
        s.waves
            .iter()
            .map(|w: &WaveSummary| {
                let released = match &w.released_at {
                    Some(t) => format!("released {}", shown(t)),
                    None => "waiting".to_string(),
                };
                let label = if w.name.is_empty() {
                    format!("wave {}", w.wave)
                } else {
                    format!("wave {} · {}", w.wave, w.name)
                };
                (label, w.jobs, w.finished, w.failed, Some(released))
            })
            .collect()
    };
    html.push_str("<section class=\"waves\"><h2>Progress</h2>");
    let height = rows.len() as f64 * 30.0 + 4.0;
    let _ = write!(
        html,
        "<svg role=\"img\" aria-label=\"progress per wave\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let bar = WIDTH - LABEL - 160.0;
    for (i, (label, size, done, failed, note)) in rows.iter().enumerate() {
        let y = i as f64 * 30.0 + 4.0;
        let part = |n: usize| {
            if *size == 0 {
                0.0
            } else {
                bar * n as f64 / *size as f64
            }
        };
        let ok = part(done.saturating_sub(*failed));
        let bad = part(*failed);
        let _ = write!(
            html,
            "<text x=\"0\" y=\"{ty}\" class=\"label\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{bar}\" height=\"20\" fill=\"#eceff1\"/>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{ok:.1}\" height=\"20\" fill=\"#2e7d32\"/>\
             <rect x=\"{bx:.1}\" y=\"{y}\" width=\"{bad:.1}\" height=\"20\" fill=\"#c62828\"/>\
             <text x=\"{tx}\" y=\"{ty}\" class=\"label\">{done} of {size} done{}</text>",
            esc(label),
            note.as_ref()
                .map(|n| format!(" · {}", esc(n)))
                .unwrap_or_default(),
            ty = y + 15.0,
            bx = LABEL + ok,
            tx = LABEL + bar + 8.0,
        );
    }
    html.push_str("</svg></section>");
}

/// One bar per app from its start to its end (or now), grouped by space.
fn timeline(html: &mut String, s: &RunSummary, apps: &[AppStatus], now: DateTime<Utc>) {
    let jobs: Vec<&AppStatus> = apps.iter().filter(|a| a.phase != PHASE_SKIPPED).collect();
    if jobs.is_empty() {
        return;
    }
    let Some(t0) = time(&s.created_at) else {
        return;
    };
    let ends = jobs
        .iter()
        .filter_map(|a| a.finished_at.as_deref().and_then(time));
    let t1 = match s.completed_at.as_deref().and_then(time) {
        Some(done) => ends.fold(done, DateTime::max),
        None => ends.fold(now, DateTime::max),
    };
    let span = (t1 - t0).num_milliseconds().max(1) as f64;
    let axis = WIDTH - LABEL - 10.0;
    let x = |t: DateTime<Utc>| LABEL + axis * ((t - t0).num_milliseconds().max(0) as f64 / span);

    let mut spaces: BTreeMap<(String, String), Vec<&AppStatus>> = BTreeMap::new();
    for a in jobs.iter().take(TIMELINE_ROWS) {
        spaces
            .entry((a.org.clone(), a.space.clone()))
            .or_default()
            .push(a);
    }
    let rows = spaces.values().map(|v| v.len() + 1).sum::<usize>();
    let height = rows as f64 * ROW + 28.0;
    html.push_str("<section class=\"timeline\"><h2>Timeline</h2><p class=\"legend\">");
    for (name, c) in LEGEND {
        let _ = write!(html, "<span><i style=\"background:{c}\"></i>{name}</span>");
    }
    html.push_str("</p>");
    let _ = write!(
        html,
        "<svg role=\"img\" aria-label=\"timeline of every restage\" width=\"{WIDTH}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let mut y = 0.0;
    for ((org, space), apps) in &spaces {
        let _ = write!(
            html,
            "<text x=\"0\" y=\"{}\" class=\"space\">{}/{}</text>\
             <line x1=\"0\" x2=\"{WIDTH}\" y1=\"{}\" y2=\"{}\" class=\"rule\"/>",
            y + 13.0,
            esc(org),
            esc(space),
            y + ROW - 1.0,
            y + ROW - 1.0,
        );
        y += ROW;
        for a in apps {
            let _ = write!(
                html,
                "<text x=\"12\" y=\"{}\" class=\"label\">{}</text>",
                y + 13.0,
                esc(&a.app)
            );
            let start = a.started_at.as_deref().and_then(time);
            let end = a.finished_at.as_deref().and_then(time);
            let fill = colour(a);
            let tip = format!(
                "{} — {}{}",
                a.app,
                a.outcome.replace('_', " "),
                a.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            match (start, end) {
                (Some(s), e) => {
                    let e = e.unwrap_or(now);
                    let (x0, x1) = (x(s), x(e));
                    let _ = write!(
                        html,
                        "<rect x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" rx=\"2\" \
                         fill=\"{fill}\"><title>{}</title></rect>",
                        y + 3.0,
                        (x1 - x0).max(2.0),
                        ROW - 6.0,
                        esc(&tip)
                    );
                }
                (None, Some(e)) => {
                    let _ = write!(
                        html,
                        "<circle cx=\"{:.1}\" cy=\"{}\" r=\"4\" fill=\"{fill}\"><title>{}</title></circle>",
                        x(e),
                        y + ROW / 2.0,
                        esc(&tip)
                    );
                }
                (None, None) => {}
            }
            y += ROW;
        }
    }
    let _ = write!(
        html,
        "<text x=\"{LABEL}\" y=\"{}\" class=\"axis\">{}</text>\
         <text x=\"{WIDTH}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{}</text></svg>",
        y + 20.0,
        t0.format("%H:%M:%S"),
        y + 20.0,
        t1.format("%H:%M:%S"),
    );
    if jobs.len() > TIMELINE_ROWS {
        let _ = write!(
            html,
            "<p class=\"note\">The first {TIMELINE_ROWS} of {} apps; the table below lists all.</p>",
            jobs.len()
        );
    }
    html.push_str("</section>");
}

fn table(html: &mut String, apps: &[AppStatus]) {
    html.push_str(
        "<section class=\"apps\"><h2>Every app</h2><table><thead><tr><th>app</th>\
         <th>org/space</th><th>wave</th><th>phase</th><th>outcome</th><th>reason</th>\
         <th>attempts</th><th>updated</th></tr></thead><tbody>",
    );
    for a in apps {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td>\
             <td><i class=\"dot\" style=\"background:{}\"></i>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.app),
            esc(&a.org),
            esc(&a.space),
            a.wave.map(|w| w.to_string()).unwrap_or_default(),
            esc(&a.phase),
            colour(a),
            esc(&a.outcome.replace('_', " ")),
            esc(a.reason.as_deref().unwrap_or("")),
            a.attempts,
            esc(&a.updated_at.as_deref().map(shown).unwrap_or_default()),
        );
    }
    html.push_str("</tbody></table></section>");
}

/// `GET /runs` as a page: the newest runs, each linking to its page.
pub fn runs_page(runs: &[RunSummary]) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <link rel=\"icon\" href=\"data:,\"><title>Runs · restager</title>",
    );
    html.push_str(STYLE);
    html.push_str("</head><body><header><h1>Runs</h1></header><section><table><thead><tr><th>run</th><th>notice</th>\
        <th>started</th><th>state</th><th>restaged</th><th>failed</th><th>in progress</th></tr></thead><tbody>");
    for r in runs {
        let _ = write!(
            html,
            "<tr><td><a href=\"runs/{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.run_id),
            esc(&r.run_id.chars().take(8).collect::<String>()),
            esc(&r.notice),
            esc(&shown(&r.created_at)),
            esc(&r.state),
            r.restaged,
            r.failed,
            r.in_progress
        );
    }
    html.push_str("</tbody></table></section></body></html>\n");
    html
}

const STYLE: &str = "<style>\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#263238;max-width:1000px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}\
.meta{color:#546e7a;margin:0}.detail{font-weight:600;margin:4px 0 0}.note{color:#546e7a}code{font-size:12px}\
.state{font-weight:600}.state-halted,.state-aborted,.detail.state-halted,.detail.state-aborted{color:#c62828}.state-paused{color:#8e24aa}\
.counts{display:flex;gap:12px;margin-top:16px}\
.count{border:1px solid #cfd8dc;border-radius:6px;padding:8px 14px;min-width:90px}\
.count .n{display:block;font-size:22px;font-weight:600}\
.count.ok .n{color:#2e7d32}.count.held .n{color:#8e24aa}.count.failed .n{color:#c62828}.count.pending .n{color:#1e88e5}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eceff1;vertical-align:top}\
th{color:#546e7a;font-weight:600}.failures td{color:#b71c1c}\
svg text{font-size:12px;fill:#37474f}svg .space{font-weight:600}svg .axis{fill:#78909c}svg .rule{stroke:#eceff1}\
.legend span{margin-right:14px;white-space:nowrap}.legend i,.dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}\
</style>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::model::PHASE_QUEUED;

    fn app(name: &str, space: &str, outcome: &str, phase: &str) -> AppStatus {
        AppStatus {
            app: name.into(),
            app_guid: format!("guid-{name}"),
            org: "org".into(),
            space: space.into(),
            wave: None,
            phase: phase.into(),
            outcome: outcome.into(),
            reason: (outcome == "failed").then(|| "BuildpackCompileFailed <b>".to_string()),
            version: None,
            attempts: 1,
            updated_at: Some("2026-12-01T10:00:30Z".into()),
            build_guid: None,
            deployment_guid: None,
            started_at: Some("2026-12-01T10:00:05Z".into()),
            finished_at: (phase == PHASE_DONE).then(|| "2026-12-01T10:00:30Z".to_string()),
        }
    }

    fn run(apps: Vec<AppStatus>) -> RunDetail {
        RunDetail {
            summary: RunSummary {
                run_id: "6f1c2d1e-8a5b-4c2f-9d3e-0b7a5e4f1c20".into(),
                notice: "buildpack ruby_buildpack 1.10.29".into(),
                action: "restage".into(),
                created_at: "2026-12-01T10:00:00Z".into(),
                completed_at: None,
                state: "running".into(),
                state_reason: None,
                app_count: apps.len(),
                restaged: 1,
                already_current: 0,
                skipped: 0,
                failed: 1,
                rolled_back: 0,
                held: 0,
                in_progress: 1,
                max_failures: None,
                waves: Vec::new(),
                nothing_queued: None,
            },
            apps,
        }
    }

    #[test]
    fn names_from_cloud_foundry_are_escaped_everywhere() {
        let evil = "<script>alert(1)</script>";
        let page = run_page(
            &run(vec![
                app("shop", evil, "failed", PHASE_DONE),
                app(evil, "prod", "restaged", PHASE_DONE),
            ]),
            Utc::now(),
        );
        assert!(!page.contains(evil), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<b>"));
        assert!(!page.to_ascii_lowercase().contains("<script"));
    }

    #[test]
    fn failures_come_first_and_a_live_run_refreshes() {
        let page = run_page(
            &run(vec![
                app("good", "prod", "restaged", PHASE_DONE),
                app("bad", "prod", "failed", PHASE_DONE),
                app("waiting", "dev", "pending", PHASE_QUEUED),
            ]),
            Utc::now(),
        );
        let failures = page.find("Failures (1)").expect("a failures section");
        assert!(failures < page.find("Timeline").expect("a timeline"));
        assert!(page.contains("http-equiv=\"refresh\""));
        // One bar per started app, grouped under its space.
        let timeline = &page[page.find("Timeline").expect("a timeline")..];
        assert_eq!(timeline.matches("<rect x=\"").count(), 3, "{timeline}");
        assert!(page.contains(">org/dev</text>") && page.contains(">org/prod</text>"));
        let mut done = run(vec![app("good", "prod", "restaged", PHASE_DONE)]);
        done.summary.state = "completed".into();
        done.summary.completed_at = Some("2026-12-01T10:01:00Z".into());
        assert!(!run_page(&done, Utc::now()).contains("http-equiv=\"refresh\""));
    }
}
