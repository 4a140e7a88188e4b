//! [`ImageRef`]: one parsed image reference, so that validating a plugin's image, applying
//! a user's override and splitting repository from tag for a pull all agree on Docker's
//! grammar (distribution/reference): `[registry[:port]/]path[:tag][@digest]`.
//!
//! Hand-written rather than `oci_spec::distribution::Reference`: that type fills in
//! `docker.io/library/` and `latest` while parsing, so it can no longer tell whether the
//! user wrote a tag, which is what decides how an override applies, and it refuses
//! IPv6 registry hosts. The grammar itself is five regexes.

use crate::plugin::validate::clip;
use regex::Regex;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// Docker's limit on the repository name (registry and path).
const NAME_MAX: usize = 255;
/// The registry Docker assumes when a reference names none.
const DEFAULT_REGISTRY: &str = "docker.io";
/// Docker's tag when a reference has neither tag nor digest.
const DEFAULT_TAG: &str = "latest";

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let label = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
    Regex::new(&format!(r"^(?:{label}(?:\.{label})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")).unwrap()
});
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    Regex::new(&format!(r"^{component}(?:/{component})*$")).unwrap()
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap());
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$").unwrap());

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ImageRefError {
    /// The input, clipped to 80 bytes (it may come from an untrusted plugin).
    pub input: String,
    pub reason: &'static str,
}

