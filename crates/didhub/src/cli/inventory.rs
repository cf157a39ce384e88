//! `didhub import`, `export`, `operators`, `dids`, `audit`: the DID inventory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use didhub_core::did::DidStatus;
use didhub_core::import::{Defaults, MAX_IMPORT_NUMBERS};
use didhub_core::number::{Country, NumberType};
use didhub_store::inventory::dids::{DidPatch, NewDids, Selection, Target};
use didhub_store::inventory::import::{ImportFile, ImportOptions};
use didhub_store::{Actor, AuditFilter, DidFilter, DidSort, Store};

use crate::show;

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV, XLSX or XLS file.
    file: PathBuf,
    /// Operator for rows without one (created if it does not exist).
    #[arg(long)]
    operator: Option<String>,
    /// Default country for national-format numbers.
    #[arg(long)]
    country: Option<String>,
    /// Status for rows without one: in_stock, reserved or archive.
    #[arg(long, default_value = "in_stock")]
    status: String,
    /// After-hold status for rows without one.
    #[arg(long, default_value = "in_stock")]
    after_hold: String,
    /// Tag for rows without one.
    #[arg(long)]
    tag: Option<String>,
    /// Import the valid rows and report the others (default: all or nothing).
    #[arg(long)]
    skip_invalid: bool,
    /// Check and report only; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
    /// Write every rejected number to this CSV file (row,value,reason); the report lists the
    /// first 1,000.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

#[derive(Args, Default)]
pub struct FilterArgs {
    /// Number prefix, e.g. +44207.
    #[arg(long)]
    prefix: Option<String>,
    /// Country (ISO 3166 alpha-2, e.g. GB).
    #[arg(long)]
    country: Option<String>,
    /// Number type, e.g. mobile.
    #[arg(long = "type")]
    number_type: Option<String>,
    /// Status, e.g. in_stock or "In Stock".
    #[arg(long)]
    status: Option<String>,
    /// Operator name.
    #[arg(long)]
    operator: Option<String>,
    /// Tag (exact).
    #[arg(long)]
    tag: Option<String>,
    /// Text in the notes.
    #[arg(long)]
    notes: Option<String>,
}

