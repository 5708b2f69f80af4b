//! `samkit users` and `samkit serve`'s start-up line: a project without users prints an
//! address carrying the token; adding users switches it to log-in.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn users(project: &Path, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_samkit"));
    cmd.arg("users")
        .args(args)
        .arg("--project")
        .arg(project)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        if let Some(p) = password {
            writeln!(stdin, "{p}").unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The line `samkit serve` prints on stdout before serving.
fn serve_line(project: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_samkit"))
        .args(["serve", "--no-model", "--port", "0"])
        .arg(project)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let line = serve_line(p);
    assert!(
        line.contains("/?token=") && line.trim_end().len() > 64,
        "{line}"
    );

    let o = users(
        p,
        &["add", "ann", "--role", "annotator", "--password-file", "-"],
        Some("ann password"),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("first user must be an admin"),
        "{}",
        text(&o)
    );
    let o = users(
        p,
        &["add", "root", "--role", "admin", "--password-file", "-"],
        Some("short"),
    );
    assert!(text(&o).contains("at least 8"), "{}", text(&o));
    let o = users(p, &["add", "root", "--role", "admin"], None);
    assert!(text(&o).contains("--password-file"), "{}", text(&o));
    let o = users(
        p,
        &["add", "root", "--role", "admin", "--password-file", "-"],
        Some("root password"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let pw = p.join("pw.txt");
    std::fs::write(&pw, "ann password\n").unwrap();
    let o = users(
        p,
        &[
            "add",
            "Ann",
            "--role",
            "ANNOTATOR",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = users(
        p,
        &["add", "ann", "--role", "reviewer", "--password-file", "-"],
        Some("another one"),
    );
    assert!(text(&o).contains("exists already"), "{}", text(&o));
    let o = users(p, &["set-role", "ann", "reviewer"], None);
    assert!(text(&o).contains("Ann is now reviewer"), "{}", text(&o));
    let o = users(p, &["set-role", "root", "annotator"], None);
    assert!(text(&o).contains("only admin"), "{}", text(&o));
    let o = users(p, &["disable", "ann"], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = users(
        p,
        &["reset-password", "nobody", "--password-file", "-"],
        Some("whatever1"),
    );
    assert!(text(&o).contains("no user \"nobody\""), "{}", text(&o));
    let o = users(p, &["list"], None);
    let list = text(&o);
    assert!(
        list.contains("Ann") && list.contains("reviewer") && list.contains("disabled"),
        "{list}"
    );
    assert!(list.contains("root") && list.contains("admin"), "{list}");

    let line = serve_line(p);
    assert!(
        !line.contains("token") && line.contains("sign in (2 user(s)"),
        "{line}"
    );
}
