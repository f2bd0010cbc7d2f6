//! Choosing a backend from configuration: [`ElectorConfig`], built by hand or from environment
//! variables, and [`ElectorConfig::connect`].

use std::{path::PathBuf, sync::Arc, time::Duration};

use oracle_core::ElectionError;

use crate::{Elector, FileElector, LeaseConfig, RedisElector, RedisUrl, Secret, file::DEFAULT_LOCK_PATH};

/// The default etcd election name.
pub const DEFAULT_ETCD_ELECTION: &str = "oracle-bot/leader";

/// The environment variables [`ElectorConfig::from_env`] and [`LeaseConfig::from_env`] read.
pub mod env {
    /// `file` (default), `redis` or `etcd`.
    pub const BACKEND: &str = "LEADER_ELECTION_BACKEND";
    /// The file elector's record (default `/tmp/oracle-bot-leader.lock`).
    pub const LOCK_PATH: &str = "LEADER_LOCK_PATH";
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (required for `redis`).
    pub const REDIS_URL: &str = "REDIS_URL";
    /// The Redis key prefix (default `oracle-bot`).
    pub const REDIS_KEY_PREFIX: &str = "LEADER_REDIS_KEY_PREFIX";
    /// Comma-separated etcd endpoints, e.g. `http://10.0.0.1:2379,http://10.0.0.2:2379`
    /// (required for `etcd`).
    pub const ETCD_ENDPOINTS: &str = "ETCD_ENDPOINTS";
    /// The etcd election name (default `oracle-bot/leader`).
    pub const ETCD_ELECTION: &str = "LEADER_ETCD_ELECTION";
    /// The etcd user; set with [`ETCD_PASSWORD`].
    pub const ETCD_USERNAME: &str = "ETCD_USERNAME";
    /// The etcd user's password; set with [`ETCD_USERNAME`].
    pub const ETCD_PASSWORD: &str = "ETCD_PASSWORD";
    /// A PEM file of the CA that signed the etcd servers' certificates (turns TLS on).
    pub const ETCD_CA_CERT: &str = "ETCD_CA_CERT";
    /// A PEM client certificate for etcd (with [`ETCD_CLIENT_KEY`]; turns TLS on).
    pub const ETCD_CLIENT_CERT: &str = "ETCD_CLIENT_CERT";
    /// The PEM key of [`ETCD_CLIENT_CERT`].
    pub const ETCD_CLIENT_KEY: &str = "ETCD_CLIENT_KEY";
    /// The name to verify in the etcd servers' certificates, when not the endpoint's host.
    pub const ETCD_TLS_DOMAIN: &str = "ETCD_TLS_DOMAIN";
    /// The lease duration in milliseconds (default 15000).
    pub const LEASE_MS: &str = "LEADER_LEASE_MS";
    /// The renew interval in milliseconds (default 2000).
    pub const RENEW_INTERVAL_MS: &str = "LEADER_RENEW_INTERVAL_MS";
    /// The renew deadline in milliseconds (default 10000).
    pub const RENEW_DEADLINE_MS: &str = "LEADER_RENEW_DEADLINE_MS";
}

/// etcd user and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    /// The user.
    pub username: String,
    /// The password (redacted in `Debug`).
    pub password: Secret,
}

/// TLS for etcd connections (needs the `etcd-tls` feature). Paths are PEM files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA that signed the servers' certificates (default: none beyond the system's).
    pub ca_cert: Option<PathBuf>,
    /// A client certificate, for clusters that require one (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// The client certificate's key.
    pub client_key: Option<PathBuf>,
    /// The name to verify in the servers' certificates, when not the endpoint's host.
    pub domain: Option<String>,
}

/// Where an etcd elector connects and which election it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Endpoints (`http://host:port` or, with TLS, `https://host:port`); the client balances
    /// across them.
    pub endpoints: Vec<String>,
    /// The election name; keys live under `<name>/` (default [`DEFAULT_ETCD_ELECTION`]).
    pub election: String,
    /// User and password, when the cluster has authentication on.
    pub auth: Option<EtcdAuth>,
    /// TLS settings, when the cluster serves TLS.
    pub tls: Option<EtcdTls>,
}

impl EtcdConfig {
    /// A configuration with `endpoints`, the default election name, no auth and no TLS.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            election: DEFAULT_ETCD_ELECTION.into(),
            auth: None,
            tls: None,
        }
    }
}

/// Which backend an elector uses, and where.
///
/// ```
/// use oracle_election::{ElectorConfig, LeaseConfig};
///
/// let vars = [("LEADER_ELECTION_BACKEND", "redis"), ("REDIS_URL", "redis://:pw@127.0.0.1:6379")];
/// let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
/// let config = ElectorConfig::from_env(get)?;
/// assert_eq!(config.describe(), "redis at redis://127.0.0.1:6379, key prefix oracle-bot");
/// assert!(!format!("{config:?}").contains("pw"));
/// assert_eq!(LeaseConfig::from_env(get)?, LeaseConfig::default());
/// # Ok::<(), oracle_election::ElectionError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ElectorConfig {
    /// A lock file, for bots on one host ([`FileElector`]).
    File {
        /// The record's path.
        path: PathBuf,
    },
    /// A Redis key ([`RedisElector`]).
    Redis {
        /// The server.
        url: RedisUrl,
        /// The key prefix.
        key_prefix: String,
    },
    /// An etcd election (`EtcdElector`, feature `etcd`).
    Etcd(EtcdConfig),
}

