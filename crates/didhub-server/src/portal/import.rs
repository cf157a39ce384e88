//! The DID import: a file (CSV, XLSX, XLS) checked first (the store's import as a dry run:
//! the per-row report), then its good rows imported from the same upload, kept meanwhile for
//! the user who sent it. Both run apart from the request, a large file showing its progress
//! (`import_progress`).

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use didhub_core::import::{Defaults, MAX_IMPORT_NUMBERS};
use didhub_store::inventory::import::{ImportFile, ImportOptions, ImportReport};
use uuid::Uuid;

use std::sync::atomic::Ordering;

use super::import_progress::{run, Finished};
use super::inventory::{choices, status_label, Choice};
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::AppState;

/// Rejected rows listed on the report page (the count says how many in all).
const SHOWN_REJECTS: usize = 200;

/// The form's fields besides the file, as the API's import names them.
const FIELDS: &[&str] = &[
    "operator",
    "country",
    "status",
    "after_hold",
    "tag",
    "reason",
];

#[derive(Clone)]
pub struct RejectView {
    pub row: usize,
    pub value: String,
    pub reason: String,
}

#[derive(Clone)]
pub struct ReportView {
    pub valid: String,
    pub valid_n: usize,
    pub rejected: String,
    pub duplicates: String,
    pub rows: Vec<RejectView>,
    pub more: bool,
    pub operators_created: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/import.html")]
struct ImportPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    others: Vec<String>,
    statuses: Vec<Choice>,
    after_holds: Vec<Choice>,
    /// After the dry run: its report and the upload kept for the import.
    report: Option<ReportView>,
    upload: String,
    file_name: String,
    /// After the import: how many DIDs.
    imported: Option<String>,
}

fn statuses(allowed: fn(didhub_core::did::DidStatus) -> bool) -> Vec<(String, String)> {
    didhub_core::did::DidStatus::ALL
        .iter()
        .filter(|s| allowed(**s))
        .map(|s| (s.as_str().to_string(), status_label(*s).to_string()))
        .collect()
}

#[derive(Clone)]
pub(super) struct Outcome {
    report: Option<ReportView>,
    upload: String,
    file_name: String,
    imported: Option<String>,
}

pub(super) fn page(
    v: &Viewer,
    form: Form,
    errors: Errors,
    out: Outcome,
) -> axum::response::Response {
    let page = ImportPage {
        chrome: v.chrome("Import DIDs", "/dids"),
        others: errors.others(&[
            "file",
            "operator",
            "country",
            "status",
            "after_hold",
            "tag",
            "reason",
        ]),
        statuses: choices(
            statuses(|s| s.initial().is_ok()),
            form.value("status"),
            Some("From the file, else in stock"),
        ),
        after_holds: choices(
            statuses(|s| s.after_hold().is_ok()),
            form.value("after_hold"),
            Some("From the file, else in stock"),
        ),
        report: out.report,
        upload: out.upload,
        file_name: out.file_name,
        imported: out.imported,
        form,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page)
}

fn nothing() -> Outcome {
    Outcome {
        report: None,
        upload: String::new(),
        file_name: String::new(),
        imported: None,
    }
}

pub async fn form(v: Viewer) -> PageResult {
    Ok(page(&v, Form::default(), Errors::default(), nothing()))
}

/// Where an upload is kept between its check and its import: named by its user, so that
/// only the user who sent it can import it.
fn kept(user: Uuid, upload: Uuid) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("didhub-portal-import-{user}-{upload}"))
}

