//! Server-rendered pages (no scripts, no build step): rounds and their stage, model and account
//! leaderboards, a model's score history with a chart, the datasets, and the NMR supply.
//! Times are shown as the tournament's clock reads them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use numerus_app::Service;
use numerus_app::standings::PAYOUT;
use numerus_ledger::SupplyReport;
use numerus_ledger::{AccountId, LedgerView, ModelId, Nmr, Store, TournamentId};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::records::{Records, SubmissionState};
use serde::Deserialize;

use crate::server::Shared;
use crate::signing::Access;

/// The page routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/rounds/{number}", get(round))
        .route("/leaderboard", get(leaderboard))
        .route("/accounts", get(accounts))
        .route("/models/{name}", get(model))
        .route("/datasets", get(datasets))
        .route("/supply", get(supply))
        .route("/fund", get(fund))
}

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Numerus</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}}
header{{background:#14213d;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.5rem;align-items:baseline;flex-wrap:wrap}}
header a{{color:#cfe0ff;text-decoration:none}} header strong{{font-size:1.2rem;color:#fff}}
main{{padding:1rem 1.5rem;max-width:1100px}}
table{{border-collapse:collapse;background:#fff;margin:.5rem 0 1.5rem;min-width:50%}}
th,td{{padding:.35rem .7rem;border-bottom:1px solid #e3e6eb;text-align:left;font-variant-numeric:tabular-nums}}
th{{background:#eef1f5}} td.n{{text-align:right}}
.stage{{padding:.1rem .45rem;border-radius:.6rem;font-size:.85rem;background:#e3e6eb}}
.OPEN{{background:#c8f0d0}} .RESOLVING{{background:#fde9b8}} .RESOLVED{{background:#d9e4ff}}
.neg{{color:#b3261e}} .pos{{color:#146c2e}} svg{{background:#fff;border:1px solid #e3e6eb}}
</style></head><body>
<header><strong>Numerus</strong><a href="/">Rounds</a><a href="/leaderboard">Models</a><a href="/accounts">Accounts</a><a href="/datasets">Datasets</a><a href="/fund">Fund</a><a href="/supply">Supply</a><a href="/metrics">Metrics</a></header>
<main><h1>{title}</h1>
{body}
</main></body></html>"#,
        title = esc(title)
    )
}

fn page(title: &str, body: String) -> Response {
    Html(layout(title, &body)).into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(layout("Not found", &format!("<p>{}</p>", esc(what)))),
    )
        .into_response()
}

fn failed(error: &impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(layout(
            "Error",
            &format!("<p>{}</p>", esc(&error.to_string())),
        )),
    )
        .into_response()
}

fn score(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let class = if v < 0.0 { "neg" } else { "pos" };
            format!("<span class=\"{class}\">{v:+.4}</span>")
        }
        _ => "–".to_owned(),
    }
}

fn nmr(units: u128) -> String {
    let amount = Nmr::from_base_units(units).to_string();
    match amount.split_once('.') {
        Some((whole, fraction)) => format!("{whole}.{:0<2}", &fraction[..fraction.len().min(2)]),
        None => format!("{amount}.00"),
    }
}

/// Runs `render` on the service and answers with its page.
async fn render(
    shared: Arc<Shared>,
    render: impl FnOnce(&Shared, &mut Service<SqliteStore>) -> Result<Response, String> + Send + 'static,
) -> Response {
    shared
        .with_service(move |shared, service| render(shared, service).unwrap_or_else(|e| failed(&e)))
        .await
}

fn error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The home page: rounds by stage.
pub async fn home(State(shared): State<Arc<Shared>>) -> Response {
    render(shared, |shared, service| {
        let (now, _) = shared.now();
        let tournament = service.definition().id;
        let rounds = service
            .ledger()
            .store()
            .round_records(tournament, false)
            .map_err(error)?;
        let mut body = format!(
            "<p>Tournament <b>{}</b> (id {tournament}). The tournament clock reads <b>{}</b>.</p>",
            esc(&service.definition().name),
            now.strftime("%a %Y-%m-%d %H:%M UTC")
        );
        body.push_str(
            "<table><tr><th>Round</th><th>Stage</th><th>Opens</th><th>Closes</th><th>Scores</th><th>Resolves</th><th class=n>Submissions</th></tr>",
        );
        for record in rounds.iter().take(30) {
            let view = service.round_view(record.number, now).map_err(error)?;
            let status = view.as_ref().map_or("UPCOMING", |view| view.status);
            let submissions = service
                .ledger()
                .store()
                .round_submissions(tournament, record.number)
                .map_err(error)?
                .iter()
                .filter(|s| s.state != SubmissionState::Rejected && s.state != SubmissionState::Superseded)
                .count();
            let _ = write!(
                body,
                "<tr><td><a href=\"/rounds/{n}\">{n}</a></td><td><span class=\"stage {status}\">{status}</span> {days}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{submissions}</td></tr>",
                record.open_at.strftime("%Y-%m-%d %H:%M"),
                record.close_at.strftime("%Y-%m-%d %H:%M"),
                record.score_at.strftime("%Y-%m-%d"),
                record.resolve_at.strftime("%Y-%m-%d"),
                n = record.number,
                days = if record.scored_days > 0 { format!("day {}", record.scored_days) } else { String::new() },
            );
        }
        body.push_str("</table>");
        if rounds.is_empty() {
            body.push_str("<p>No round has opened yet.</p>");
        }
        Ok(page("Rounds", body))
    })
    .await
}

async fn round(State(shared): State<Arc<Shared>>, Path(number): Path<u32>) -> Response {
    render(shared, move |shared, service| {
        let (now, _) = shared.now();
        let tournament = service.definition().id;
        let store = service.ledger().store();
        let Some(view) = service.round_view(number, now).map_err(error)? else {
            return Ok(not_found(&format!("Round {number} has not opened.")));
        };
        let mut body = format!(
            "<p><span class=\"stage {s}\">{s}</span> · opened {} · closed {} · payout factor {} · data of {}</p>",
            view.open_time.strftime("%Y-%m-%d %H:%M"),
            view.close_time.strftime("%Y-%m-%d %H:%M"),
            esc(view.payout_factor.as_deref().unwrap_or("not fixed yet")),
            view.data_datestamp,
            s = view.status,
        );
        let scores = store.round_scores(tournament, number).map_err(error)?;
        let last = scores.iter().map(|s| s.day).max().unwrap_or(0);
        let mut latest: Vec<_> = scores.iter().filter(|s| s.day == last && last > 0).collect();
        latest.sort_by(|a, b| {
            let value = |s: &&numerus_tournament::records::DailyScore| s.values.get("corr").copied().flatten();
            value(b).unwrap_or(f64::NEG_INFINITY).total_cmp(&value(a).unwrap_or(f64::NEG_INFINITY))
        });
        let _ = write!(body, "<h2>Scores on day {last}</h2><table><tr><th>Model</th><th>CORR</th><th>MMC</th><th>BMC</th><th>FNC</th><th class=n>At risk</th></tr>");
        let stakes: BTreeMap<u64, u128> = store
            .round_stakes(numerus_ledger::RoundKey { tournament: TournamentId(tournament), number })
            .map_err(error)?
            .into_iter()
            .map(|stake| (stake.model.0, stake.at_risk.base_units()))
            .collect();
        for row in latest {
            let name = store.model(ModelId(row.model)).map_err(error)?.map_or_else(|| row.model.to_string(), |m| m.name);
            let value = |key: &str| score(row.values.get(key).copied().flatten());
            let _ = write!(
                body,
                "<tr><td><a href=\"/models/{n}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td></tr>",
                value("corr"), value("mmc"), value("bmc"), value("fnc"),
                nmr(stakes.get(&row.model).copied().unwrap_or(0)),
                n = esc(&name),
            );
        }
        body.push_str("</table>");
        Ok(page(&format!("Round {number}"), body))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct By {
    by: Option<String>,
}

async fn leaderboard(State(shared): State<Arc<Shared>>, Query(by): Query<By>) -> Response {
    board(shared, by.by, false).await
}

async fn accounts(State(shared): State<Arc<Shared>>, Query(by): Query<By>) -> Response {
    board(shared, by.by, true).await
}

async fn board(shared: Arc<Shared>, by: Option<String>, accounts: bool) -> Response {
    render(shared, move |shared, service| {
        let (now, _) = shared.now();
        let by = by.unwrap_or_else(|| PAYOUT.to_owned());
        let rows = if accounts {
            service.account_leaderboard(&by, now)
        } else {
            service.model_leaderboard(&by, now)
        }
        .map_err(error)?;
        let kind = if accounts { "accounts" } else { "models" };
        let path = if accounts { "/accounts" } else { "/leaderboard" };
        let mut body = format!("<p>{} ranked by their 1-year reputation in <b>{}</b>. Rank by:", kind, esc(&by));
        for name in [PAYOUT, "corr", "mmc", "bmc", "fnc"] {
            let _ = write!(body, " <a href=\"{path}?by={name}\">{name}</a>");
        }
        body.push_str("</p><table><tr><th class=n>Rank</th><th>Name</th><th class=n>Reputation</th><th class=n>Staked NMR</th></tr>");
        for ranked in rows.iter().take(500) {
            let name = if accounts {
                esc(&ranked.row.name)
            } else {
                format!("<a href=\"/models/{n}\">{n}</a>", n = esc(&ranked.row.name))
            };
            let _ = write!(
                body,
                "<tr><td class=n>{}</td><td>{name}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                ranked.rank,
                score(ranked.row.score),
                nmr(ranked.row.stake)
            );
        }
        body.push_str("</table>");
        Ok(page(if accounts { "Account leaderboard" } else { "Model leaderboard" }, body))
    })
    .await
}

/// One line of a chart: its label, its colour and its (x, y) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// An SVG line chart of series of (x, y) points, each with a colour and a label.
fn chart(series: &[Series<'_>]) -> String {
    let (width, height, pad) = (720.0, 260.0, 36.0);
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().copied())
        .collect();
    if points.is_empty() {
        return "<p>No scores yet.</p>".to_owned();
    }
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (0.0_f64, 0.0_f64);
    for &(x, y) in &points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 0.01;
    }
    let sx = |x: f64| pad + (x - x0) / (x1 - x0) * (width - 2.0 * pad);
    let sy = |y: f64| height - pad - (y - y0) / (y1 - y0) * (height - 2.0 * pad);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"score history\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" x2=\"{}\" y1=\"{z}\" y2=\"{z}\" stroke=\"#9aa3af\" stroke-dasharray=\"4 3\"/>",
        width - pad,
        z = sy(0.0)
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{y1:+.3}</text><text x=\"4\" y=\"{}\" font-size=\"11\">{y0:+.3}</text>",
        sy(y1) + 4.0,
        sy(y0)
    );
    for (index, (label, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"14\" font-size=\"12\" fill=\"{colour}\">{}</text>",
            path.join(" "),
            pad + 90.0 * index as f64,
            esc(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

async fn model(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    render(shared, move |_, service| {
        let tournament = service.definition().id;
        let store = service.ledger().store();
        let Some((id, _)) = store.model_named(tournament, &name).map_err(error)? else {
            return Ok(not_found(&format!("There is no model named {name:?}.")));
        };
        let stake = store
            .balance(AccountId::Stake(ModelId(id)))
            .map_err(error)?
            .map_or(0, |b| b.posted().base_units());
        let finals: Vec<_> = service
            .final_scores()
            .map_err(error)?
            .into_iter()
            .filter(|f| f.model == id)
            .collect();
        let daily = store.model_scores(id).map_err(error)?;
        let mut body = format!("<p>Staked: <b>{} NMR</b> · {} resolved rounds</p>", nmr(stake), finals.len());
        body.push_str("<h2>Final scores by round</h2>");
        let series = |key: &str| -> Vec<(f64, f64)> {
            finals
                .iter()
                .filter_map(|f| f.scores.get(key).map(|v| (f64::from(f.round), *v)))
                .collect()
        };
        body.push_str(&chart(&[
            ("corr", "#1f77b4", series("corr")),
            ("mmc", "#d62728", series("mmc")),
            ("payout", "#2ca02c", series(PAYOUT)),
        ]));
        // The newest round with at least two daily scores (one point draws no line).
        let latest_round = daily.iter().filter(|d| d.day > 1).map(|d| d.round).max();
        if let Some(round) = latest_round {
            let _ = write!(body, "<h2>Daily scores of round {round}</h2>");
            let points = |key: &str| -> Vec<(f64, f64)> {
                daily
                    .iter()
                    .filter(|d| d.round == round && d.day > 0)
                    .filter_map(|d| d.values.get(key).copied().flatten().map(|v| (f64::from(d.day), v)))
                    .collect()
            };
            body.push_str(&chart(&[("corr", "#1f77b4", points("corr")), ("mmc", "#d62728", points("mmc"))]));
        }
        body.push_str("<h2>History</h2><table><tr><th>Round</th><th>CORR</th><th>MMC</th><th>BMC</th><th>FNC</th><th>Payout score</th><th class=n>At risk</th></tr>");
        for f in finals.iter().rev() {
            let value = |key: &str| score(f.scores.get(key).copied());
            let _ = write!(
                body,
                "<tr><td><a href=\"/rounds/{r}\">{r}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td></tr>",
                value("corr"), value("mmc"), value("bmc"), value("fnc"), value(PAYOUT), nmr(f.at_risk),
                r = f.round
            );
        }
        body.push_str("</table>");
        Ok(page(&format!("Model {name}"), body))
    })
    .await
}

async fn datasets(State(shared): State<Arc<Shared>>) -> Response {
    render(shared, |shared, service| {
        let (now, real_now) = shared.now();
        let mut body = String::from("<p>Download links expire; numerapi's <code>download_dataset</code> asks for fresh ones.</p><table><tr><th>File</th><th>Link</th></tr>");
        for name in shared.files.dataset_names() {
            let link = match shared.files.dataset_object(service, &name, None, now) {
                Ok(object) => format!("<a href=\"{}\">download</a>", esc(&shared.files.url(Access::Read, &object, real_now))),
                Err(why) => esc(&why),
            };
            let _ = write!(body, "<tr><td>{}</td><td>{link}</td></tr>", esc(&name));
        }
        body.push_str("</table>");
        Ok(page("Datasets", body))
    })
    .await
}

async fn supply(State(shared): State<Arc<Shared>>) -> Response {
    render(shared, |_, service| {
        let store = service.ledger().store();
        let report = SupplyReport::new(&store.balances().map_err(error)?, &store.burned_by_round().map_err(error)?);
        let mut body = String::from("<table><tr><th>NMR</th><th class=n>Amount</th></tr>");
        for (label, amount) in [
            ("Minted", report.minted),
            ("Burned", report.burned),
            ("Circulating", report.circulating),
            ("Treasury", report.treasury),
            ("Outside (market)", report.outside),
            ("Participant wallets", report.wallets),
            ("Staked", report.staked),
            ("Pending release", report.pending_release),
        ] {
            let _ = write!(body, "<tr><td>{label}</td><td class=n>{}</td></tr>", nmr(amount.base_units()));
        }
        let _ = write!(
            body,
            "</table><p>The books {}.</p><h2>Burned by round</h2><table><tr><th>Round</th><th class=n>NMR</th></tr>",
            if report.balanced { "balance" } else { "<b class=neg>do not balance</b>" }
        );
        for (round, amount) in report.burned_by_round.iter().rev().take(40) {
            let _ = write!(body, "<tr><td>{}</td><td class=n>{}</td></tr>", esc(round), nmr(amount.base_units()));
        }
        body.push_str("</table>");
        Ok(page("Supply and treasury", body))
    })
    .await
}

async fn fund(State(shared): State<Arc<Shared>>) -> Response {
    render(shared, |_, service| {
        if service.definition().fund.is_none() {
            return Ok(page(
                "Fund",
                "<p>This tournament runs no fund (its definition has no <code>[fund]</code> table).</p>".to_owned(),
            ));
        }
        let report = service.fund_report().map_err(error)?;
        let figure = |value: Option<f64>| value.map_or("–".to_owned(), |v| format!("{v:+.4}"));
        let mut body = format!(
            "<p>Each round the fund holds a long/short portfolio of the stake-weighted meta model, neutral to the first factors. Returns are <code>wᵀ(r − mean r)</code> through each scoring day, <code>r</code> each stock's raw compounded return.</p>\
             <p>Resolved rounds: <b>{}</b> · mean return {} · std {} · Sharpe per round <b>{}</b> · cumulative {}</p>",
            report.resolved,
            figure(report.mean),
            figure(report.std),
            report.sharpe.map_or("–".to_owned(), |v| format!("{v:.3}")),
            figure(Some(report.cumulative)),
        );
        let mut cumulative = 0.0;
        let points: Vec<(f64, f64)> = report
            .rounds
            .iter()
            .rev()
            .filter(|round| round.resolved)
            .filter_map(|round| {
                cumulative += round.returns.last()?;
                Some((f64::from(round.round), cumulative))
            })
            .collect();
        body.push_str("<h2>Cumulative return of resolved rounds</h2>");
        body.push_str(&chart(&[("cumulative", "#2ca02c", points)]));
        body.push_str("<h2>Rounds</h2><table><tr><th>Round</th><th>Portfolio</th><th class=n>Positions</th><th class=n>Gross</th><th class=n>Net</th><th class=n>Days</th><th>Return so far</th></tr>");
        for round in report.rounds.iter().take(60) {
            let _ = write!(
                body,
                "<tr><td><a href=\"/rounds/{r}\">{r}</a></td><td>{}</td><td class=n>{}</td><td class=n>{:.4}</td><td class=n>{:+.4}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&round.solve.status),
                round.solve.positions,
                round.solve.gross,
                round.solve.net,
                round.returns.len(),
                score(round.returns.last().copied()),
                r = round.round,
            );
        }
        body.push_str("</table>");
        Ok(page("Fund", body))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_amounts_have_two_places() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(nmr(1_500_000_000_000_000_000), "1.50");
        assert_eq!(nmr(0), "0.00");
    }

    #[test]
    fn a_chart_draws_one_line_per_series() {
        let svg = chart(&[
            ("corr", "#000", vec![(1.0, 0.1), (2.0, -0.05)]),
            ("mmc", "#f00", vec![(1.0, 0.0)]),
        ]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(chart(&[("corr", "#000", vec![])]).contains("No scores"));
    }
}