impl Default for ElectorConfig {
    fn default() -> Self {
        Self::File { path: PathBuf::from(DEFAULT_LOCK_PATH) }
    }
}

/// Reads a variable, treating an empty value as unset.
fn var(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl ElectorConfig {
    /// Reads the backend from the variables in [`env`](mod@crate::env), through `get` (e.g.
    /// `|k| std::env::var(k).ok()`). Errors name the variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ElectionError> {
        let backend = var(&get, env::BACKEND).unwrap_or_else(|| "file".into());
        match backend.as_str() {
            "file" => Ok(Self::File {
                path: var(&get, env::LOCK_PATH).unwrap_or_else(|| DEFAULT_LOCK_PATH.into()).into(),
            }),
            "redis" => {
                let Some(url) = get(env::REDIS_URL).filter(|v| !v.trim().is_empty()) else {
                    return Err(ElectionError::Config(format!(
                        "{} is required for the redis backend",
                        env::REDIS_URL
                    )));
                };
                let url = RedisUrl::parse(&url).map_err(|e| prefix(env::REDIS_URL, e))?;
                let key_prefix = var(&get, env::REDIS_KEY_PREFIX)
                    .unwrap_or_else(|| crate::redis::DEFAULT_KEY_PREFIX.into());
                Ok(Self::Redis { url, key_prefix })
            }
            "etcd" => {
                let endpoints: Vec<String> = var(&get, env::ETCD_ENDPOINTS)
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect();
                if endpoints.is_empty() {
                    return Err(ElectionError::Config(format!(
                        "{} is required for the etcd backend",
                        env::ETCD_ENDPOINTS
                    )));
                }
                let mut config = EtcdConfig::new(endpoints);
                if let Some(name) = var(&get, env::ETCD_ELECTION) {
                    config.election = name;
                }
                config.auth = match (var(&get, env::ETCD_USERNAME), get(env::ETCD_PASSWORD)) {
                    (Some(username), Some(password)) => {
                        Some(EtcdAuth { username, password: Secret::new(password) })
                    }
                    (None, None) => None,
                    _ => {
                        return Err(ElectionError::Config(format!(
                            "set both {} and {}, or neither",
                            env::ETCD_USERNAME,
                            env::ETCD_PASSWORD
                        )));
                    }
                };
                let tls = EtcdTls {
                    ca_cert: var(&get, env::ETCD_CA_CERT).map(PathBuf::from),
                    client_cert: var(&get, env::ETCD_CLIENT_CERT).map(PathBuf::from),
                    client_key: var(&get, env::ETCD_CLIENT_KEY).map(PathBuf::from),
                    domain: var(&get, env::ETCD_TLS_DOMAIN),
                };
                if tls.client_cert.is_some() != tls.client_key.is_some() {
                    return Err(ElectionError::Config(format!(
                        "set both {} and {}, or neither",
                        env::ETCD_CLIENT_CERT,
                        env::ETCD_CLIENT_KEY
                    )));
                }
                if tls != EtcdTls::default() {
                    config.tls = Some(tls);
                }
                Ok(Self::Etcd(config))
            }
            other => Err(ElectionError::Config(format!(
                "{} must be file, redis or etcd, not {other:?}",
                env::BACKEND
            ))),
        }
    }

    /// One line for logs: the backend and where, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Self::File { path } => format!("file {}", path.display()),
            Self::Redis { url, key_prefix } => format!("redis at {url}, key prefix {key_prefix}"),
            Self::Etcd(c) => format!(
                "etcd at {}, election {}{}{}",
                c.endpoints.join(","),
                c.election,
                if c.auth.is_some() { ", with auth" } else { "" },
                if c.tls.is_some() { ", with TLS" } else { "" }
            ),
        }
    }

    /// Starts the elector for bot `id`. The result is both the engine's
    /// [`LeaderElector`](oracle_core::LeaderElector) (an `Arc<dyn Elector>` coerces to
    /// `Arc<dyn LeaderElector>`) and the operator's [`ElectionAdmin`](crate::ElectionAdmin).
    /// Must be called inside a tokio runtime.
    pub async fn connect(&self, id: &str, lease: LeaseConfig) -> Result<Arc<dyn Elector>, ElectionError> {
        match self {
            Self::File { path } => Ok(Arc::new(FileElector::new(path.clone(), id, lease)?)),
            Self::Redis { url, key_prefix } => {
                Ok(Arc::new(RedisElector::connect(url, key_prefix, id, lease).await?))
            }
            #[cfg(feature = "etcd")]
            Self::Etcd(config) => Ok(Arc::new(crate::EtcdElector::connect(config, id, lease).await?)),
            #[cfg(not(feature = "etcd"))]
            Self::Etcd(_) => Err(ElectionError::Config(
                "this build has no etcd elector: enable oracle-election's `etcd` feature".into(),
            )),
        }
    }
}