/// How long a checked upload waits for its import.
const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes uploads checked and never imported, older than [`KEPT_FOR`].
async fn sweep() {
    let Ok(mut dir) = tokio::fs::read_dir(std::env::temp_dir()).await else {
        return;
    };
    while let Ok(Some(e)) = dir.next_entry().await {
        if !e
            .file_name()
            .to_string_lossy()
            .starts_with("didhub-portal-import-")
        {
            continue;
        }
        let old = match e.metadata().await.and_then(|m| m.modified()) {
            Ok(t) => t.elapsed().map(|d| d > KEPT_FOR).unwrap_or(false),
            Err(_) => false,
        };
        if old {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}

/// The defaults of the form, read by the core's own reader (the API's and the CLI's).
fn defaults(form: &Form, errors: &mut Errors) -> Defaults {
    let mut d = Defaults::default();
    for f in Defaults::FIELDS {
        if let Err(e) = d.set(f, form.value(f)) {
            errors.add(f, e);
        }
    }
    d
}

fn report_view(r: &ImportReport) -> ReportView {
    ReportView {
        valid: thousands(r.valid as i64),
        valid_n: r.valid,
        rejected: thousands(r.rejected_total as i64),
        duplicates: thousands(r.duplicates as i64),
        rows: r
            .rejected
            .iter()
            .take(SHOWN_REJECTS)
            .map(|x| RejectView {
                row: x.row,
                value: shown(&x.value),
                reason: shown(&x.reason),
            })
            .collect(),
        more: r.rejected_total > SHOWN_REJECTS.min(r.rejected.len()),
        operators_created: r.operators_created.iter().map(|o| shown(o)).collect(),
    }
}

/// Writes an upload's file to `path` as it comes: its size.
async fn save(
    mut field: axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
) -> Result<u64, String> {
    use tokio::io::AsyncWriteExt;
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut n = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
        out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        n += chunk.len() as u64;
    }
    out.flush().await.map_err(|e| e.to_string())?;
    Ok(n)
}

/// The check: the file is read and every row judged (a dry run of the store's import, rows
/// that fail skipped so that the good ones are counted); the upload is kept for the import.
pub async fn check(State(s): State<AppState>, v: Viewer, mut mp: Multipart) -> PageResult {
    let mut form = Form::default();
    let mut errors = Errors::default();
    sweep().await;
    // The file goes straight to where it is kept for the import, never whole in memory.
    let upload = Uuid::now_v7();
    let path = kept(v.principal.user_id, upload);
    let mut file: Option<String> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                errors.add("file", format!("the upload could not be read ({e})"));
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let fname = field.file_name().unwrap_or("").to_string();
            match save(field, &path).await {
                Ok(n) if n > 0 && !fname.is_empty() => file = Some(fname),
                Ok(_) => {}
                Err(e) => errors.add("file", format!("the upload could not be read ({e})")),
            }
            continue;
        }
        match field.text().await {
            Ok(t) if FIELDS.contains(&name.as_str()) || name == "csrf" => form.0.push((name, t)),
            Ok(_) => {}
            Err(e) => errors.add(name, e),
        }
    }
    let d = defaults(&form, &mut errors);
    let file_name = match file {
        Some(f) if errors.is_empty() => f,
        file => {
            if file.is_none() && errors.get("file").is_none() {
                errors.add("file", "choose a CSV, XLSX or XLS file");
            }
            let _ = tokio::fs::remove_file(&path).await;
            return Ok(page(&v, form, errors, nothing()));
        }
    };
    let opts = ImportOptions {
        defaults: d,
        skip_invalid: true,
        dry_run: true,
        file_name: file_name.clone(),
        reason: None,
        max_numbers: MAX_IMPORT_NUMBERS,
        rejects_csv: None,
        rejects_csv_limit: None,
    };
    let (store, actor) = (s.store.clone(), v.principal.actor());
    let name = file_name.clone();
    run(&s, &v, &file_name, false, move |rows| async move {
        let counted = move |n: usize| rows.store(n, Ordering::Relaxed);
        let done = store
            .inventory()
            .import_dids(
                &actor,
                ImportFile::Path(path.clone()),
                opts,
                Some(&counted as &(dyn Fn(usize) + Sync)),
            )
            .await;
        match done {
            Ok(r) => {
                let out = Outcome {
                    report: Some(report_view(&r)),
                    upload: upload.to_string(),
                    file_name: name,
                    imported: None,
                };
                Ok((form, errors, out))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                refused(e, form, errors)
            }
        }
    })
    .await
}

/// A refusal of the file or of a default beside its field (the file's when it names another);
/// any other failure is the page's.
fn refused(e: didhub_store::StoreError, form: Form, mut errors: Errors) -> Finished {
    match e {
        didhub_store::StoreError::Invalid { field, message } => {
            let field = if FIELDS.contains(&field.as_str()) {
                field
            } else {
                "file".to_string()
            };
            errors.add(field, message);
            Ok((form, errors, nothing()))
        }
        e => Err(e.into()),
    }
}

/// The import of the checked upload's good rows (rows that fail are skipped, as the report
/// said); the upload is then removed.
pub async fn confirm(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let d = defaults(&form, &mut errors);
    let upload = form.value("upload").trim().parse::<Uuid>().ok();
    let path = upload.map(|u| kept(v.principal.user_id, u));
    let fresh = |p: &std::path::PathBuf| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().map(|d| d <= KEPT_FOR).unwrap_or(true))
            .unwrap_or(false)
    };
    let Some(path) = path.filter(fresh) else {
        errors.add(
            "file",
            "this upload is no longer here; choose the file again",
        );
        return Ok(page(&v, form, errors, nothing()));
    };
    if !errors.is_empty() {
        return Ok(page(&v, form, errors, nothing()));
    }
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let opts = ImportOptions {
        defaults: d,
        skip_invalid: true,
        dry_run: false,
        file_name: form.value("file_name").to_string(),
        reason,
        max_numbers: MAX_IMPORT_NUMBERS,
        rejects_csv: None,
        rejects_csv_limit: None,
    };
    let (store, actor) = (s.store.clone(), v.principal.actor());
    let file_name = form.value("file_name").to_string();
    run(&s, &v, &file_name, true, move |rows| async move {
        let counted = move |n: usize| rows.store(n, Ordering::Relaxed);
        let done = store
            .inventory()
            .import_dids(
                &actor,
                ImportFile::Path(path.clone()),
                opts,
                Some(&counted as &(dyn Fn(usize) + Sync)),
            )
            .await;
        let _ = tokio::fs::remove_file(&path).await;
        match done {
            Ok(r) => {
                let out = Outcome {
                    report: None,
                    upload: String::new(),
                    file_name: String::new(),
                    imported: Some(thousands(r.imported as i64)),
                };
                Ok((Form::default(), errors, out))
            }
            Err(e) => refused(e, form, errors),
        }
    })
    .await
}
