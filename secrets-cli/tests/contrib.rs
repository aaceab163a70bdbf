//! The scheduling files in `contrib/` are valid for the tools that read them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn contrib() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib"))
}

/// `systemd-analyze verify` accepts the service and timer without a warning, with the
/// service's `ExecStart` pointed at the binary under test.
#[test]
fn systemd_units_verify() {
    let Ok(status) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is not installed (the CI image has systemd)"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(contrib().join("systemd/coffer-rotate.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/coffer key rotate --due"));
    assert!(service.contains("ExecStart=/usr/local/bin/coffer rotate --due"));
    let service = service.replace("/usr/local/bin/coffer", env!("CARGO_BIN_EXE_coffer"));
    std::fs::write(dir.path().join("coffer-rotate.service"), service).unwrap();
    std::fs::copy(
        contrib().join("systemd/coffer-rotate.timer"),
        dir.path().join("coffer-rotate.timer"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "./coffer-rotate.timer", "./coffer-rotate.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
}

/// The crontab line runs the same command, every minute.
#[test]
fn crontab_line() {
    let tab = std::fs::read_to_string(contrib().join("crontab")).unwrap();
    let lines: Vec<&str> = tab.lines().filter(|l| l.starts_with("* * * * *")).collect();
    assert!(lines[0].contains("coffer key rotate --due"), "{lines:?}");
    assert!(lines[1].contains("coffer rotate --due"), "{lines:?}");
}