fn prefix(var: &str, e: ElectionError) -> ElectionError {
    match e {
        ElectionError::Config(msg) => ElectionError::Config(format!("{var}: {msg}")),
        other => other,
    }
}

impl LeaseConfig {
    /// Reads the lease timing from [`env::LEASE_MS`], [`env::RENEW_INTERVAL_MS`] and
    /// [`env::RENEW_DEADLINE_MS`] through `get`, with the defaults for unset ones, and validates it.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ElectionError> {
        let ms = |name: &str, default: Duration| -> Result<Duration, ElectionError> {
            match var(&get, name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                    ElectionError::Config(format!("{name} must be a whole number of milliseconds, not {v:?}"))
                }),
            }
        };
        Self::builder()
            .duration(ms(env::LEASE_MS, Self::DEFAULT_DURATION)?)
            .renew_interval(ms(env::RENEW_INTERVAL_MS, Self::DEFAULT_RENEW_INTERVAL)?)
            .renew_deadline(ms(env::RENEW_DEADLINE_MS, Self::DEFAULT_RENEW_DEADLINE)?)
            .build()
            .map_err(|e| match e {
                ElectionError::Config(msg) => ElectionError::Config(format!(
                    "{msg} (from {}, {}, {})",
                    env::LEASE_MS,
                    env::RENEW_INTERVAL_MS,
                    env::RENEW_DEADLINE_MS
                )),
                other => other,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ElectorConfig, ElectionError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ElectorConfig::from_env(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn file_is_the_default() {
        let c = from(&[]).unwrap();
        assert_eq!(c.describe(), "file /tmp/oracle-bot-leader.lock");
        let c = from(&[("LEADER_LOCK_PATH", "/run/bot.lock")]).unwrap();
        assert_eq!(c.describe(), "file /run/bot.lock");
    }

    #[test]
    fn etcd_from_env_keeps_the_password_secret() {
        let c = from(&[
            ("LEADER_ELECTION_BACKEND", "etcd"),
            ("ETCD_ENDPOINTS", "http://a:2379, http://b:2379"),
            ("ETCD_USERNAME", "bot"),
            ("ETCD_PASSWORD", "top-secret"),
        ])
        .unwrap();
        assert_eq!(
            c.describe(),
            "etcd at http://a:2379,http://b:2379, election oracle-bot/leader, with auth"
        );
        assert!(!format!("{c:?}").contains("top-secret"));
        let ElectorConfig::Etcd(e) = c else { panic!("etcd expected") };
        assert_eq!(e.auth.unwrap().password.expose(), "top-secret");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("LEADER_ELECTION_BACKEND", "zookeeper")],
                "LEADER_ELECTION_BACKEND must be file, redis or etcd",
            ),
            (&[("LEADER_ELECTION_BACKEND", "redis")], "REDIS_URL is required"),
            (&[("LEADER_ELECTION_BACKEND", "redis"), ("REDIS_URL", "http://x")], "REDIS_URL: the Redis URL"),
            (&[("LEADER_ELECTION_BACKEND", "etcd")], "ETCD_ENDPOINTS is required"),
            (
                &[("LEADER_ELECTION_BACKEND", "etcd"), ("ETCD_ENDPOINTS", "a"), ("ETCD_PASSWORD", "p")],
                "set both ETCD_USERNAME and ETCD_PASSWORD",
            ),
            (
                &[("LEADER_ELECTION_BACKEND", "etcd"), ("ETCD_ENDPOINTS", "a"), ("ETCD_CLIENT_KEY", "k")],
                "set both ETCD_CLIENT_CERT and ETCD_CLIENT_KEY",
            ),
        ];
        for (vars, want) in cases {
            let err = from(vars).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn lease_from_env() {
        let get = |k: &str| match k {
            "LEADER_LEASE_MS" => Some("1500".to_string()),
            "LEADER_RENEW_INTERVAL_MS" => Some("200".to_string()),
            "LEADER_RENEW_DEADLINE_MS" => Some("1000".to_string()),
            _ => None,
        };
        let l = LeaseConfig::from_env(get).unwrap();
        assert_eq!(l.duration(), Duration::from_millis(1500));
        let bad = |k: &str| (k == "LEADER_LEASE_MS").then(|| "soon".to_string());
        assert!(
            LeaseConfig::from_env(bad)
                .unwrap_err()
                .to_string()
                .contains("LEADER_LEASE_MS must be a whole number")
        );
        let short = |k: &str| (k == "LEADER_LEASE_MS").then(|| "5000".to_string());
        let err = LeaseConfig::from_env(short).unwrap_err().to_string();
        assert!(err.contains("renew deadline") && err.contains("LEADER_LEASE_MS"), "{err}");
    }
}
