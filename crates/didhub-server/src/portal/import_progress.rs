//! The import's progress: a check or an import runs apart from its request, registered by a
//! new id and the user who sent it. The request answers with the result when it is done
//! within `AppState::import_wait` (2 s); otherwise with the progress page
//! (`/dids/import/progress/{id}`, that user's only), which htmx asks for again every second
//! (the rows read so far) until it is the result: the same page the import answers with.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use uuid::Uuid;

use super::import::{page, Outcome};
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

/// What a finished check or import shows: its page, or the failure of the request.
pub(super) type Finished = Result<(Form, Errors, Outcome), ApiError>;

/// How long a finished job's result stays for its progress page.
const KEEP_DONE: Duration = Duration::from_secs(3600);

struct Job {
    file_name: String,
    /// An import (rows imported) rather than a check.
    importing: bool,
    rows: Arc<AtomicUsize>,
    done: Option<(Instant, Finished)>,
}

/// Checks and imports running or finished, by (user, id).
#[derive(Default)]
pub struct ImportJobs(Mutex<HashMap<(Uuid, Uuid), Job>>);

enum View {
    Running {
        file_name: String,
        importing: bool,
        rows: usize,
    },
    Done(Box<Finished>),
}

impl ImportJobs {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), Job>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a job (and forgets results older than [`KEEP_DONE`]).
    fn start(&self, user: Uuid, file_name: &str, importing: bool) -> (Uuid, Arc<AtomicUsize>) {
        let id = Uuid::now_v7();
        let rows = Arc::new(AtomicUsize::new(0));
        let mut jobs = self.jobs();
        jobs.retain(|_, j| j.done.as_ref().is_none_or(|d| d.0.elapsed() < KEEP_DONE));
        jobs.insert(
            (user, id),
            Job {
                file_name: file_name.to_string(),
                importing,
                rows: rows.clone(),
                done: None,
            },
        );
        (id, rows)
    }

    fn finish(&self, user: Uuid, id: Uuid, f: Finished) {
        if let Some(j) = self.jobs().get_mut(&(user, id)) {
            j.done = Some((Instant::now(), f));
        }
    }

    /// The job as its user sees it. A failure is told once (the job is then forgotten).
    fn view(&self, user: Uuid, id: Uuid) -> Option<View> {
        let mut jobs = self.jobs();
        let j = jobs.get(&(user, id))?;
        match &j.done {
            None => Some(View::Running {
                file_name: j.file_name.clone(),
                importing: j.importing,
                rows: j.rows.load(Ordering::Relaxed),
            }),
            Some((_, Ok((form, errors, out)))) => Some(View::Done(Box::new(Ok((
                form.clone(),
                errors.clone(),
                out.clone(),
            ))))),
            Some((_, Err(_))) => jobs
                .remove(&(user, id))
                .and_then(|j| j.done)
                .map(|(_, f)| View::Done(Box::new(f))),
        }
    }

    fn forget(&self, user: Uuid, id: Uuid) {
        self.jobs().remove(&(user, id));
    }
}

/// Runs `work` (given the counter of rows read) apart from the request: its page when done
/// within the state's `import_wait`, else a redirect to its progress page.
pub(super) async fn run<F>(
    s: &AppState,
    v: &Viewer,
    file_name: &str,
    importing: bool,
    work: impl FnOnce(Arc<AtomicUsize>) -> F,
) -> PageResult
where
    F: Future<Output = Finished> + Send + 'static,
{
    let user = v.principal.user_id;
    let (id, rows) = s.import_jobs.start(user, file_name, importing);
    let jobs = s.import_jobs.clone();
    let work = work(rows);
    let task = tokio::spawn(async move {
        // A work that stops unexpectedly (a panic) is a failure of its page, not a page that
        // says it runs for ever.
        let f = tokio::spawn(work).await.unwrap_or_else(|_| {
            let stopped = std::io::Error::other("the import stopped unexpectedly");
            Err(didhub_store::StoreError::from(stopped).into())
        });
        jobs.finish(user, id, f);
    });
    match tokio::time::timeout(s.import_wait, task).await {
        Ok(_) => {
            let shown = show(s, v, id).await;
            s.import_jobs.forget(user, id);
            shown
        }
        Err(_) => Ok(Redirect::to(&format!("/dids/import/progress/{id}")).into_response()),
    }
}

#[derive(Template)]
#[template(path = "portal/import_progress.html")]
struct ProgressPage {
    chrome: Chrome,
    href: String,
    doing: &'static str,
    file_name: String,
    rows: String,
}

async fn show(s: &AppState, v: &Viewer, id: Uuid) -> PageResult {
    match s.import_jobs.view(v.principal.user_id, id) {
        None => Err(v.fail(ApiError::NotFound("import".into()))),
        Some(View::Done(f)) => match *f {
            Ok((form, errors, out)) => Ok(page(v, form, errors, out)),
            Err(e) => Err(v.fail(e)),
        },
        Some(View::Running {
            file_name,
            importing,
            rows,
        }) => Ok(render(
            StatusCode::OK,
            &ProgressPage {
                chrome: v.chrome("Import DIDs", "/dids"),
                href: format!("/dids/import/progress/{id}"),
                doing: if importing { "Importing" } else { "Checking" },
                file_name: shown(&file_name),
                rows: thousands(rows as i64),
            },
        )),
    }
}

/// The progress of a check or an import: its user's only (another's, or one forgotten: 404).
pub async fn progress(State(s): State<AppState>, v: Viewer, Path(id): Path<String>) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("import".into())))?;
    show(&s, &v, id).await
}
