//! The tags an image repository offers, through the registry HTTP API v2
//! (`GET /v2/<name>/tags/list`), for `dbarena images tags`.
//!
//! Works with Docker Hub and any v2 registry. On a 401 the registry's challenge is
//! answered as the docker CLI does, with the credentials `docker login` stored
//! ([`super::registry_auth`], looked up only then): `Bearer realm=...,service=...,scope=...`
//! fetches a token from the realm (with HTTP Basic auth of those credentials, else
//! anonymously); `Basic` (a registry with htpasswd) retries with them. Pages are followed
//! through `Link: <...>; rel="next"` headers. Hand-written on ureq (already a dependency)
//! rather than an OCI client crate: the whole protocol used is two GETs, and those crates
//! pull in a second HTTP stack. Everything read is bounded (time, bytes per response, pages,
//! tags).
//!
//! Registries on loopback addresses are spoken to over plain HTTP (as Docker does for
//! 127.0.0.0/8); every other registry over HTTPS. Credentials go only to the registry and
//! to the token realm it names, that one over HTTPS or on loopback; redirects drop them
//! (ureq's default, kept explicit), and no error or log line holds them.

use super::ImageRef;
use super::registry_auth::{self, Credentials, Lookup};
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

/// Where a repository's API lives: `http[s]://host[:port]` and the path (`library/redis`),
/// and the registry's name for `docker login` (`docker.io` for Docker Hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLocation {
    pub base: String,
    pub path: String,
    pub registry: String,
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
                    registry: "docker.io".into(),
                }
            }
            Some(host) => {
                let scheme = if is_loopback(host) { "http" } else { "https" };
                Self {
                    base: format!("{scheme}://{host}"),
                    path: image.path().to_string(),
                    registry: host.to_string(),
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
    list_tags_with(location, &mut || registry_auth::lookup(&location.registry))
}

/// The `docker login` credentials of the registry, looked up the first time a request needs
/// them (a broken Docker config then warns and the listing goes on anonymously).
struct Login<'a> {
    lookup: &'a mut dyn FnMut() -> Lookup,
    found: Option<Lookup>,
}

impl Login<'_> {
    fn get(&mut self) -> &Lookup {
        self.found.get_or_insert_with(|| {
            let found = (self.lookup)();
            if found.problem {
                crate::output::warn(format!("{}; going on without credentials", found.note));
            }
            found
        })
    }
}

