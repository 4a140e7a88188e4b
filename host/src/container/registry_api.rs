//! The tags an image repository offers, through the registry HTTP API v2
//! (`GET /v2/<name>/tags/list`), for `dbarena images tags`.
//!
//! Works with Docker Hub and any v2 registry: an anonymous bearer token is fetched when
//! the registry answers 401 with a `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
//! challenge, and pages are followed through `Link: <...>; rel="next"` headers. Hand-written
//! on ureq (already a dependency) rather than an OCI client crate: the whole protocol used
//! is two GETs, and those crates pull in a second HTTP stack. Everything read is bounded
//! (time, bytes per response, pages, tags).
//!
//! Registries on loopback addresses are spoken to over plain HTTP (as Docker does for
//! 127.0.0.0/8); every other registry over HTTPS. Credentials from `docker login` are not
//! used: private repositories answer with an error that says so.

use super::ImageRef;
use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::time::Duration;

/// Docker Hub's API host (the `docker.io` of image references).
const DOCKER_HUB: &str = "registry-1.docker.io";
/// Bounds: a page, a token, the number of pages and of tags.
const MAX_BODY: u64 = 4 << 20;
const MAX_PAGES: usize = 100;
const MAX_TAGS: usize = 100_000;
const PAGE_SIZE: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(20);

/// Where a repository's API lives: `http[s]://host[:port]` and the path (`library/redis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLocation {
    pub base: String,
    pub path: String,
}

impl RepoLocation {
    /// The API location of `image`'s repository.
    pub fn of(image: &ImageRef) -> Self {
        match image.registry() {
            None | Some("docker.io") | Some("index.docker.io") => {
                let path = image.path();
                let path = if path.contains('/') {
                    path.to_string()
                } else {
                    format!("library/{path}")
                };
                Self {
                    base: format!("https://{DOCKER_HUB}"),
                    path,
                }
            }
            Some(host) => {
                let scheme = if is_loopback(host) { "http" } else { "https" };
                Self {
                    base: format!("{scheme}://{host}"),
                    path: image.path().to_string(),
                }
            }
        }
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Token {
    token: Option<String>,
    access_token: Option<String>,
}

/// Every tag of the repository at `location`, in the registry's order.
pub fn list_tags(location: &RepoLocation) -> anyhow::Result<Vec<String>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(3)
        .build()
        .into();
    let mut url = format!("{}/v2/{}/tags/list?n={PAGE_SIZE}", location.base, location.path);
    let mut token: Option<String> = None;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut response = get(&agent, &url, token.as_deref())?;
        if response.status() == 401 && token.is_none() {
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            token =
                Some(fetch_token(&agent, &challenge, location).with_context(|| format!("authenticating to {url}"))?);
            response = get(&agent, &url, token.as_deref())?;
        }
        match response.status().as_u16() {
            200 => {}
            401 | 403 => bail!("{url}: access denied (a private repository? dbarena lists public tags only)"),
            404 => bail!("{url}: no such repository"),
            status => bail!("{url}: the registry answered HTTP {status}"),
        }
        let next = header(&response, "link").and_then(|l| next_link(&l, &location.base));
        let page: TagList = read_json(&mut response).with_context(|| format!("{url}: not a tag list"))?;
        tags.extend(page.tags.unwrap_or_default());
        if tags.len() > MAX_TAGS {
            bail!("{url}: more than {MAX_TAGS} tags; giving up");
        }
        match next {
            Some(n) => url = n,
            None => return Ok(tags),
        }
    }
    bail!("{url}: more than {MAX_PAGES} pages of tags; giving up")
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request.call().with_context(|| format!("cannot reach {url}"))
}

/// A JSON body of at most [`MAX_BODY`] bytes.
fn read_json<T: serde::de::DeserializeOwned>(response: &mut ureq::http::Response<ureq::Body>) -> anyhow::Result<T> {
    let text = response.body_mut().with_config().limit(MAX_BODY).read_to_string()?;
    Ok(serde_json::from_str(&text)?)
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response.headers().get(name)?.to_str().ok().map(str::to_string)
}

