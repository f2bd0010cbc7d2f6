//! Whether the file elector's lock can be shared with the other bots at all.
//!
//! The file backend elects one leader among processes that open the same lock file on the same
//! host. A bot in a container, or a systemd service with `PrivateTmp=true` and its lock under
//! `/tmp`, sees a lock file of its own: every such bot "wins" and they all submit. Nothing fails,
//! so the only defence is to say so loudly at start-up.
//!
//! The checks take their inputs (environment lookups, `/proc/self/mountinfo`, file existence) as
//! arguments, so they are tested without containers or systemd.

use std::path::{Path, PathBuf};

use oracle_election::ElectorConfig;

use crate::BotConfig;

/// Files whose presence shows the process runs in a container, and what they reveal.
const CONTAINER_MARKERS: [(&str, &str); 2] =
    [("/.dockerenv", "a Docker container"), ("/run/.containerenv", "a Podman/OCI container")];

/// Signs that a lock file at `lock_path` is not shared with bots outside this process's
/// container or service, one sentence each (empty: no sign found).
///
/// `env` looks up an environment variable, `mountinfo` is the text of `/proc/self/mountinfo`
/// (if readable), `exists` says whether a file exists.
pub fn file_lock_isolation(
    lock_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    mountinfo: Option<&str>,
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    let mut signs = Vec::new();
    for (marker, what) in CONTAINER_MARKERS {
        if exists(Path::new(marker)) {
            signs.push(format!("this bot runs in {what} ({marker} exists)"));
        }
    }
    if env("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.trim().is_empty()) {
        signs.push("this bot runs in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set)".to_owned());
    }
    if let Some(mount) = mountinfo.and_then(|text| private_tmp_mount(lock_path, text)) {
        signs.push(format!(
            "the lock is under {}, a private mount of this service (systemd PrivateTmp, seen in /proc/self/mountinfo)",
            mount.display()
        ));
    }
    signs
}

/// The mount point holding `lock_path`, when it is a systemd `PrivateTmp` mount: its source
/// directory (the mount's root) is one of systemd's `/tmp/systemd-private-…` directories.
fn private_tmp_mount(lock_path: &Path, mountinfo: &str) -> Option<PathBuf> {
    if !lock_path.is_absolute() {
        return None;
    }
    // Fields: id, parent id, major:minor, root, mount point, ... The innermost mount holding the
    // path wins; of mounts stacked on the same point, the last listed is the visible one.
    let mut holder: Option<(&str, &str)> = None;
    for line in mountinfo.lines() {
        let mut fields = line.split_whitespace().skip(3);
        let (Some(root), Some(point)) = (fields.next(), fields.next()) else { continue };
        if lock_path.starts_with(point) && holder.is_none_or(|(_, p)| point.len() >= p.len()) {
            holder = Some((root, point));
        }
    }
    let (root, point) = holder?;
    root.contains("systemd-private-").then(|| PathBuf::from(point))
}