/// [`list_tags`] with the credentials lookup passed in (for tests).
fn list_tags_with(location: &RepoLocation, lookup: &mut dyn FnMut() -> Lookup) -> anyhow::Result<Vec<String>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(3)
        // A redirect never carries the Authorization header on (to another host, say).
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .build()
        .into();
    let mut login = Login { lookup, found: None };
    let mut url = format!("{}/v2/{}/tags/list?n={PAGE_SIZE}", location.base, location.path);
    // The Authorization header value (a secret): never part of an error or a log line.
    let mut authorization: Option<String> = None;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut response = get(&agent, &url, authorization.as_deref())?;
        if response.status() == 401 && authorization.is_none() {
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            authorization = Some(
                answer_challenge(&agent, &challenge, location, &mut login)
                    .with_context(|| format!("authenticating to {url}"))?,
            );
            response = get(&agent, &url, authorization.as_deref())?;
        }
        match response.status().as_u16() {
            200 => {}
            status @ (401 | 403) => bail!(
                "{url}: access denied (HTTP {status}); {}",
                denied_hint(location, &mut login)
            ),
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

/// `docker login` for Docker Hub, `docker login HOST` for another registry.
fn login_command(location: &RepoLocation) -> String {
    match location.registry.as_str() {
        "docker.io" => "docker login".into(),
        host => format!("docker login {host}"),
    }
}

/// What to do about a refusal, and what dbarena found in the Docker config.
fn denied_hint(location: &RepoLocation, login: &mut Login) -> String {
    let command = login_command(location);
    let found = login.get();
    match &found.credentials {
        Some(_) => format!(
            "{}, and the registry refused them: check them with `{command}`",
            found.note
        ),
        None => format!("a private repository? run `{command}` ({})", found.note),
    }
}

/// The Authorization header value that answers a 401's `WWW-Authenticate` challenge.
fn answer_challenge(
    agent: &ureq::Agent,
    challenge: &str,
    location: &RepoLocation,
    login: &mut Login,
) -> anyhow::Result<String> {
    let (scheme, params) = parse_challenge(challenge)
        .with_context(|| format!("the registry wants an authentication dbarena does not speak: {challenge:?}"))?;
    if scheme.eq_ignore_ascii_case("basic") {
        return match &login.get().credentials {
            Some(credentials) => Ok(credentials.basic_header()),
            None => bail!(
                "the registry wants a user name and password; run `{}` ({})",
                login_command(location),
                login.get().note
            ),
        };
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        bail!("the registry wants an authentication dbarena does not speak: {challenge:?}");
    }
    let credentials = login.get().credentials.clone();
    Ok(format!(
        "Bearer {}",
        fetch_token(agent, &params, location, credentials.as_ref())?
    ))
}

/// GET `url`, with `authorization` as the Authorization header's value.
fn get(
    agent: &ureq::Agent,
    url: &str,
    authorization: Option<&str>,
) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
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

/// A token from the challenge's realm for pulling `location`: with HTTP Basic auth of
/// `credentials` (as the docker CLI does) when the realm may receive them, else anonymous.
fn fetch_token(
    agent: &ureq::Agent,
    params: &[(String, String)],
    location: &RepoLocation,
    credentials: Option<&Credentials>,
) -> anyhow::Result<String> {
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
    let credentials = credentials.filter(|_| may_receive_credentials(&realm));
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
        if let Some(credentials) = credentials {
            query.append_pair("account", &credentials.username);
        }
    }
    let basic = credentials.map(Credentials::basic_header);
    let mut response = get(agent, realm.as_str(), basic.as_deref())?;
    match (response.status().as_u16(), credentials) {
        (200, _) => {}
        (status @ (401 | 403), Some(credentials)) => bail!(
            "token service {realm} refused the credentials of {} (HTTP {status}): check them with `{}`",
            credentials.username,
            login_command(location)
        ),
        (status, _) => bail!("token service {realm} answered HTTP {status}"),
    }
    let token: Token = read_json(&mut response).context("the token service's answer is not a token")?;
    token
        .token
        .or(token.access_token)
        .filter(|t| !t.is_empty())
        .context("the token service returned no token")
}

/// Credentials go to a token realm over HTTPS, or over plain HTTP on loopback; never elsewhere.
fn may_receive_credentials(realm: &url::Url) -> bool {
    realm.scheme() == "https" || (realm.scheme() == "http" && realm.host_str().is_some_and(is_loopback))
}

