//! The status page (what `alice status` shows, a chart of files organized per day by
//! source) and the form that sets the active project and style.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use chrono::Utc;
use serde::Deserialize;

use crate::App;
use crate::html::{Failure, Nav, esc, json_html, page, query_value};

/// Days the chart covers.
const CHART_DAYS: u32 = 30;

#[derive(Deserialize)]
pub(crate) struct StatusQuery {
    /// Why the last change was refused, to show.
    refused: Option<String>,
}

/// `GET /status`.
pub(crate) async fn status(
    State(app): State<Arc<App>>,
    Query(q): Query<StatusQuery>,
) -> Result<Html<String>, Failure> {
    let today = Utc::now().date_naive();
    let since = today - chrono::Days::new(u64::from(CHART_DAYS - 1));
    let (counts, context, projects) = app
        .readers
        .run(move |c| {
            Ok((
                c.organized_per_day(since)?,
                c.context()?,
                c.list_projects()?,
            ))
        })
        .await?;
    let projects: Vec<String> = projects.into_iter().map(|p| p.name).collect();
    let status = app.parts.daemon.status().await;
    let mut body = String::from("<div class=\"statusgrid\"><section class=\"panel\">");
    if let Some(why) = q.refused.as_deref() {
        let _ = write!(body, "<p class=\"refused\">{}</p>", esc(why));
    }
    let _ = write!(
        body,
        "<h2>Creative context</h2><p class=\"muted\">New files dropped straight into an inbox \
         are filed under the active project and style.</p>\
         <form class=\"context\" method=\"post\" action=\"/context\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Project {}</label>\
         <label>Style <input type=\"text\" name=\"style\" value=\"{}\" placeholder=\"none\"></label>\
         <button type=\"submit\">Apply</button></form></section>",
        esc(app.keys.csrf()),
        project_select(&projects, context.active_project.as_deref()),
        esc(context.active_style.as_deref().unwrap_or("")),
    );
    let _ = write!(
        body,
        "<section class=\"panel\"><h2>Organized per day, last {CHART_DAYS} days</h2>{}</section></div>\
         <section class=\"panel\"><h2>Daemon</h2>{}</section>",
        crate::chart::per_day(&counts, today, CHART_DAYS),
        json_html(&status),
    );
    Ok(page("Status", Nav::Status, app.keys.csrf(), &body))
}

fn project_select(projects: &[String], active: Option<&str>) -> String {
    let mut out = String::from("<select name=\"project\"><option value=\"\">(keep)</option>");
    for p in projects {
        let _ = write!(
            out,
            "<option value=\"{p}\"{}>{p}</option>",
            if Some(p.as_str()) == active {
                " selected"
            } else {
                ""
            },
            p = esc(p)
        );
    }
    out.push_str("</select>");
    out
}

#[derive(Deserialize)]
pub(crate) struct ContextForm {
    project: Option<String>,
    style: Option<String>,
}

/// `POST /context` (the guard has checked the CSRF field): sets what changed, through the
/// daemon, and returns to the status page.
pub(crate) async fn set_context(
    State(app): State<Arc<App>>,
    Form(form): Form<ContextForm>,
) -> Result<Redirect, Failure> {
    let context = app.readers.run(|c| c.context()).await?;
    let daemon = &app.parts.daemon;
    let project = form
        .project
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let style = form
        .style
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let mut outcome = Ok(());
    if let Some(p) = project.filter(|p| context.active_project.as_ref() != Some(p)) {
        outcome = daemon.use_project(p).await;
    }
    if outcome.is_ok() && style != context.active_style {
        outcome = daemon.choose_style(style).await;
    }
    Ok(match outcome {
        Ok(()) => Redirect::to("/status"),
        Err(why) => Redirect::to(&format!("/status?refused={}", query_value(&why.0))),
    })
}