/// A Docker image reference, kept as written: `postgres:16` displays as `postgres:16`,
/// not `docker.io/library/postgres:16` (see [`ImageRef::canonical`] for that).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// `registry/path` as written; the registry is `name[..registry_len]`.
    name: String,
    /// Length of the registry prefix in `name` (0 when none was written).
    registry_len: usize,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses and validates `reference`.
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        let fail = |reason| ImageRefError {
            input: clip(reference, 80),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("it is empty"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                if !DIGEST.is_match(digest) {
                    return Err(fail("the digest is not algorithm:hex (e.g. sha256:<64 hex digits>)"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !TAG.is_match(tag)
        {
            return Err(fail(
                "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        if name.len() > NAME_MAX {
            return Err(fail("the repository name is longer than 255 characters"));
        }
        // Docker's rule: the first component is a registry if it has a '.' or ':', is
        // `localhost`, or has uppercase letters (paths never do).
        let registry_len = match name.split_once('/') {
            Some((first, _))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                if !DOMAIN.is_match(first) {
                    return Err(fail("the registry is not a host name or [IPv6] with an optional :port"));
                }
                first.len()
            }
            _ => 0,
        };
        let path = if registry_len > 0 {
            &name[registry_len + 1..]
        } else {
            name
        };
        if !PATH.is_match(path) {
            return Err(fail(if path.chars().any(|c| c.is_ascii_uppercase()) {
                "the repository must be lowercase"
            } else {
                "the repository must be '/'-separated components of [a-z0-9] joined by '.', '_', '__' or '-'"
            }));
        }
        Ok(Self {
            name: name.to_string(),
            registry_len,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host[:port] as written, if any.
    pub fn registry(&self) -> Option<&str> {
        (self.registry_len > 0).then(|| &self.name[..self.registry_len])
    }

    /// The path below the registry (`mssql/server`).
    pub fn path(&self) -> &str {
        match self.registry_len {
            0 => &self.name,
            n => &self.name[n + 1..],
        }
    }

    /// Registry and path as written (`127.0.0.1:5000/pg`): what Docker's pull calls the image.
    pub fn repository(&self) -> &str {
        &self.name
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// True when the reference pins a version; a bare repository means "`latest`" to Docker
    /// but "keep the plugin's tag" to an override.
    pub fn has_tag_or_digest(&self) -> bool {
        self.tag.is_some() || self.digest.is_some()
    }

    /// What to pull from [`Self::repository`]: the digest, else the tag, else `latest`
    /// (Docker would otherwise pull every tag).
    pub fn pull_tag(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }

    /// The same repository at `tag`; a digest is dropped (it would pin other content).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ImageRefError> {
        if !TAG.is_match(tag) {
            return Err(ImageRefError {
                input: clip(&format!("{}:{tag}", self.name), 80),
                reason: "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            });
        }
        Ok(Self {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// Applies a user's override to this (the plugin's) image: an override with a tag or
    /// digest is used as is; a bare repository (a mirror) keeps this image's tag, so
    /// `postgres:16` overridden by `mirror.local/postgres` is `mirror.local/postgres:16`.
    pub fn apply_override(&self, override_ref: &ImageRef) -> ImageRef {
        match (&self.tag, override_ref.has_tag_or_digest()) {
            (Some(tag), false) => ImageRef {
                tag: Some(tag.clone()),
                ..override_ref.clone()
            },
            _ => override_ref.clone(),
        }
    }

    /// The fully qualified form Docker stores (`docker.io/library/redis:latest`), to tell
    /// whether two references name the same image.
    pub fn canonical(&self) -> String {
        let registry = match self.registry() {
            None | Some("index.docker.io") => DEFAULT_REGISTRY,
            Some(r) => r,
        };
        let path = self.path();
        let library = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            "library/"
        } else {
            ""
        };
        let mut out = format!("{registry}/{library}{path}");
        match (&self.tag, &self.digest) {
            (None, None) => out.push_str(&format!(":{DEFAULT_TAG}")),
            (tag, digest) => {
                if let Some(t) = tag {
                    out.push_str(&format!(":{t}"));
                }
                if let Some(d) = digest {
                    out.push_str(&format!("@{d}"));
                }
            }
        }
        out
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn splits_registry_path_tag_and_digest() {
        /// (input, registry, path, tag, digest, pull_tag)
        type Case = (
            &'static str,
            Option<&'static str>,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Case] = &[
            ("redis", None, "redis", None, None, "latest"),
            ("redis:7", None, "redis", Some("7"), None, "7"),
            (
                "library/redis:7.2-alpine",
                None,
                "library/redis",
                Some("7.2-alpine"),
                None,
                "7.2-alpine",
            ),
            (
                "127.0.0.1:5000/dbarena-test/redis:7",
                Some("127.0.0.1:5000"),
                "dbarena-test/redis",
                Some("7"),
                None,
                "7",
            ),
            (
                "127.0.0.1:5000/dbarena-test/redis",
                Some("127.0.0.1:5000"),
                "dbarena-test/redis",
                None,
                None,
                "latest",
            ),
            ("localhost/redis", Some("localhost"), "redis", None, None, "latest"),
            (
                "localhost:5000/redis:7",
                Some("localhost:5000"),
                "redis",
                Some("7"),
                None,
                "7",
            ),
            (
                "mcr.microsoft.com/mssql/server:2022-latest",
                Some("mcr.microsoft.com"),
                "mssql/server",
                Some("2022-latest"),
                None,
                "2022-latest",
            ),
            ("[::1]:5000/pg:16", Some("[::1]:5000"), "pg", Some("16"), None, "16"),
            ("Registry/pg", Some("Registry"), "pg", None, None, "latest"),
            // Without a '/', "localhost:5000" is the repository localhost with tag 5000.
            ("localhost:5000", None, "localhost", Some("5000"), None, "5000"),
        ];
        for &(input, registry, path, tag, digest, pull) in cases {
            let parsed = r(input);
            assert_eq!(parsed.registry(), registry, "{input}");
            assert_eq!(parsed.path(), path, "{input}");
            assert_eq!(parsed.tag(), tag, "{input}");
            assert_eq!(parsed.digest(), digest, "{input}");
            assert_eq!(parsed.pull_tag(), pull, "{input}");
            assert_eq!(parsed.to_string(), input, "display round-trips");
        }
    }

    #[test]
    fn digests_pin_and_win_for_pulls() {
        let by_digest = r(&format!("library/mongo@{SHA}"));
        assert_eq!(by_digest.tag(), None);
        assert_eq!(by_digest.digest(), Some(SHA));
        assert_eq!(by_digest.pull_tag(), SHA);
        assert!(by_digest.has_tag_or_digest());
        let both = r(&format!("localhost:5000/redis:7@{SHA}"));
        assert_eq!(both.repository(), "localhost:5000/redis");
        assert_eq!(both.tag(), Some("7"));
        assert_eq!(both.pull_tag(), SHA);
        assert_eq!(both.to_string(), format!("localhost:5000/redis:7@{SHA}"));
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for bad in [
            "",
            "Postgres:16",
            "postgres:",
            "postgres:-x",
            "a b",
            "postgres:16;rm -rf",
            "-x",
            "/postgres",
            "postgres/",
            "a//b",
            "redis@sha256:abc",
            "redis@",
            "bad_host.example/x",
            "my.registry:port/x",
            &"x".repeat(256),
            &format!("redis:{}", "t".repeat(129)),
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
        let upper = ImageRef::parse("Postgres").unwrap_err();
        assert_eq!(upper.reason, "the repository must be lowercase");
        assert!(upper.to_string().contains("\"Postgres\""), "{upper}");
        let long = ImageRef::parse(&"y".repeat(600)).unwrap_err();
        assert!(long.input.len() < 100, "untrusted input is clipped");
    }

    #[test]
    fn has_tag_or_digest_looks_past_a_registry_port() {
        assert!(!r("127.0.0.1:5000/pg").has_tag_or_digest());
        assert!(!r("mirror.local/postgres").has_tag_or_digest());
        assert!(r("mirror.local/postgres:15").has_tag_or_digest());
        assert!(r(&format!("pg@{SHA}")).has_tag_or_digest());
    }

    #[test]
    fn overrides_keep_the_plugin_tag_unless_they_pin_one() {
        let apply = |plugin: &str, over: &str| r(plugin).apply_override(&r(over)).to_string();
        assert_eq!(
            apply("postgres:16", "mirror.local/postgres"),
            "mirror.local/postgres:16"
        );
        assert_eq!(apply("postgres:16", "127.0.0.1:5000/pg"), "127.0.0.1:5000/pg:16");
        assert_eq!(
            apply("postgres:16", "mirror.local/postgres:15-alpine"),
            "mirror.local/postgres:15-alpine"
        );
        assert_eq!(
            apply("mcr.microsoft.com/mssql/server:2022-latest", "127.0.0.1:5000/mssql"),
            "127.0.0.1:5000/mssql:2022-latest"
        );
        assert_eq!(apply("redis:7", &format!("r@{SHA}")), format!("r@{SHA}"));
        // A plugin image pinned only by digest has no tag to carry over.
        assert_eq!(apply(&format!("redis@{SHA}"), "mirror/redis"), "mirror/redis");
        assert_eq!(apply(&format!("redis:7@{SHA}"), "mirror/redis"), "mirror/redis:7");
    }

    #[test]
    fn with_tag_replaces_tag_and_digest() {
        assert_eq!(r("postgres").with_tag("16").unwrap().to_string(), "postgres:16");
        assert_eq!(
            r("127.0.0.1:5000/pg:15").with_tag("16").unwrap().to_string(),
            "127.0.0.1:5000/pg:16"
        );
        assert_eq!(r(&format!("pg:15@{SHA}")).with_tag("16").unwrap().to_string(), "pg:16");
        assert!(r("postgres").with_tag("").is_err());
        assert!(r("postgres").with_tag("16;rm").is_err());
    }

    #[test]
    fn canonical_form_names_the_same_image_once() {
        for same in [
            "redis",
            "redis:latest",
            "library/redis",
            "docker.io/library/redis:latest",
            "index.docker.io/redis",
        ] {
            assert_eq!(r(same).canonical(), "docker.io/library/redis:latest", "{same}");
        }
        assert_eq!(r("bitnami/redis:7").canonical(), "docker.io/bitnami/redis:7");
        assert_eq!(r("localhost:5000/redis").canonical(), "localhost:5000/redis:latest");
        assert_eq!(
            r(&format!("redis@{SHA}")).canonical(),
            format!("docker.io/library/redis@{SHA}")
        );
        assert_ne!(r("redis:7").canonical(), r("redis").canonical());
    }
}