/// The scheme and parameters of a `Bearer k="v",k2="v2"` or `Basic realm="x"` challenge
/// (values may hold commas).
fn parse_challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let rest = header.trim();
    let (scheme, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            return Some((scheme.to_string(), params));
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
        assert_eq!(p.0, "Bearer");
        assert_eq!(p.1[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(p.1[2].1, "repository:library/a:pull,push");
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(("Basic".into(), vec![("realm".into(), "Registry Realm".into())]))
        );
        assert!(parse_challenge("").is_none());
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
            registry: base.trim_start_matches("http://").into(),
        };
        let tags = list_tags_with(&location, &mut no_credentials).unwrap();
        assert_eq!(tags, ["15", "16", "17"]);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 4, "challenge, token, page 1, page 2: {seen:?}");
    }

    fn no_credentials() -> Lookup {
        Lookup {
            credentials: None,
            note: "dbarena read /cfg/config.json and found no credentials for the registry".into(),
            problem: false,
        }
    }

    fn alice() -> Lookup {
        Lookup {
            credentials: Some(Credentials::new("alice", "hunter2")),
            note: "dbarena used the credentials of alice".into(),
            problem: false,
        }
    }

    /// `alice:hunter2`, as HTTP Basic auth sends it.
    const ALICE: &str = "Basic YWxpY2U6aHVudGVyMg==";

    /// The (target, Authorization) pairs a test server saw.
    type Seen = Vec<(String, Option<String>)>;

    /// Serves `requests` connections: `answer(target, authorization)` gives the status line,
    /// extra headers and body. Returns the server's address and the (target, authorization)
    /// pairs it saw.
    fn serve(
        requests: usize,
        answer: impl Fn(&str, Option<&str>, &str) -> (String, String, String) + Send + 'static,
    ) -> (String, std::thread::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = base.clone();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(requests) {
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
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        auth = Some(value.trim().to_string());
                    }
                }
                let target = request_line.split(' ').nth(1).unwrap().to_string();
                let (status, headers, body) = answer(&target, auth.as_deref(), &me);
                seen.push((target, auth));
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        (base, server)
    }

    fn location(base: &str) -> RepoLocation {
        RepoLocation {
            base: base.to_string(),
            path: "team/db".into(),
            registry: base.trim_start_matches("http://").into(),
        }
    }

    /// A registry with htpasswd: `Basic` challenge, then the same request with Basic auth.
    #[test]
    fn basic_challenge_retries_with_the_docker_login_credentials() {
        let answer = |_: &str, auth: Option<&str>, _: &str| match auth {
            Some(ALICE) => ("200 OK".into(), String::new(), r#"{"tags":["16"]}"#.into()),
            _ => (
                "401 Unauthorized".into(),
                "WWW-Authenticate: Basic realm=\"Registry Realm\"\r\n".into(),
                "{}".into(),
            ),
        };
        let (base, server) = serve(2, answer);
        assert_eq!(list_tags_with(&location(&base), &mut alice).unwrap(), ["16"]);
        let seen = server.join().unwrap();
        assert_eq!(seen[0].1, None, "the first request is anonymous");
        assert_eq!(seen[1].1.as_deref(), Some(ALICE));

        // Without credentials: the docker login hint, naming what was read.
        let (base, server) = serve(1, answer);
        let err = format!(
            "{:#}",
            list_tags_with(&location(&base), &mut no_credentials).unwrap_err()
        );
        let host = base.trim_start_matches("http://");
        assert!(err.contains(&format!("run `docker login {host}`")), "{err}");
        assert!(err.contains("read /cfg/config.json and found no credentials"), "{err}");
        server.join().unwrap();

        // Refused credentials: said so, and the secret is in no message.
        let (base, server) = serve(2, |_: &str, _: Option<&str>, _: &str| {
            (
                "401 Unauthorized".into(),
                "WWW-Authenticate: Basic realm=\"r\"\r\n".into(),
                "{}".into(),
            )
        });
        let err = format!("{:#}", list_tags_with(&location(&base), &mut alice).unwrap_err());
        assert!(err.contains("refused them") && err.contains("docker login"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("YWxpY2U6aHVudGVyMg"), "{err}");
        server.join().unwrap();
    }

    /// A Bearer challenge: the token is fetched with HTTP Basic auth, as the docker CLI does.
    #[test]
    fn bearer_token_is_fetched_with_the_credentials() {
        let (base, server) = serve(3, |target: &str, auth: Option<&str>, me: &str| {
            if target.starts_with("/token") {
                assert!(target.contains("account=alice"), "{target}");
                match auth {
                    Some(ALICE) => ("200 OK".into(), String::new(), r#"{"token":"private"}"#.into()),
                    _ => ("401 Unauthorized".into(), String::new(), "{}".into()),
                }
            } else if auth == Some("Bearer private") {
                ("200 OK".into(), String::new(), r#"{"tags":["1"]}"#.into())
            } else {
                (
                    "401 Unauthorized".into(),
                    format!("WWW-Authenticate: Bearer realm=\"{me}/token\",service=\"s\"\r\n"),
                    "{}".into(),
                )
            }
        });
        assert_eq!(list_tags_with(&location(&base), &mut alice).unwrap(), ["1"]);
        let seen = server.join().unwrap();
        assert_eq!(seen[1].1.as_deref(), Some(ALICE), "{seen:?}");
    }

    /// Credentials never go to a realm on another host over plain HTTP.
    #[test]
    fn credentials_go_to_https_or_loopback_realms_only() {
        let ok = |u: &str| may_receive_credentials(&url::Url::parse(u).unwrap());
        assert!(ok("https://auth.docker.io/token"));
        assert!(ok("http://127.0.0.1:5001/token") && ok("http://localhost/t") && ok("http://[::1]:9/t"));
        assert!(!ok("http://auth.example/token") && !ok("http://127.0.0.1.example/t"));
        assert!(!ok("ftp://127.0.0.1/t"));
    }
}