/// An anonymous token from the challenge's realm, for pulling `location`.
fn fetch_token(agent: &ureq::Agent, challenge: &str, location: &RepoLocation) -> anyhow::Result<String> {
    let params = parse_challenge(challenge)
        .with_context(|| format!("the registry wants an authentication dbarena does not speak: {challenge:?}"))?;
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .context("the Bearer challenge names no realm")?;
    let mut realm = url::Url::parse(&realm).with_context(|| format!("invalid token realm {realm:?}"))?;
    // A token service over plain HTTP only for a registry that is itself on loopback.
    if realm.scheme() != "https" && !(realm.scheme() == "http" && location.base.starts_with("http://")) {
        bail!("refusing a token realm that is not https: {realm}");
    }
    {
        let mut query = realm.query_pairs_mut();
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            query.append_pair("service", service);
        }
        let scope = params
            .iter()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("repository:{}:pull", location.path));
        query.append_pair("scope", &scope);
    }
    let mut response = get(agent, realm.as_str(), None)?;
    if response.status() != 200 {
        bail!("token service {} answered HTTP {}", realm, response.status().as_u16());
    }
    let token: Token = read_json(&mut response).context("the token service's answer is not a token")?;
    token
        .token
        .or(token.access_token)
        .filter(|t| !t.is_empty())
        .context("the token service returned no token")
}

/// The parameters of a `Bearer k="v",k2="v2"` challenge (values may hold commas).
fn parse_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim();
    let (scheme, mut rest) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            return Some(params);
        }
        let (key, after) = rest.split_once('=')?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(',').unwrap_or(after.len())),
        };
        params.push((key.trim().to_ascii_lowercase(), value.to_string()));
        rest = after;
    }
}

/// The `rel="next"` target of a Link header, absolute (relative ones resolve on `base`).
fn next_link(link: &str, base: &str) -> Option<String> {
    for part in link.split(',') {
        let (target, params) = part.split_once(';')?;
        if !params.replace(' ', "").contains("rel=\"next\"") {
            continue;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = url::Url::parse(base).ok()?.join(target).ok()?;
        // Only follow pages on the same registry.
        return url.as_str().starts_with(base).then(|| url.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn locations_follow_docker_defaults() {
        let loc = |s: &str| RepoLocation::of(&ImageRef::parse(s).unwrap());
        assert_eq!(loc("postgres:16").base, "https://registry-1.docker.io");
        assert_eq!(loc("postgres:16").path, "library/postgres");
        assert_eq!(loc("docker.io/bitnami/redis").path, "bitnami/redis");
        assert_eq!(
            loc("mcr.microsoft.com/mssql/server:2022-latest").base,
            "https://mcr.microsoft.com"
        );
        assert_eq!(loc("127.0.0.1:5000/pg:15").base, "http://127.0.0.1:5000");
        assert_eq!(loc("localhost:5000/pg").base, "http://localhost:5000");
        assert_eq!(loc("[::1]:5000/pg").base, "http://[::1]:5000");
        assert_eq!(loc("registry.example:5000/pg").base, "https://registry.example:5000");
    }

    #[test]
    fn challenges_and_links_parse() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push""#,
        )
        .unwrap();
        assert_eq!(p[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(p[2].1, "repository:library/a:pull,push");
        assert!(parse_challenge(r#"Basic realm="x""#).is_none());
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#, "http://h:1").as_deref(),
            Some("http://h:1/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"<http://evil/v2/x>; rel="next""#, "http://h:1"), None);
        assert_eq!(next_link(r#"</v2/a>; rel="prev""#, "http://h:1"), None);
    }

    /// A registry that wants a bearer token and pages its tags two at a time.
    #[test]
    fn token_challenge_and_pagination_against_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let realm = format!("{base}/token");
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(4) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut auth = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line
                        .strip_prefix("authorization: ")
                        .or(line.strip_prefix("Authorization: "))
                    {
                        auth = Some(v.trim().to_string());
                    }
                }
                let target = request_line.split(' ').nth(1).unwrap().to_string();
                seen.push(target.clone());
                let (status, headers, body) = if target.starts_with("/token") {
                    assert!(target.contains("scope=repository%3Ateam%2Fdb%3Apull"), "{target}");
                    assert!(target.contains("service=local"), "{target}");
                    ("200 OK", String::new(), r#"{"token":"t0k"}"#.to_string())
                } else if auth.as_deref() != Some("Bearer t0k") {
                    (
                        "401 Unauthorized",
                        format!(
                            "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"local\",scope=\"repository:team/db:pull\"\r\n"
                        ),
                        "{}".to_string(),
                    )
                } else if target.contains("last=") {
                    (
                        "200 OK",
                        String::new(),
                        r#"{"name":"team/db","tags":["17"]}"#.to_string(),
                    )
                } else {
                    (
                        "200 OK",
                        "Link: </v2/team/db/tags/list?last=16&n=2>; rel=\"next\"\r\n".to_string(),
                        r#"{"name":"team/db","tags":["15","16"]}"#.to_string(),
                    )
                };
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        let location = RepoLocation {
            base: base.clone(),
            path: "team/db".into(),
        };
        let tags = list_tags(&location).unwrap();
        assert_eq!(tags, ["15", "16", "17"]);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 4, "challenge, token, page 1, page 2: {seen:?}");
    }
}
