//! For tests that need something from outside the project (a server, an interpreter, the
//! conformance corpus): where it is missing they say they skipped, and where the environment
//! requires everything (`SLUICE_REQUIRE_SERVICES=1`, which CI sets) they fail instead.

use std::io::Write;

/// The variable that turns every skip into a failure.
pub const REQUIRE_SERVICES: &str = "SLUICE_REQUIRE_SERVICES";

/// Whether `program --version` runs and succeeds.
pub fn program_available(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Reports that a test cannot run because `what` is missing: `skipped: WHAT` on stderr, past the
/// test harness's capture so that it is seen, or a panic when [`REQUIRE_SERVICES`] is `1`.
pub fn skip(what: &str) {
    if std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1") {
        panic!("{what}, and {REQUIRE_SERVICES}=1 requires it");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}
