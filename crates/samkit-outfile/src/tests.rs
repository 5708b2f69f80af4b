use super::*;
use std::os::unix::fs::symlink;

fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn new_file_mode_follows_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mask.png");
    write_bytes(&p, b"new").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask());
    assert_ne!(mode, 0o600, "tempfile's private mode must not leak");
}

#[test]
fn replaced_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.json");
    fs::write(&p, b"old").unwrap();
    fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
    write_bytes(&p, b"new").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn symlink_is_kept_and_its_target_updated() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    fs::create_dir(&real_dir).unwrap();
    let target = real_dir.join("mask.png");
    fs::write(&target, b"old").unwrap();
    // A relative link in another folder, and a link to that link.
    let link = dir.path().join("link.png");
    symlink("real/mask.png", &link).unwrap();
    let link2 = dir.path().join("link2.png");
    symlink(&link, &link2).unwrap();

    write_bytes(&link2, b"new").unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(&link2)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&target).unwrap(), b"new");
    assert!(leftovers(dir.path()).is_empty() && leftovers(&real_dir).is_empty());

    // A dangling link creates its target and stays a link.
    let dangling = dir.path().join("dangling.png");
    symlink("real/new.png", &dangling).unwrap();
    write_bytes(&dangling, b"fresh").unwrap();
    assert!(fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(real_dir.join("new.png")).unwrap(), b"fresh");
}

#[test]
fn failed_write_leaves_the_old_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.png");
    fs::write(&p, b"precious").unwrap();
    let e = write_file(&p, |w| {
        w.write_all(b"half")?;
        Err(io::Error::other("encoder failed"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("encoder failed"), "{e}");
    assert_eq!(fs::read(&p).unwrap(), b"precious");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn dev_null_is_written_not_replaced() {
    write_bytes(Path::new("/dev/null"), b"discarded").unwrap();
    let m = fs::metadata("/dev/null").unwrap();
    assert!(m.file_type().is_char_device());
}

#[test]
fn fifo_is_written_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    write_bytes(&fifo, b"through the pipe").unwrap();
    assert_eq!(reader.join().unwrap(), b"through the pipe");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn folders_and_missing_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_bytes(dir.path(), b"x").unwrap_err();
    assert!(matches!(e, WriteError::IsFolder { .. }), "{e}");
    let e = write_bytes(&dir.path().join("no/such/out.png"), b"x").unwrap_err();
    assert!(matches!(e, WriteError::NoFolder { .. }), "{e}");
    assert!(check_writable(&dir.path().join("fine.png")).is_ok());
    assert!(check_writable(dir.path()).is_err());
}

#[test]
fn link_loops_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    assert!(write_bytes(&a, b"x").is_err());
}

#[test]
fn own_descriptors_are_written_through_keeping_offset_and_append_mode() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log.txt");
    fs::write(&p, b"kept\n").unwrap();
    // As a shell's `>> log.txt`: an append-mode descriptor.
    let appending = OpenOptions::new().append(true).open(&p).unwrap();
    let fd = appending.as_raw_fd();
    for name in [format!("/dev/fd/{fd}"), format!("/proc/self/fd/{fd}")] {
        write_bytes(Path::new(&name), b"line\n").unwrap();
    }
    assert_eq!(fs::read(&p).unwrap(), b"kept\nline\nline\n");
    assert!(!is_stdout(&p));
    assert!(is_stdout(Path::new("/dev/stdout")));
    assert!(is_stdout(Path::new("/proc/self/fd/1")));
}
