//! The committed contract artifacts (what Rust's `sol!` bindings and deployments use) must be
//! exactly what the Solidity source compiles to.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oracle_tests::repo_root;

#[test]
fn committed_artifacts_match_the_solidity_source() {
    let root = repo_root();
    let out = std::process::Command::new("node")
        .arg(root.join("contracts/build.mjs"))
        .arg("--check")
        .current_dir(&root)
        .output()
        .expect("node runs (scripts/setup.sh installs the compiler it uses)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "contracts/artifacts is stale:\n{text}");
    assert!(text.contains("up to date"), "{text}");
}