/// The start-up warning for `config`, when it elects through a lock file that
/// [`file_lock_isolation`] finds isolated; `None` otherwise.
pub fn file_election_warning(
    config: &BotConfig,
    env: &dyn Fn(&str) -> Option<String>,
    mountinfo: Option<&str>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<String> {
    let Some(ElectorConfig::File { path }) = config.election.as_ref().map(|e| &e.elector) else {
        return None;
    };
    let signs = file_lock_isolation(path, env, mountinfo, exists);
    if signs.is_empty() {
        return None;
    }
    Some(format!(
        "leader election uses the file backend (lock {}), but {}: the file backend only coordinates bots on one host that share this path, so bots on other hosts or in other containers each become leader and all submit; set LEADER_ELECTION_BACKEND=redis or etcd",
        path.display(),
        signs.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PRIVATE_TMP: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
30 22 0:25 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw
412 22 8:1 /tmp/systemd-private-6f1c2b0e4a7d4a0c9d5e3f2a1b0c9d8e-oracle-bot.service-Ab12Cd/tmp /tmp rw,relatime shared:1 - ext4 /dev/sda1 rw
413 22 8:1 /var/tmp/systemd-private-6f1c2b0e4a7d4a0c9d5e3f2a1b0c9d8e-oracle-bot.service-Ef34Gh/tmp /var/tmp rw,relatime shared:1 - ext4 /dev/sda1 rw
";

    const PLAIN_HOST: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw
31 22 0:26 / /srv/shared rw shared:6 - nfs4 fs:/export rw
";

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    fn files(present: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| present.iter().any(|f| Path::new(f) == p)
    }

    fn signs(
        lock: &str,
        vars: &[(&str, &str)],
        mountinfo: Option<&str>,
        present: &'static [&'static str],
    ) -> Vec<String> {
        file_lock_isolation(Path::new(lock), &env(vars), mountinfo, &files(present))
    }

    #[test]
    fn a_plain_host_shows_no_sign() {
        assert!(signs("/tmp/oracle-bot-leader.lock", &[], Some(PLAIN_HOST), &[]).is_empty());
        assert!(
            signs("/tmp/oracle-bot-leader.lock", &[("KUBERNETES_SERVICE_HOST", " ")], None, &[]).is_empty()
        );
    }

    #[test]
    fn containers_are_recognised() {
        let s = signs("/tmp/x.lock", &[], Some(PLAIN_HOST), &["/.dockerenv"]);
        assert_eq!(s.len(), 1);
        assert!(s[0].contains("Docker") && s[0].contains("/.dockerenv"), "{s:?}");
        let s = signs("/tmp/x.lock", &[], None, &["/run/.containerenv"]);
        assert!(s[0].contains("/run/.containerenv"), "{s:?}");
        let s = signs("/data/x.lock", &[("KUBERNETES_SERVICE_HOST", "10.0.0.1")], None, &[]);
        assert!(s[0].contains("Kubernetes") && s[0].contains("KUBERNETES_SERVICE_HOST"), "{s:?}");
    }

    #[test]
    fn a_private_tmp_is_recognised_only_for_locks_under_it() {
        let s = signs("/tmp/oracle-bot-leader.lock", &[], Some(PRIVATE_TMP), &[]);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(s[0].contains("under /tmp") && s[0].contains("PrivateTmp"), "{s:?}");
        let s = signs("/var/tmp/bots/leader.lock", &[], Some(PRIVATE_TMP), &[]);
        assert!(s[0].contains("under /var/tmp"), "{s:?}");
        assert!(signs("/srv/shared/leader.lock", &[], Some(PRIVATE_TMP), &[]).is_empty());
        assert!(signs("/tmpfoo/leader.lock", &[], Some(PRIVATE_TMP), &[]).is_empty(), "components, not text");
        assert!(signs("leader.lock", &[], Some(PRIVATE_TMP), &[]).is_empty(), "relative: unknown");
    }

    #[test]
    fn the_warning_names_the_backend_the_lock_and_the_alternatives() {
        let mut vars: HashMap<String, String> = [
            (
                "PRICE_UPDATER_PRIVATE_KEY",
                "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            ),
            ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            ("BASE_RPC_URL", "http://127.0.0.1:8545"),
            ("JEJU_RPC_URL", "http://127.0.0.1:9545"),
            ("ELIZAOS_FIXED_PRICE_USD", "0.10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let in_docker = files(&["/.dockerenv"]);
        let none = env(&[]);
        let off = BotConfig::from_map(&vars).unwrap();
        assert_eq!(file_election_warning(&off, &none, None, &in_docker), None, "no election, no warning");

        vars.insert("LEADER_ELECTION_ENABLED".into(), "true".into());
        let on = BotConfig::from_map(&vars).unwrap();
        let warning = file_election_warning(&on, &none, None, &in_docker).unwrap();
        for part in
            ["file backend", "/tmp/oracle-bot-leader.lock", "/.dockerenv", "one host", "redis or etcd"]
        {
            assert!(warning.contains(part), "{part:?} missing: {warning}");
        }
        assert_eq!(file_election_warning(&on, &none, Some(PLAIN_HOST), &files(&[])), None);

        vars.insert("LEADER_ELECTION_BACKEND".into(), "redis".into());
        vars.insert("REDIS_URL".into(), "redis://127.0.0.1:6379".into());
        let redis = BotConfig::from_map(&vars).unwrap();
        assert_eq!(file_election_warning(&redis, &none, None, &in_docker), None, "other backends are fine");
    }
}
