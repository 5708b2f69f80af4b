//! For tests only: test data the repository does not ship — where the reference data set
//! lives and what happens when it does not, and hostile files drawn in memory
//! ([`hostile`]).
//!
//! Suites that compare with per-click reference figures (teacher-forced parity, the
//! GrabCut evaluation, Pillow parity on GrabCut, polygon export of the GrabCut masks)
//! need a data set the repository does not ship. They find it through one setting,
//! `SAMKIT_TEST_DATA` (default: `../shared/data` beside the repository), by calling
//! [`reference_data`] with their suite's name:
//!
//! - data present: the path;
//! - data absent, `SAMKIT_REQUIRE_TEST_DATA=1` (CI sets it): the test fails, naming the
//!   folder and the setting;
//! - data absent otherwise: the test returns early, after one line on stderr and one line
//!   appended to the file `SAMKIT_TEST_SKIPS` names (the test command sets it and prints
//!   the collected lines at the end), so a missing data set never passes silently.
//!
//! The PostgreSQL variants of the store and API suites find their server the same way:
//! [`postgres_database`] reads `SAMKIT_TEST_POSTGRES` (which `scripts/test` sets after
//! starting a throw-away server), with the same required/skipped rules.

pub mod hostile;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The setting that names the reference data folder (the one holding `grabcut/`).
pub const DATA_VAR: &str = "SAMKIT_TEST_DATA";
/// When `1`, a missing reference data set fails the suite instead of skipping it.
pub const REQUIRE_VAR: &str = "SAMKIT_REQUIRE_TEST_DATA";
/// A file to which each skipped suite appends one line (set by `scripts/test`).
pub const SKIPS_VAR: &str = "SAMKIT_TEST_SKIPS";

/// The URL of a PostgreSQL server's maintenance database for the tests (set by
/// `scripts/test`, which starts one with `scripts/postgres-test-server`).
pub const POSTGRES_VAR: &str = "SAMKIT_TEST_POSTGRES";

/// The reference data folder: `$SAMKIT_TEST_DATA`, else `../shared/data` beside the
/// repository.
pub fn data_root() -> PathBuf {
    match std::env::var_os(DATA_VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let repo = repo_root();
            repo.parent().unwrap_or(&repo).join("shared/data")
        }
    }
}

/// The repository root (this crate sits at `crates/samkit-testdata`), without `..` so
/// that messages show a plain path.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// `data_root()/rel` when it exists, for the suite named `suite` (e.g.
/// `"samkit-engine parity"`). When it is missing: panics if `SAMKIT_REQUIRE_TEST_DATA=1`,
/// else records the skip (see the crate docs) and returns `None`.
pub fn reference_data(suite: &str, rel: &str) -> Option<PathBuf> {
    let root = data_root();
    let path = root.join(rel);
    if path.exists() {
        return Some(path);
    }
    let top = rel.split('/').next().unwrap_or(rel);
    let missing = format!("{suite}: not run, {} is missing", path.display());
    let how = format!(
        "set {DATA_VAR} to the folder that holds {top}/ (default: ../shared/data beside the \
         repository)"
    );
    skip(&missing, &how);
    None
}

/// The URL of a new, not yet created database (a unique name) on the test PostgreSQL
/// server, for the suite named `suite`; the store creates it when it opens the URL.
/// Without `SAMKIT_TEST_POSTGRES`: panics if `SAMKIT_REQUIRE_TEST_DATA=1`, else records
/// the skip and returns `None`.
pub fn postgres_database(suite: &str) -> Option<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    match std::env::var(POSTGRES_VAR) {
        Ok(url) if !url.is_empty() => {
            let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            Some(format!(
                "{base}/samkit_test_{}_{}_{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ))
        }
        _ => {
            skip(
                &format!("{suite}: not run on PostgreSQL, {POSTGRES_VAR} is not set"),
                &format!(
                    "scripts/test starts a server and sets {POSTGRES_VAR}; by hand: \
                     {POSTGRES_VAR}=$(scripts/postgres-test-server start DIR)"
                ),
            );
            None
        }
    }
}

/// Fails (`SAMKIT_REQUIRE_TEST_DATA=1`) or records a skipped suite.
fn skip(missing: &str, how: &str) {
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!("{missing}; {REQUIRE_VAR}=1 requires it: {how}");
    }
    eprintln!("SKIPPED {missing}: {how}");
    if let Some(file) = std::env::var_os(SKIPS_VAR) {
        // One line per call; the test command prints each distinct line once.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{missing}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, since it changes the process environment.
    #[test]
    fn present_absent_and_required() {
        let dir = std::env::temp_dir().join(format!("samkit-testdata-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("grabcut")).unwrap();
        let skips = dir.join("skips.txt");
        std::env::set_var(DATA_VAR, &dir);
        std::env::set_var(SKIPS_VAR, &skips);
        std::env::remove_var(REQUIRE_VAR);

        assert_eq!(reference_data("s", "grabcut"), Some(dir.join("grabcut")));
        assert!(!skips.exists());

        assert_eq!(reference_data("suite x", "nope"), None);
        let text = std::fs::read_to_string(&skips).unwrap();
        assert!(text.starts_with("suite x: not run"), "{text}");
        assert!(
            text.contains(&dir.join("nope").display().to_string()),
            "{text}"
        );

        std::env::set_var(REQUIRE_VAR, "1");
        let r = std::panic::catch_unwind(|| reference_data("suite y", "nope"));
        assert!(r.is_err(), "a required data set that is missing fails");
        std::env::remove_var(REQUIRE_VAR);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
