//! The binary's usage errors and exit codes, without any chain (the chain tests are in
//! `tests/it/cli.rs`).
// An integration test links every dependency of the package; it exercises the library and the
// binary, not those crates.
#![allow(unused_crate_dependencies)]
#![allow(clippy::unwrap_used)]

use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_oracle-cli");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(CLI).env_clear().envs(env.iter().copied()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_and_say_what_to_do() {
    let (code, _, err) = run(&["no-such-command"], &[]);
    assert_eq!(code, 2, "{err}");
    // A missing setting names the variable.
    let (code, out, err) = run(&["--json", "status"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("JEJU_RPC_URLS") || err.contains("ORACLE_ADDRESS"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], "usage");
    // Prices that are not exact 8-decimal dollars are refused before anything is read.
    let env = [
        ("JEJU_RPC_URL", "http://127.0.0.1:9"),
        ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
    ];
    let (code, _, err) = run(&["emergency-update", "--eth", "3245.123456789", "--elizaos", "0.1"], &env);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at most 8 decimals"), "{err}");
    let (code, _, err) = run(&["emergency-update", "--eth", "1e3", "--elizaos", "0.1"], &env);
    assert_eq!(code, 2, "{err}");
    // A key on the command line is refused unless forced, and never echoed.
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let (code, out, err) =
        run(&["emergency-update", "--eth", "3000", "--elizaos", "0.1", "--private-key", key], &env);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-key-argument"), "{err}");
    assert!(!out.contains(key) && !err.contains(key), "{out}{err}");
    let (_, help, _) = run(&["--help"], &[]);
    for command in
        ["status", "prices", "emergency-update", "set-updater", "leader", "drill", "deploy-oracle", "paused"]
    {
        assert!(help.contains(command), "{help}");
    }
}
