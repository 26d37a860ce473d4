//! The creative context (active project and style, surviving restarts) and projects.

use chrono::{DateTime, Utc};
use rusqlite::{ErrorCode, OptionalExtension, params};

use crate::{Catalog, CatalogError, Result, now_text};

/// A key of the creative context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextKey {
    /// The project new files are filed under.
    ActiveProject,
    /// The style new files are filed under.
    ActiveStyle,
}

impl ContextKey {
    /// The stored key.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKey::ActiveProject => "active_project",
            ContextKey::ActiveStyle => "active_style",
        }
    }
}

/// The creative context as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreativeContext {
    /// The active project, if set.
    pub active_project: Option<String>,
    /// The active style, if set.
    pub active_style: Option<String>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Unique name.
    pub name: String,
    /// Free text, if given.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Catalog {
    /// Sets (`Some`) or clears (`None`) one key of the creative context.
    pub fn set_context(&self, key: ContextKey, value: Option<&str>) -> Result<()> {
        const OP: &str = "setting the creative context";
        self.write(OP, |tx| {
            let result = match value {
                Some(value) => tx
                    .prepare_cached(
                        "INSERT INTO context (key, value, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET
                             value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .and_then(|mut s| s.execute(params![key.as_str(), value, now_text()])),
                None => tx
                    .prepare_cached("DELETE FROM context WHERE key = ?1")
                    .and_then(|mut s| s.execute([key.as_str()])),
            };
            result.map(drop).map_err(self.db(OP))
        })?;
        tracing::info!(catalog = %self.path.display(), key = key.as_str(), value, "creative context changed");
        Ok(())
    }

    /// The creative context.
    pub fn context(&self) -> Result<CreativeContext> {
        let rows: Vec<(String, String)> = self.read("reading the creative context", |c| {
            c.prepare_cached("SELECT key, value FROM context")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })?;
        let mut context = CreativeContext::default();
        for (key, value) in rows {
            // Keys this build does not know come from a newer alice; ignoring them keeps the
            // known ones usable.
            if key == ContextKey::ActiveProject.as_str() {
                context.active_project = Some(value);
            } else if key == ContextKey::ActiveStyle.as_str() {
                context.active_style = Some(value);
            }
        }
        Ok(context)
    }

    /// Creates a project. A name that exists is [`CatalogError::ProjectExists`]; an empty one
    /// is [`CatalogError::EmptyProjectName`].
    pub fn create_project(&self, name: &str, description: Option<&str>) -> Result<Project> {
        const OP: &str = "creating a project";
        if name.trim().is_empty() {
            return Err(CatalogError::EmptyProjectName {
                path: self.path.clone(),
            });
        }
        let created_at = chrono::Utc::now();
        self.write(OP, |tx| {
            tx.prepare_cached(
                "INSERT INTO projects (name, description, created_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![name, description, crate::time_text(created_at)]))
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation) => CatalogError::ProjectExists {
                    path: self.path.clone(),
                    name: name.to_owned(),
                },
                _ => crate::error::db_err(&self.path, OP, e),
            })
        })?;
        tracing::info!(catalog = %self.path.display(), project = name, "project created");
        Ok(Project {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            created_at,
        })
    }

    /// All projects, by name.
    pub fn list_projects(&self) -> Result<Vec<Project>> {
        let rows: Vec<(String, Option<String>, String)> = self.read("listing projects", |c| {
            c.prepare_cached("SELECT name, description, created_at FROM projects ORDER BY name")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })?;
        rows.into_iter()
            .map(|(name, description, created)| {
                let created_at =
                    self.parse_time("created_at", format!("project {name}"), &created)?;
                Ok(Project {
                    name,
                    description,
                    created_at,
                })
            })
            .collect()
    }

    /// One project.
    pub fn project(&self, name: &str) -> Result<Option<Project>> {
        let row: Option<(Option<String>, String)> = self.read("reading a project", |c| {
            c.prepare_cached("SELECT description, created_at FROM projects WHERE name = ?1")?
                .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })?;
        row.map(|(description, created)| {
            Ok(Project {
                name: name.to_owned(),
                description,
                created_at: self.parse_time("created_at", format!("project {name}"), &created)?,
            })
        })
        .transpose()
    }
}