#[derive(Subcommand)]
pub enum OperatorsCmd {
    /// List operators with how many DIDs each has.
    List,
    /// Create an operator.
    Create {
        /// The name.
        name: String,
    },
    /// Rename an operator.
    Rename {
        /// The current name.
        name: String,
        /// The new name.
        new_name: String,
    },
    /// Delete an operator without DIDs.
    Delete {
        /// The name.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum DidsCmd {
    /// List DIDs (first page; use the API for more).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// DIDs shown (the first, by number), 1 to 1000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create DIDs from numbers or ranges FIRST-LAST.
    Create {
        /// Numbers (any format) or ranges FIRST-LAST.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Operator name.
        #[arg(long)]
        operator: String,
        /// Default country for national-format numbers (ISO 3166, e.g. GB).
        #[arg(long)]
        country: Option<String>,
        /// Status: in_stock (default), reserved or archive.
        #[arg(long, default_value = "in_stock")]
        status: String,
        /// Status after hold: in_stock (default), reserved or archive.
        #[arg(long, default_value = "in_stock")]
        after_hold: String,
        /// Tag.
        #[arg(long)]
        tag: Option<String>,
        /// Notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// A DID's history.
    History {
        /// The number (any format the store accepts).
        number: String,
    },
    /// Edit one DID's stock fields.
    Edit {
        /// The number (any format the store accepts).
        number: String,
        #[command(flatten)]
        patch: PatchArgs,
        /// Refuse the edit unless the DID is still at this version (as last read).
        #[arg(long)]
        if_version: Option<i64>,
    },
    /// Edit every DID the filter selects (at most 100,000); all or nothing.
    BulkEdit {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        patch: BulkPatchArgs,
        /// Make the change; without it, only say how many DIDs the filter selects.
        #[arg(long)]
        yes: bool,
    },
    /// Delete DIDs; refused for all if any is assigned, porting or on hold.
    Delete {
        /// The numbers to delete.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
}

/// The fields `dids edit` may set; an empty `--tag` or `--notes` clears it.
#[derive(Args)]
pub struct PatchArgs {
    /// New status: in_stock, reserved or archive.
    #[arg(long)]
    status: Option<String>,
    /// New status after hold: in_stock, reserved or archive.
    #[arg(long)]
    after_hold: Option<String>,
    /// New tag ("" clears it).
    #[arg(long)]
    tag: Option<String>,
    /// New notes ("" clears them).
    #[arg(long)]
    notes: Option<String>,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
}

/// The fields `dids bulk-edit` may set: named `--set-…` since `--status`, `--tag` and
/// `--notes` there are the filter's, as in `export`.
#[derive(Args)]
pub struct BulkPatchArgs {
    /// New status: in_stock, reserved or archive.
    #[arg(long)]
    set_status: Option<String>,
    /// New status after hold: in_stock, reserved or archive.
    #[arg(long)]
    set_after_hold: Option<String>,
    /// New tag ("" clears it).
    #[arg(long)]
    set_tag: Option<String>,
    /// New notes ("" clears them).
    #[arg(long)]
    set_notes: Option<String>,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
}

/// The patch the flags ask for; `flags` names them for errors (`--status` or `--set-status`).
fn patch_of(
    flags: [&str; 2],
    status: Option<&str>,
    after_hold: Option<&str>,
    tag: Option<&str>,
    notes: Option<&str>,
) -> Result<DidPatch> {
    // An empty value clears the field (the API's `null`).
    let text = |v: Option<&str>| v.map(|t| Some(t.to_string()).filter(|t| !t.trim().is_empty()));
    Ok(DidPatch {
        operator_id: None,
        status: status
            .map(str::parse::<DidStatus>)
            .transpose()
            .context(flags[0].to_string())?,
        after_hold: after_hold
            .map(str::parse::<DidStatus>)
            .transpose()
            .context(flags[1].to_string())?,
        tag: text(tag),
        notes: text(notes),
    })
}

impl PatchArgs {
    fn patch(&self) -> Result<DidPatch> {
        patch_of(
            ["--status", "--after-hold"],
            self.status.as_deref(),
            self.after_hold.as_deref(),
            self.tag.as_deref(),
            self.notes.as_deref(),
        )
    }
}

impl BulkPatchArgs {
    fn patch(&self) -> Result<DidPatch> {
        patch_of(
            ["--set-status", "--set-after-hold"],
            self.set_status.as_deref(),
            self.set_after_hold.as_deref(),
            self.set_tag.as_deref(),
            self.set_notes.as_deref(),
        )
    }
}

/// The DID stored under `number`, read in any format the store accepts.
async fn did_by_number(store: &Store, number: &str) -> Result<didhub_store::Did> {
    let e164 =
        didhub_core::number::E164::parse(number, None).with_context(|| format!("'{number}'"))?;
    Ok(store.inventory().get_did_by_number(e164.as_str()).await?)
}

pub async fn operator_id(store: &Store, name: &str) -> Result<uuid::Uuid> {
    match store.inventory().find_operator(name).await? {
        Some(o) => Ok(o.id),
        None => bail!("no operator named '{name}'"),
    }
}

/// The store's filter from the command line's flags (`--operator` by name, as the API's
/// `operator`).
fn filter(f: FilterArgs) -> Result<DidFilter> {
    Ok(DidFilter {
        prefix: f.prefix,
        country: f
            .country
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(Country::parse_recorded)
            .transpose()
            .context("--country")?,
        number_type: f
            .number_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::parse::<NumberType>)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--type")?,
        status: f
            .status
            .map(|s| s.parse::<DidStatus>())
            .transpose()
            .context("--status")?,
        operator_id: None,
        operator: f.operator,
        tag: f.tag,
        notes: f.notes,
    })
}

/// Exports to `path`. A regular file (or none yet) is written beside it and renamed over it
/// once whole, keeping an existing file's permissions: an export that fails part-way leaves
/// the previous file as it was, never a cut one under its name. Anything else at the path (a
/// symlink, a FIFO, a device, `/dev/stdout`) is written into as it is, as a shell would.
async fn export_to_file(store: &Store, f: &DidFilter, path: &std::path::Path) -> Result<u64> {
    let existing = tokio::fs::symlink_metadata(path).await.ok();
    if existing.as_ref().is_some_and(|m| !m.file_type().is_file()) {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        return Ok(store.inventory().export_dids(f, &mut file).await?);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export.csv".into());
    // A name of its own (never another run's file) and created new, never truncated.
    let partial = path.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .await
        .with_context(|| {
            format!(
                "writing {} (through a temporary file beside it)",
                path.display()
            )
        })?;
    let written = async {
        let rows = store.inventory().export_dids(f, &mut file).await?;
        if let Some(m) = &existing {
            file.set_permissions(m.permissions()).await?;
        }
        file.sync_all().await?;
        tokio::fs::rename(&partial, path)
            .await
            .with_context(|| format!("moving the export to {}", path.display()))?;
        Ok::<u64, anyhow::Error>(rows)
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written
}

pub async fn import(store: &Store, actor: &Actor, a: ImportArgs) -> Result<()> {
    // Read as it is imported, never whole; opened here first for a plain error.
    std::fs::File::open(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    if let Some(r) = &a.rejects {
        std::fs::File::create(r).with_context(|| format!("--rejects {}", r.display()))?;
    }
    let mut defaults = Defaults::default();
    let flags = [
        ("operator", a.operator.as_deref()),
        ("country", a.country.as_deref()),
        ("status", Some(a.status.as_str())),
        ("after_hold", Some(a.after_hold.as_str())),
        ("tag", a.tag.as_deref()),
    ];
    for (field, value) in flags {
        let flag = format!("--{}", field.replace('_', "-"));
        defaults
            .set(field, value.unwrap_or_default())
            .map_err(anyhow::Error::msg)
            .context(flag)?;
    }
    let opts = ImportOptions {
        defaults,
        skip_invalid: a.skip_invalid,
        dry_run: a.dry_run,
        file_name: a
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        reason: a.reason.clone(),
        max_numbers: MAX_IMPORT_NUMBERS,
        rejects_csv: a.rejects.clone(),
        rejects_csv_limit: None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} rows checked ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    let progress = |n: usize| {
        if let Some(b) = &bar {
            b.set_position(n as u64);
        }
    };
    let report = store
        .inventory()
        .import_dids(
            actor,
            ImportFile::Path(a.file.clone()),
            opts,
            Some(&progress),
        )
        .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = match report {
        Ok(r) => r,
        // The file (or a default) is refused as a whole: nothing imported because of errors,
        // exit 2 like a refused row, and under --json the report, saying why.
        Err(
            e @ (didhub_store::StoreError::Invalid { .. }
            | didhub_store::StoreError::InvalidFields(_)),
        ) => {
            if a.json {
                let error = match &e {
                    didhub_store::StoreError::Invalid { field, message } => {
                        serde_json::json!({"field": field, "message": message})
                    }
                    other => serde_json::json!({"field": null, "message": other.to_string()}),
                };
                let report = serde_json::json!({
                    "imported": 0, "valid": 0, "rejected": [], "rejected_total": 0,
                    "rejected_truncated": false, "duplicates": 0,
                    "operators_created": [], "dry_run": a.dry_run, "batch_id": null,
                    "error": error,
                });
                writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    show::json_text(&report.to_string())
                )?;
            }
            show::error_line(format!("error: {e}"));
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", show::json_text(&serde_json::to_string(&report)?))?;
    } else {
        for r in report.rejected.iter().take(50) {
            let (value, reason) = (show::text(&r.value), show::text(&r.reason));
            writeln!(out, "row {}: {value} — {reason}", r.row)?;
        }
        if report.rejected_total > 50 {
            let all = match &a.rejects {
                Some(f) => format!("all are in {}", f.display()),
                None => "use --rejects FILE for all".to_string(),
            };
            writeln!(
                out,
                "… and {} more rejected rows ({all})",
                report.rejected_total - 50
            )?;
        }
        let verb = if a.dry_run { "would create" } else { "created" };
        for o in &report.operators_created {
            writeln!(out, "{verb} operator '{}'", show::text(o))?;
        }
        if a.dry_run {
            writeln!(
                out,
                "dry run: {} would be imported, {} rejected ({} duplicates)",
                show::count(report.valid, "DID"),
                report.rejected_total,
                report.duplicates
            )?;
        } else {
            writeln!(
                out,
                "imported {}, {} rejected ({} duplicates)",
                show::count(report.imported, "DID"),
                report.rejected_total,
                report.duplicates
            )?;
        }
    }
    // A dry run answers for the run it stands for: non-zero when that run would import
    // nothing because of errors (so a "check the file" step can use the exit status).
    let would_import = if a.dry_run {
        report.valid
    } else {
        report.imported
    };
    if would_import == 0 && !report.rejected.is_empty() {
        let (nothing, what) = if a.dry_run {
            ("nothing would be imported", "every row would be rejected")
        } else {
            ("nothing was imported", "every row was rejected")
        };
        if !a.json && a.skip_invalid {
            eprintln!("{nothing}: {what}");
        } else if !a.json {
            eprintln!("{nothing}: fix the rows above or use --skip-invalid");
        }
        std::process::exit(2);
    }
    Ok(())
}

/// `didhub export`: the DIDs the filter selects, as CSV, to standard output or a file.
pub async fn export(store: &Store, f: FilterArgs, output: Option<PathBuf>) -> Result<()> {
    let f = filter(f)?;
    // A bad filter is refused before any file is touched.
    store.inventory().check_filter(&f).await?;
    let rows = match output {
        Some(path) => export_to_file(store, &f, &path).await?,
        None => match store
            .inventory()
            .export_dids(&f, &mut tokio::io::stdout())
            .await
        {
            Ok(n) => n,
            // The reader stopped early (`| head`): not an error.
            Err(didhub_store::StoreError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        },
    };
    tracing::info!(rows, "exported");
    Ok(())
}

/// `didhub operators`.
pub async fn operators(store: &Store, actor: &Actor, cmd: OperatorsCmd) -> Result<()> {
    let actor = actor.clone();
    match cmd {
        OperatorsCmd::List => {
            show::header(&["ID", "NAME", "DIDS"])?;
            for o in store.inventory().list_operators().await? {
                show::row(&[&o.id, &o.name, &o.did_count])?;
            }
            Ok(())
        }
        OperatorsCmd::Create { name } => {
            let o = store.inventory().create_operator(&actor, &name).await?;
            show::row(&[&o.id, &o.name])?;
            Ok(())
        }
        OperatorsCmd::Rename { name, new_name } => {
            let id = operator_id(store, &name).await?;
            let o = store
                .inventory()
                .rename_operator(&actor, id, &new_name, None)
                .await?;
            show::row(&[&o.id, &o.name])?;
            Ok(())
        }
        OperatorsCmd::Delete { name } => {
            let id = operator_id(store, &name).await?;
            store.inventory().delete_operator(&actor, id).await?;
            Ok(())
        }
    }
}

/// `didhub dids`.
pub async fn dids(store: &Store, actor: &Actor, cmd: DidsCmd) -> Result<()> {
    let actor = actor.clone();
    match cmd {
        DidsCmd::List {
            filter: f,
            limit,
            json,
        } => {
            let f = filter(f)?;
            let page = store
                .inventory()
                .list_dids(&f, DidSort::Number, false, limit, None)
                .await?;
            if json {
                for d in page.items {
                    show::json_line(&d)?;
                }
                return Ok(());
            }
            let customers = if page.items.iter().any(|d| d.customer_id.is_some()) {
                super::accounts::customer_names(store).await?
            } else {
                Default::default()
            };
            show::header(&[
                "NUMBER",
                "COUNTRY",
                "TYPE",
                "STATUS",
                "AFTER_HOLD",
                "OPERATOR",
                "CUSTOMER",
                "TAG",
                "NOTES",
            ])?;
            for d in page.items {
                show::row(&[
                    &d.number,
                    &d.country,
                    &d.number_type,
                    &d.status,
                    &d.after_hold,
                    &d.operator,
                    &show::name_of(&customers, d.customer_id),
                    &d.tag.unwrap_or_default(),
                    &d.notes.unwrap_or_default(),
                ])?;
            }
            Ok(())
        }
        DidsCmd::Create {
            numbers,
            operator,
            country,
            status,
            after_hold,
            tag,
            notes,
        } => {
            let req = NewDids {
                numbers,
                country: country
                    .map(|c| Country::parse(&c))
                    .transpose()
                    .context("--country")?,
                operator_id: operator_id(store, &operator).await?,
                status: status.parse().context("--status")?,
                after_hold: after_hold.parse().context("--after-hold")?,
                tag,
                notes,
                reason: None,
            };
            let c = store.inventory().create_dids(&actor, req).await?;
            show::line(format!("created {}", show::count(c.created, "DID")))?;
            Ok(())
        }
        DidsCmd::History { number } => {
            let e164 = didhub_core::number::E164::parse(&number, None)
                .with_context(|| format!("'{number}'"))?;
            for e in store.audit().number_history(e164.as_str()).await? {
                show::row(&[
                    &e.at.to_rfc3339(),
                    &e.actor,
                    &e.action,
                    &e.changes,
                    &e.reason.unwrap_or_default(),
                ])?;
            }
            Ok(())
        }
        DidsCmd::Edit {
            number,
            patch,
            if_version,
        } => {
            let d = did_by_number(store, &number).await?;
            let sel = Selection::Ids(vec![Target {
                id: d.id,
                version: if_version,
            }]);
            store
                .inventory()
                .update_dids(&actor, &sel, &patch.patch()?, patch.reason.as_deref())
                .await?;
            let d = store.inventory().get_did(d.id).await?;
            show::row(&[
                &d.number,
                &d.status,
                &d.after_hold,
                &d.tag.unwrap_or_default(),
                &d.notes.unwrap_or_default(),
                &format!("version {}", d.version),
            ])?;
            Ok(())
        }
        DidsCmd::BulkEdit {
            filter: f,
            patch,
            yes,
        } => {
            let f = filter(f)?;
            let p = patch.patch()?;
            let selected = store.inventory().count_dids(&f).await?;
            if !yes {
                show::error_line(format!(
                    "the filter selects {}; add --yes to change {}",
                    show::count(selected, "DID"),
                    if selected == 1 { "it" } else { "them" }
                ));
                std::process::exit(1);
            }
            show::line(format!("changing {}", show::count(selected, "DID")))?;
            let c = store
                .inventory()
                .update_dids(&actor, &Selection::Filter(f), &p, patch.reason.as_deref())
                .await?;
            show::line(format!("changed {}", show::count(c.updated, "DID")))?;
            Ok(())
        }
        DidsCmd::Delete { numbers, reason } => {
            let mut targets = Vec::with_capacity(numbers.len());
            for n in &numbers {
                let d = did_by_number(store, n).await?;
                targets.push(Target {
                    id: d.id,
                    version: None,
                });
            }
            let d = store
                .inventory()
                .delete_dids(&actor, &Selection::Ids(targets), Some(&reason))
                .await?;
            show::line(format!("deleted {}", show::count(d.deleted, "DID")))?;
            Ok(())
        }
    }
}

/// `didhub audit`: the newest entries first.
pub async fn audit(
    store: &Store,
    subject: Option<String>,
    action: Option<String>,
    limit: u32,
) -> Result<()> {
    let f = AuditFilter {
        subject,
        action,
        ..Default::default()
    };
    for e in store.audit().list_audit(&f, limit, None).await?.items {
        show::row(&[
            &e.at.to_rfc3339(),
            &e.actor,
            &e.action,
            &e.subject.unwrap_or_default(),
            &e.changes,
            &e.reason.unwrap_or_default(),
        ])?;
    }
    Ok(())
}
