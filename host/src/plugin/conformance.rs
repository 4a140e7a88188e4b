//! The conformance suite every engine plugin must pass: a readable, check-by-check report
//! of what the host relies on beyond what validation alone can see.

use super::bindings::{
    Credentials, Endpoint, HandshakeContext, HandshakeOutcome, HandshakeSecrets, Mode, Options, Probe,
};
use super::{Plugin, PluginFailure};
use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// All checks run against one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plugin: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "conformance of plugin {}:", self.plugin)?;
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "  {mark} {}{}",
                c.name,
                if c.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.detail)
                }
            )?;
        }
        let failed = self.failures().count();
        write!(f, "{} passed, {failed} failed", self.checks.len() - failed)
    }
}

/// A password with every class of character and URL-reserved ones, to catch encoding bugs.
const TRICKY_PASSWORD: &str = "Pa5s@w:rd/?#%&=+ é";

fn options(version: &str, mode: Mode, persistent: bool) -> Options {
    Options {
        version: version.to_string(),
        user: None,
        password: TRICKY_PASSWORD.to_string(),
        database: None,
        mode,
        persistent,
        memory_limit_bytes: None,
        extra: Vec::new(),
    }
}

struct Suite {
    checks: Vec<Check>,
}

impl Suite {
    fn check(&mut self, name: &'static str, outcome: Result<String, String>) {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.checks.push(Check { name, passed, detail });
    }
}

