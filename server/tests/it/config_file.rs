//! Strict configuration through the real binary: a misspelt key in `chartgate.toml` is named with
//! the nearest known key by `chartgate doctor` and stops `chartgate serve`; a `CHARTGATE_*`
//! variable that sets nothing is only warned about.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::api::chartgate;

const DID_YOU_MEAN: &str = "unknown key `scan_intervall` (did you mean `scan_interval`?)";

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run chartgate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn doctor_names_a_misspelt_key_and_its_nearest_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chartgate.toml"), "scan_intervall = \"5s\"\n").unwrap();
    let (ok, text) = output(chartgate(dir.path()).arg("doctor"));
    assert!(!ok, "doctor passed a misspelt key:\n{text}");
    assert!(text.contains("FAIL") && text.contains(DID_YOU_MEAN), "{text}");
    assert!(!text.contains("configuration loads"), "{text}");

    // A section nobody reads, in an overlay that is not even the active one.
    std::fs::write(dir.path().join("chartgate.toml"), "[environments.prod.reviw]\nauto = true\n").unwrap();
    let (ok, text) = output(chartgate(dir.path()).arg("doctor"));
    assert!(!ok && text.contains("unknown section `[environments.prod.reviw]`"), "{text}");
}

#[test]
fn serve_refuses_to_start_with_a_misspelt_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chartgate.toml"), "scan_intervall = \"5s\"\n").unwrap();
    let mut child = chartgate(dir.path())
        .arg("serve")
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with a misspelt key in chartgate.toml");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(DID_YOU_MEAN), "{stderr}");
}

#[test]
fn a_stray_variable_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // `migrate` loads the configuration like every command, and needs no store.
    let (ok, text) = output(
        chartgate(dir.path())
            .arg("migrate")
            .env("RUST_LOG", "warn")
            .env("CHARTGATE_SCAN_INTERVALL", "5s")
            .env("CHARTGATE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
            .env("CHARTGATE_TOKEN", "cg_not_a_setting"),
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("CHARTGATE_SCAN_INTERVALL matches no configuration key")
            && text.contains("CHARTGATE_SCAN_INTERVAL?"),
        "{text}"
    );
    assert!(!text.contains("CHARTGATE_TEST_PG_URL") && !text.contains("CHARTGATE_TOKEN"), "{text}");

    // doctor lists it among its warnings.
    let (_, text) = output(chartgate(dir.path()).arg("doctor").env("CHARTGATE_SCAN_INTERVALL", "5s"));
    assert!(text.contains("ok    configuration loads"), "{text}");
    assert!(text.contains("warn  CHARTGATE_SCAN_INTERVALL matches no configuration key"), "{text}");
}
