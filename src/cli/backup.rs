//! `backup --to FILE`: a consistent copy of the SQLite database, taken while `serve` runs.
//! `VACUUM INTO` reads one snapshot (a read transaction: in WAL mode the writer goes on),
//! writes it to a file next to FILE, which is then checked by opening it, synced, and only
//! then given FILE's name: a FILE that exists is never a half-written copy.

use anyhow::{bail, Context as _};
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

/// What a finished backup holds.
#[derive(Debug)]
pub struct Copy {
    pub callbacks: i64,
    pub transitions: i64,
    pub bytes: u64,
}

/// `backup`: copies, then says what the copy holds.
pub fn run(database_url: &str, to: &Path, force: bool) -> anyhow::Result<std::process::ExitCode> {
    let copy = backup(database_url, to, force)?;
    println!(
        "backed up to {}: {} callbacks, {} transitions, {} bytes; integrity ok",
        to.display(),
        copy.callbacks,
        copy.transitions,
        copy.bytes
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Copies the database `database_url` names to `to` (replacing it only when `force`).
pub fn backup(database_url: &str, to: &Path, force: bool) -> anyhow::Result<Copy> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        bail!(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump, or continuous archiving for \
             point-in-time recovery (README, \"Backup and restore\"); `backup` copies SQLite databases"
        );
    }
    if !database_url.starts_with("sqlite:") {
        bail!("DATABASE_URL: neither sqlite: nor postgres://");
    }
    let options = SqliteConnectOptions::from_str(database_url).context("DATABASE_URL")?;
    let source = options.get_filename().to_path_buf();
    if !source.is_file() {
        bail!("DATABASE_URL: no database at {}", source.display());
    }
    if to.exists() && !force {
        bail!("{} exists: pass --force to replace it", to.display());
    }
    let partial = partial_path(to)?;
    let copied = copy(&source, &partial).and_then(|()| verify(&partial));
    let copy = match copied {
        Ok(copy) => copy,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    if force {
        std::fs::rename(&partial, to)
    } else {
        // A link fails when FILE appeared meanwhile: still never replaced unasked.
        std::fs::hard_link(&partial, to).and_then(|()| std::fs::remove_file(&partial))
    }
    .with_context(|| format!("{}: cannot put the copy there", to.display()))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new name survives a crash only once its directory is synced.
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(copy)
}

/// A fresh name next to `to` (same file system, so the final rename is atomic).
fn partial_path(to: &Path) -> anyhow::Result<PathBuf> {
    let name = to
        .file_name()
        .with_context(|| format!("{}: not a file name", to.display()))?;
    let mut partial = name.to_os_string();
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(to.with_file_name(partial))
}

fn copy(source: &Path, partial: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // Created empty first, private: the copy holds every callback and the webhook secrets
    // (VACUUM INTO accepts an empty file, and would create it 0644).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(partial)
        .with_context(|| format!("{}: cannot create", partial.display()))?;
    // Read-write without create: a wrong path is an error, not a new empty database. Nothing
    // is written to the source; WAL mode needs a connection that may use its shared memory.
    let db = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("{}: cannot open", source.display()))?;
    db.busy_timeout(Duration::from_secs(30))?;
    let target = partial
        .to_str()
        .with_context(|| format!("{}: not UTF-8", partial.display()))?;
    db.execute("vacuum into ?1", [target])
        .with_context(|| format!("copying {} to {}", source.display(), partial.display()))?;
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", partial.display()))?;
    Ok(())
}

/// Opens the copy as a database: intact, migrated, and what it holds.
fn verify(partial: &Path) -> anyhow::Result<Copy> {
    let db = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("{}: the copy does not open", partial.display()))?;
    let check: String = db.query_row("pragma integrity_check", [], |row| row.get(0))?;
    if check != "ok" {
        bail!("the copy fails its integrity check: {check}");
    }
    let count = |table: &str| -> anyhow::Result<i64> {
        db.query_row(&format!("select count(*) from {table}"), [], |row| row.get(0))
            .with_context(|| {
                format!("the copy has no {table} table: is DATABASE_URL this service's database?")
            })
    };
    Ok(Copy {
        callbacks: count("callbacks")?,
        transitions: count("transitions")?,
        bytes: std::fs::metadata(partial)?.len(),
    })
}