fn failure(e: PluginFailure) -> String {
    e.to_string()
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Feeds each reply at steps 0 to 3; none may be judged ready.
fn never_ready(
    plugin: &Plugin,
    ctx: &HandshakeContext,
    secrets: &HandshakeSecrets,
    replies: &[&[u8]],
) -> Result<String, String> {
    for step in 0..4 {
        let ctx = HandshakeContext { step, ..ctx.clone() };
        for reply in replies {
            match plugin.handshake_step(&ctx, secrets, reply) {
                Ok(HandshakeOutcome::Ready(_)) => {
                    return Err(format!(
                        "judged {:?}… at step {step} as ready",
                        String::from_utf8_lossy(&reply[..reply.len().min(24)])
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(failure(e)),
            }
        }
    }
    Ok(format!("{} replies at steps 0-3", replies.len()))
}

/// Wrong-password answers of common protocols, byte for byte as their servers send them.
fn rejections() -> Vec<&'static [u8]> {
    vec![
        // PostgreSQL ErrorResponse 28P01.
        b"E\0\0\0\x63SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"app\"\0Fauth.c\0L326\0Rauth_failed\0\0",
        // MySQL ERR 1045 (28000) after the handshake response (sequence 2).
        b"\x49\0\0\x02\xff\x15\x04#28000Access denied for user 'root'@'172.17.0.1' (using password: YES)",
        // Redis -WRONGPASS to AUTH, then -NOAUTH to PING.
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n",
    ]
}

/// Runs every check against a loaded plugin.
pub fn run(plugin: &Plugin) -> Report {
    let mut suite = Suite { checks: Vec::new() };
    let info = plugin.info().clone();
    suite.check(
        "loads in the sandbox with a valid identity",
        Ok(format!("{} {}", info.id, info.plugin_version)),
    );

    let default = options("", Mode::Fast, false);
    let spec = plugin.container_spec(&default);
    suite.check(
        "default options give a valid container spec",
        spec.as_ref().map(|s| s.image.clone()).map_err(|e| e.to_string()),
    );
    let Ok(spec) = spec else {
        return Report {
            plugin: info.id,
            checks: suite.checks,
        };
    };

    suite.check("results are deterministic", {
        match plugin.container_spec(&default) {
            Ok(again) if again == spec => Ok(String::new()),
            Ok(_) => Err("two calls with the same options gave different specs".into()),
            Err(e) => Err(failure(e)),
        }
    });

    suite.check("every version yields its own image", {
        info.versions.iter().try_fold(String::new(), |_, v| {
            let spec = plugin
                .container_spec(&options(&v.version, Mode::Fast, false))
                .map_err(failure)?;
            let want = format!("{}:{}", v.image_repository, v.image_tag);
            if spec.image != want {
                return Err(format!(
                    "version {} gave image {} instead of {want}",
                    v.version, spec.image
                ));
            }
            Ok(format!("{} versions", info.versions.len()))
        })
    });

    suite.check("durable and persistent modes give valid specs", {
        [(Mode::Durable, false), (Mode::Fast, true), (Mode::Durable, true)]
            .into_iter()
            .try_for_each(|(mode, persistent)| plugin.container_spec(&options("", mode, persistent)).map(drop))
            .map(|_| String::new())
            .map_err(failure)
    });

    suite.check("an unknown version is refused, naming the field", {
        match plugin.container_spec(&options("0.0.0-no-such-version", Mode::Fast, false)) {
            Err(PluginFailure::Rejected { field: Some(f), .. }) if f == "version" => Ok(String::new()),
            Err(PluginFailure::Rejected { field, message, .. }) => Err(format!(
                "refused, but named field {field:?} instead of \"version\": {message}"
            )),
            Err(e) => Err(failure(e)),
            Ok(_) => Err("accepted a version it does not list".into()),
        }
    });

    suite.check("the host's password is used", {
        if spec.credentials.password == TRICKY_PASSWORD {
            Ok(String::new())
        } else {
            Err("credentials.password differs from the password the host passed".into())
        }
    });

    suite.check("readiness starts with a handshake through a published port", {
        match (spec.readiness.probes.first(), spec.ports.first()) {
            (_, None) => Ok("no ports: an engine without a network protocol, readiness unverified".into()),
            (Some(Probe::Handshake(h)), Some(&client)) if h.container_port == client => Ok(h.description.clone()),
            _ => Err("the first probe must be a handshake on the client port (ports[0]): only a protocol answer through the host-mapped port proves a client can connect".into()),
        }
    });

    if let Some(&port) = spec.ports.first() {
        let ctx = HandshakeContext {
            credentials: spec.credentials.clone(),
            container_port: port,
            step: 0,
        };
        let secrets = HandshakeSecrets {
            nonce: (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect(),
        };
        suite.check(
            "handshake start is callable",
            plugin
                .handshake_start(&ctx, &secrets)
                .map(|b| format!("{} bytes", b.len()))
                .map_err(failure),
        );
        suite.check("no reply is never ready", {
            match plugin.handshake_step(&ctx, &secrets, &[]) {
                Ok(HandshakeOutcome::Ready(_)) => Err("judged an empty reply as ready".into()),
                Ok(v) => Ok(format!("{v:?}")),
                Err(e) => Err(failure(e)),
            }
        });
        suite.check("garbage replies are never ready, at any step", {
            let garbage: [&[u8]; 4] = [
                &[0u8; 64],
                b"HTTP/1.1 400 Bad Request\r\n\r\n",
                &[0xff; 300],
                b"SSH-2.0-OpenSSH_9.6\r\n",
            ];
            never_ready(plugin, &ctx, &secrets, &garbage)
        });
        suite.check("rejected credentials are never ready", {
            // What PostgreSQL, MySQL/MariaDB and Redis answer to a wrong password, at the step
            // where each arrives: whatever the plugin's protocol, none of these means ready.
            never_ready(plugin, &ctx, &secrets, &rejections())
        });
    }

    suite.check("connection URL encodes credentials and names the endpoint", {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 54321,
            credentials: Credentials {
                password: TRICKY_PASSWORD.into(),
                ..spec.credentials.clone()
            },
        };
        plugin.connection(&at).map_err(failure).and_then(|conn| {
            if conn.url.contains(TRICKY_PASSWORD) || conn.url.contains("w:rd/?#") {
                return Err(format!("the password appears unencoded in {}", conn.url));
            }
            if !conn.url.contains("127.0.0.1") || !conn.url.contains("54321") {
                return Err(format!("{} does not name host 127.0.0.1 and port 54321", conn.url));
            }
            Ok(String::new())
        })
    });

    suite.check(
        "settings are valid",
        plugin
            .settings()
            .map(|s| format!("{} settings", s.len()))
            .map_err(failure),
    );

    let at = Endpoint {
        host: "127.0.0.1".into(),
        port: 54321,
        credentials: spec.credentials.clone(),
    };
    // What reaches the host's processes gets checks of its own, so a plugin that tries to
    // run a program or set a variable like BASH_ENV fails with a name that says so.
    suite.check("the host shell is a database client with connection arguments only", {
        match plugin.client(&at) {
            Ok(client) => Ok(match &client.host_shell {
                Some(argv) => argv[0].clone(),
                None => "none".into(),
            }),
            Err(e) => Err(failure(e)),
        }
    });
    suite.check("only connection variables are exported", {
        (|| {
            let mut names: Vec<String> = plugin.connection(&at)?.env.into_iter().map(|(k, _)| k).collect();
            names.extend(plugin.connection_forms(&at)?.into_iter().filter_map(|f| f.env_name));
            Ok::<_, PluginFailure>(names.join(", "))
        })()
        .map_err(failure)
    });

    suite.check("clients and data functions give valid answers", {
        (|| {
            let forms = plugin.connection_forms(&at)?;
            let client = plugin.client(&at)?;
            let init = plugin.init_support()?;
            let plan = plugin.data_plan(&default)?;
            Ok::<_, PluginFailure>(format!(
                "{} connection forms, host shell: {}, query: {}, init scripts: {}, data plan: {}",
                forms.len(),
                client.host_shell.as_ref().map_or("none", |argv| argv[0].as_str()),
                yes(client.query.is_some()),
                yes(init.is_some()),
                yes(plan.is_some()),
            ))
        })()
        .map_err(failure)
    });

    suite.check("a typical call stays well within the fuel budget", {
        let _ = plugin.container_spec(&default);
        let used = plugin.last_fuel_used();
        if used < super::FUEL_PER_CALL / 10 {
            Ok(format!("{used} fuel"))
        } else {
            Err(format!("{used} fuel used for one container-spec call"))
        }
    });

    Report {
        plugin: info.id,
        checks: suite.checks,
    }
}
