//! Creative context: projects and styles. Changes go through the running daemon (so they are
//! events on its bus); listing reads the catalog alone.

use catalog::ContextKey;
use events::{ContextUpdated, Event, ProjectCreated, StyleChosen};
use pipeline::Pipeline;

use crate::error::{Error, Result};
use crate::status::ContextStatus;

const SOURCE: &str = "/alice/cli";

/// A project name must already be a safe path component: it becomes a folder name.
pub fn validate_project_name(name: &str) -> Result<()> {
    let refuse = |m: String| Err(Error::Control(m));
    if name.trim().is_empty() {
        return refuse("a project name cannot be empty".into());
    }
    if name.chars().count() > 64 {
        return refuse(format!(
            "project name {name:?} is longer than 64 characters"
        ));
    }
    let clean = organizer::sanitize_component(name);
    if clean != name {
        return refuse(format!(
            "project name {name:?} cannot be a folder name as it is; try {clean:?}"
        ));
    }
    Ok(())
}

async fn db<T: Send + 'static>(
    pipeline: &Pipeline,
    f: impl FnOnce(&catalog::Catalog) -> Result<T, catalog::CatalogError> + Send + 'static,
) -> Result<T> {
    let c = pipeline.catalog().clone();
    Ok(tokio::task::spawn_blocking(move || f(&c)).await??)
}

async fn context_event(pipeline: &Pipeline) -> Result<ContextStatus> {
    let ctx = db(pipeline, |c| c.context()).await?;
    pipeline
        .publish(Event::new(
            SOURCE,
            ContextUpdated {
                project: ctx.active_project.clone(),
                style: ctx.active_style.clone(),
            },
        ))
        .await?;
    Ok(ContextStatus {
        project: ctx.active_project,
        style: ctx.active_style,
    })
}

/// `alice project create`: returns the project's name.
pub async fn create_project(
    pipeline: &Pipeline,
    name: &str,
    description: Option<String>,
) -> Result<String> {
    validate_project_name(name)?;
    let (n, d) = (name.to_owned(), description.clone());
    let project = db(pipeline, move |c| c.create_project(&n, d.as_deref())).await?;
    pipeline
        .publish(Event::new(
            SOURCE,
            ProjectCreated {
                name: project.name.clone(),
                description,
            },
        ))
        .await?;
    Ok(project.name)
}

/// `alice project use`: files landing directly in an inbox go to this project from now on.
pub async fn use_project(pipeline: &Pipeline, name: &str) -> Result<ContextStatus> {
    validate_project_name(name)?;
    let n = name.to_owned();
    let exists = db(pipeline, move |c| c.project(&n)).await?.is_some();
    if !exists {
        return Err(Error::Control(format!(
            "there is no project {name:?}; create it first with `alice project create {name}`"
        )));
    }
    let n = name.to_owned();
    db(pipeline, move |c| {
        c.set_context(ContextKey::ActiveProject, Some(&n))
    })
    .await?;
    context_event(pipeline).await
}

/// `alice style choose` / `alice style clear`.
pub async fn choose_style(
    pipeline: &Pipeline,
    name: Option<String>,
    note: Option<String>,
) -> Result<ContextStatus> {
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(Error::Control("a style needs a name".into()));
    }
    let n = name.clone();
    db(pipeline, move |c| {
        c.set_context(ContextKey::ActiveStyle, n.as_deref())
    })
    .await?;
    pipeline
        .publish(Event::new(SOURCE, StyleChosen { name, note }))
        .await?;
    context_event(pipeline).await
}
