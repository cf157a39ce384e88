//! `didhub documents`: upload a document of a partner (a letter of authorisation, an
//! invoice…) and get one back. The checks are the store's, as for the API.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use didhub_core::documents::{DocumentKind, SubjectKind};
use didhub_store::accounts::orgs::Scope;
use didhub_store::documents::{Document, Subject};
use didhub_store::{Actor, Store};
use uuid::Uuid;

use crate::show;

#[derive(Subcommand)]
pub enum DocumentsCmd {
    /// Upload a file (PDF, PNG, JPEG or ZIP, judged by its content) as a partner's document.
    Upload {
        /// loa, invoice, agreement, other or attachment.
        #[arg(long)]
        kind: String,
        /// The partner it belongs to (id or name).
        #[arg(long)]
        partner: String,
        /// Attach it to this order of the partner (id).
        #[arg(long)]
        order: Option<Uuid>,
        /// Print the document as JSON instead of a line of fields.
        #[arg(long)]
        json: bool,
        /// The file.
        file: PathBuf,
    },
    /// Print a document's metadata.
    Show {
        /// The document's id.
        id: Uuid,
        /// Print JSON instead of a line of fields.
        #[arg(long)]
        json: bool,
    },
    /// Write a document's content to a file (`-`: standard output), as it was uploaded.
    Get {
        /// The document's id.
        id: Uuid,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

fn print(d: &Document, json: bool) -> Result<()> {
    if json {
        return show::json(d);
    }
    show::row(&[
        &d.id,
        &d.kind,
        &d.file_name,
        &d.content_type,
        &d.size,
        &d.sha256,
    ])?;
    Ok(())
}

/// A partner by id, else by name.
async fn partner(store: &Store, p: &str) -> Result<Uuid> {
    match p.trim().parse::<Uuid>() {
        Ok(id) => Ok(id),
        Err(_) => Ok(store.accounts().find_partner(p).await?.id),
    }
}

pub async fn documents(store: &Store, actor: &Actor, cmd: DocumentsCmd) -> Result<()> {
    match cmd {
        DocumentsCmd::Upload {
            kind,
            partner: p,
            order,
            json,
            file,
        } => {
            let kind: DocumentKind = kind.parse().map_err(anyhow::Error::msg).context("--kind")?;
            let max = store.documents().max_bytes();
            let len = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            // Refused before it is read: the limit is the store's, named as it says it.
            if len > max {
                bail!(
                    "{}: {} bytes, over the limit of {max} bytes (--max-document-bytes)",
                    file.display(),
                    len
                );
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let partner = partner(store, &p).await.context("--partner")?;
            let subject = order.map(|id| Subject {
                kind: SubjectKind::Order,
                id,
            });
            let d = store
                .documents()
                .put(
                    actor,
                    Scope::All,
                    partner,
                    kind,
                    &name,
                    bytes.into(),
                    subject,
                )
                .await?;
            print(&d, json)
        }
        DocumentsCmd::Show { id, json } => {
            print(&store.documents().get(Scope::All, id).await?, json)
        }
        DocumentsCmd::Get { id, out } => {
            let (d, bytes) = store.documents().content(Scope::All, id).await?;
            if out.as_os_str() == "-" {
                std::io::stdout().lock().write_all(&bytes)?;
                return Ok(());
            }
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            show::line(format!(
                "{} ({}, {} bytes) written to {}",
                show::text(&d.file_name),
                d.content_type,
                bytes.len(),
                show::text(&out.display())
            ))?;
            Ok(())
        }
    }
}
