//! The examples that run on anvil run here as tests: each is the built example binary, run as a
//! user would run it, and must exit 0 having printed what it promises. `cargo test --workspace`
//! builds them; for this module alone, `cargo build -p oracle-examples --examples` first.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, next to this test binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps/<test>");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build -p oracle-examples --examples`", path.display());
    path
}

async fn run(name: &str) -> String {
    let out = tokio::process::Command::new(example(name))
        .env("ANVIL", oracle_tests::tool("anvil"))
        .output()
        .await
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn generic_target_pushes_two_rounds_to_a_differently_shaped_contract() {
    let out = run("generic_target").await;
    assert!(out.contains("round 1 in block"), "{out}");
    assert!(out.contains("round 2 in block"), "{out}");
    assert!(out.contains("two rounds pushed"), "{out}");
}

#[tokio::test]
async fn embed_engine_runs_to_its_end() {
    run("embed_engine").await;
}
