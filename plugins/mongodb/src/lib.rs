//! MongoDB engine plugin, following the official `mongo` image: a root user through
//! `MONGO_INITDB_ROOT_USERNAME`/`MONGO_INITDB_ROOT_PASSWORD` (which also turns on `--auth`),
//! `MONGO_INITDB_DATABASE`, server settings as `mongod` arguments, data in `/data/db` and
//! `/data/configdb`.
//!
//! Defaults: user `root` (created in the `admin` database, so URLs carry
//! `authSource=admin`) and database `test` (the shell's default; MongoDB creates databases
//! on first write).
//!
//! Readiness is a `hello` command (OP_MSG) through the published port: with root
//! credentials the image first runs a temporary `mongod --bind_ip 127.0.0.1`, so any answer
//! over the published port comes from the real server. `hello` needs no authentication.

use dbarena_plugin_sdk::bytes::{Reader, Writer, not_protocol};
use dbarena_plugin_sdk::prelude::*;

mod tenant;

pub struct Mongodb;

const PORT: u16 = 27017;
const DATA: &str = "/data/db";
const CONFIG_DATA: &str = "/data/configdb";
const OP_MSG: i32 = 2013;
const OP_REPLY: i32 = 1;
/// The id of our only request; the reply's `responseTo` must echo it.
const REQUEST_ID: i32 = 1;
/// `maxMessageSizeBytes` of every supported server.
const MAX_MESSAGE_LEN: i32 = 48_000_000;
/// OP_MSG flag: a CRC-32C checksum follows the sections.
const CHECKSUM_PRESENT: u32 = 1;
/// Error codes that mean the server is changing state, not refusing us for good:
/// ShutdownInProgress, InterruptedAtShutdown, InterruptedDueToReplStateChange,
/// PrimarySteppedDown, NotPrimaryOrSecondary.
const TRANSIENT_CODES: &[i64] = &[91, 11600, 11602, 189, 13436];
/// Database names may not contain these (MongoDB naming restrictions, Linux and Windows).
const DATABASE_FORBIDDEN: &[char] = &['/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?'];
/// Env vars that hold the credentials: `--user`, `--password` and `--database` set them.
const MANAGED_ENV: &[&str] = &[
    "MONGO_INITDB_ROOT_USERNAME",
    "MONGO_INITDB_ROOT_USERNAME_FILE",
    "MONGO_INITDB_ROOT_PASSWORD",
    "MONGO_INITDB_ROOT_PASSWORD_FILE",
    "MONGO_INITDB_DATABASE",
];

fn version(v: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    version_info("mongo", v, tag, aliases)
}

/// A JavaScript string literal: JSON escaping, plus U+2028/U+2029 (line terminators in
/// older JavaScript).
fn js_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The start of a shell script: `db` is the admin database, authenticated as `user`.
fn login(user: &str, password: &str) -> String {
    format!(
        "db = connect('mongodb://127.0.0.1:{PORT}/admin');\ndb.auth({}, {});\n",
        js_string(user),
        js_string(password)
    )
}

/// `script` run by `mongosh` (the `mongo` shell before 6.0) with no connection of its own.
fn mongo_shell_step(description: &str, script: String) -> ExecStep {
    ExecStep {
        description: description.into(),
        command: [
            "sh",
            "-c",
            "if command -v mongosh >/dev/null; then exec mongosh --quiet --nodb; else exec mongo --quiet --nodb; fi",
        ]
        .map(String::from)
        .to_vec(),
        env: Vec::new(),
        stdin: Some(script.into_bytes()),
    }
}

fn check_text(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(field_error(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_database(name: &str) -> Result<(), PluginError> {
    check_text("database", name)?;
    if let Some(c) = name.chars().find(|c| DATABASE_FORBIDDEN.contains(c)) {
        return Err(field_error(
            "database",
            format!("MongoDB database names cannot contain {c:?}"),
        ));
    }
    if name.len() >= 64 {
        return Err(field_error(
            "database",
            "MongoDB database names must be shorter than 64 bytes",
        ));
    }
    Ok(())
}

/// The WiredTiger cache MongoDB would pick on a machine with `limit` bytes of RAM:
/// 50% of (RAM - 1 GiB), at least 0.25 GB. Rounded down to hundredths of a GB.
fn wired_tiger_cache_gb(limit: u64) -> String {
    let mib = ((limit >> 20).saturating_sub(1024) / 2).max(256);
    let hundredths = mib * 100 / 1024;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

impl Engine for Mongodb {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "mongodb".into(),
            display_name: "MongoDB".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "Document database (official `mongo` image)".into(),
            versions: vec![
                version("6", "6.0", &["6.0"]),
                version("7", "7.0", &["7.0"]),
                version("8", "8.0", &["8.0", "latest"]),
            ],
            default_version: "8".into(),
            default_port: PORT,
            documentation_url: "https://hub.docker.com/_/mongo".into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let info = Self::info();
        let v = find_version(&info, &opts.version)?;
        let user = opts.user.clone().unwrap_or_else(|| "root".into());
        check_text("user", &user)?;
        check_text("password", &opts.password)?;
        let database = opts.database.clone().unwrap_or_else(|| "test".into());
        check_database(&database)?;
        reject_managed_env(&opts.extra, MANAGED_ENV)?;

        let mut cmd = vec!["mongod".to_string()];
        if opts.mode == Mode::Fast {
            // From 6.1 the journal cannot be turned off (`--nojournal` is gone), so fast mode
            // only drops the once-a-second diagnostic data capture.
            cmd.extend(["--setParameter", "diagnosticDataCollectionEnabled=false"].map(String::from));
        }
        if let Some(limit) = opts.memory_limit_bytes {
            cmd.extend(["--wiredTigerCacheSizeGB".to_string(), wired_tiger_cache_gb(limit)]);
        }
        let env = Env::new()
            .set("MONGO_INITDB_ROOT_USERNAME", user.clone())
            .set("MONGO_INITDB_ROOT_PASSWORD", opts.password.clone())
            .set("MONGO_INITDB_DATABASE", database.clone())
            .extend(opts.extra.clone());

        Ok(ContainerSpec {
            image: image(v),
            env: env.build(),
            entrypoint: None,
            cmd,
            data_paths: vec![DATA.into(), CONFIG_DATA.into()],
            tmpfs: Vec::new(),
            memory_limit_bytes: opts.memory_limit_bytes,
            ports: vec![PORT],
            credentials: Credentials {
                user,
                password: opts.password,
                database,
            },
            readiness: Readiness {
                probes: vec![Probe::Handshake(HandshakeProbe {
                    container_port: PORT,
                    description: "MongoDB hello".into(),
                })],
                // First start runs a temporary mongod to create the root user, then restarts.
                startup_timeout_secs: 90,
            },
        })
    }

    /// Both data directories. `fsync` writes out the journal and data files first, so the
    /// host's frozen copy holds every acknowledged write (spec level: no server here).
    fn data_plan(opts: Options) -> Option<DataPlan> {
        let spec = Self::container_spec(opts).ok()?;
        let script = format!(
            "{}db.adminCommand({{ fsync: 1 }});\n",
            login(&spec.credentials.user, &spec.credentials.password)
        );
        Some(DataPlan {
            paths: spec.data_paths,
            quiesce: vec![mongo_shell_step("flush to disk (fsync)", script)],
        })
    }

    /// As the template's root user: create the wanted root user (or change the password
    /// when the name is the same), then drop the template's. The whole script goes through
    /// stdin (`--nodb`, then `connect`), so no password is in argv; every string is a JSON
    /// literal (spec level: no server here).
    fn apply_credentials(template: Credentials, wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        check_text("user", &wanted.user)?;
        check_text("password", &wanted.password)?;
        check_database(&wanted.database)?;
        let (user, pwd) = (js_string(&wanted.user), js_string(&wanted.password));
        let mut script = login(&template.user, &template.password);
        if template.user == wanted.user {
            script.push_str(&format!("db.changeUserPassword({user}, {pwd});\n"));
        } else {
            script.push_str(&format!(
                "db.createUser({{ user: {user}, pwd: {pwd}, roles: [{{ role: 'root', db: 'admin' }}] }});\n\
                 db.dropUser({});\n",
                js_string(&template.user)
            ));
        }
        Ok(vec![mongo_shell_step("set the instance's user and password", script)])
    }

    fn handshake_start(_ctx: HandshakeContext, _secrets: HandshakeSecrets) -> Vec<u8> {
        hello_message()
    }

    fn handshake_step(_ctx: HandshakeContext, _secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome {
        judge_reply(&received)
    }

    /// mongosh takes the URL on the host; inside the container the shell of
    /// [`connection`](Engine::connection) (mongosh reads no password variable). Query text
    /// on stdin is a script; `--quiet` leaves only its output.
    fn client(at: Endpoint) -> ClientCommands {
        let info = Self::connection(at);
        let mut query = info.shell.clone();
        query.insert(1, "--quiet".into());
        ClientCommands {
            host_shell: Some(vec!["mongosh".into(), info.url]),
            container_shell: ExecStep {
                description: "mongosh".into(),
                command: info.shell,
                env: Vec::new(),
                stdin: None,
            },
            query: Some(ExecStep {
                description: "query".into(),
                command: query,
                env: Vec::new(),
                stdin: None,
            }),
        }
    }

    /// The image runs `*.js` and `*.sh` from its init directory on first start.
    fn init_support() -> Option<InitSupport> {
        Some(InitSupport {
            directory: Some("/docker-entrypoint-initdb.d".into()),
            suffixes: vec![".js".into(), ".sh".into()],
        })
    }

    /// A `dbOwner` user in the tenant's own database (spec level, see `tenant`).
    fn tenant_steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
        tenant::steps(server, t, action)
    }

    fn tenant_connection(_pooled: Option<Endpoint>, direct: Endpoint) -> ConnectionInfo {
        tenant::connection(direct, Self::connection)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        let url = format!(
            "mongodb://{}:{}@{}:{}/{}?authSource=admin",
            percent_encode(&c.user),
            percent_encode(&c.password),
            url_host(&at.host),
            at.port,
            percent_encode(&c.database)
        );
        ConnectionInfo {
            env: vec![
                ("MONGODB_URI".into(), url.clone()),
                ("MONGO_URL".into(), url.clone()),
                ("MONGO_HOST".into(), at.host.clone()),
                ("MONGO_PORT".into(), at.port.to_string()),
                ("MONGO_USERNAME".into(), c.user.clone()),
                ("MONGO_PASSWORD".into(), c.password.clone()),
                ("MONGO_DATABASE".into(), c.database.clone()),
            ],
            url,
            // `--name=value` keeps values starting with '-' unambiguous; the database goes
            // in a URL so any valid name works. Inside the container mongod listens on 27017.
            shell: vec![
                "mongosh".into(),
                format!("--username={}", c.user),
                format!("--password={}", c.password),
                "--authenticationDatabase=admin".into(),
                format!("mongodb://127.0.0.1:{PORT}/{}", percent_encode(&c.database)),
            ],
        }
    }
}

/// BSON: a document is its total length, the elements and a zero byte.
fn bson_document(elements: Writer) -> Writer {
    let body = elements.finish();
    Writer::new().i32_le(body.len() as i32 + 5).bytes(&body).u8(0)
}

/// `{ hello: 1, $db: "admin" }` in an OP_MSG: the 16-byte header (length, request id,
/// responseTo 0, opcode 2013), flag bits 0 and one kind-0 section holding the document.
fn hello_message() -> Vec<u8> {
    let doc = bson_document(
        Writer::new()
            .u8(0x10) // int32
            .cstr("hello")
            .i32_le(1)
            .u8(0x02) // string: length with the NUL, then the bytes
            .cstr("$db")
            .i32_le("admin".len() as i32 + 1)
            .cstr("admin"),
    )
    .finish();
    let len = 16 + 4 + 1 + doc.len() as i32;
    Writer::new()
        .i32_le(len)
        .i32_le(REQUEST_ID)
        .i32_le(0)
        .i32_le(OP_MSG)
        .u32_le(0)
        .u8(0)
        .bytes(&doc)
        .finish()
}

/// Judges the answer to `hello`.
///
/// - An OP_MSG answering our request whose body document has `ok: 1`: ready.
/// - `ok: 0` with a code of a server changing state (shutting down, interrupted, stepping
///   down): not yet. Any other `ok: 0` (e.g. CommandNotFound from a server too old for
///   `hello`) will not change by waiting: failed, with `errmsg`.
/// - Incomplete message (by `messageLength`): need more.
/// - Anything else, including a legacy OP_REPLY, is not a supported MongoDB: failed.
fn judge_reply(received: &[u8]) -> HandshakeOutcome {
    let mut r = Reader::new(received);
    let Some(len) = r.i32_le() else {
        return HandshakeOutcome::NeedMore;
    };
    if !(21..=MAX_MESSAGE_LEN).contains(&len) {
        return not_mongo(received);
    }
    let (Some(_request_id), Some(response_to), Some(op_code)) = (r.i32_le(), r.i32_le(), r.i32_le()) else {
        return HandshakeOutcome::NeedMore;
    };
    if op_code == OP_REPLY {
        return HandshakeOutcome::Failed("the server answered with a legacy OP_REPLY; MongoDB 6+ expected".into());
    }
    if op_code != OP_MSG || response_to != REQUEST_ID {
        return not_mongo(received);
    }
    let Some(rest) = r.take(len as usize - 16) else {
        return HandshakeOutcome::NeedMore;
    };
    let mut body = Reader::new(rest);
    let Some(flags) = body.u32_le() else {
        return not_mongo(received);
    };
    let sections_end = rest.len() - if flags & CHECKSUM_PRESENT != 0 { 4 } else { 0 };
    while body.position() < sections_end {
        let Some(kind) = body.u8() else { break };
        let Some(size) = body.i32_le().and_then(|s| usize::try_from(s).ok()).filter(|&s| s >= 4) else {
            return not_mongo(received);
        };
        // The size counts itself: re-read from it for the document.
        let start = body.position() - 4;
        let Some(section) = rest.get(start..start + size) else {
            return not_mongo(received);
        };
        if kind == 0 {
            return match bson_elements(section) {
                Some(elements) => judge_hello(&elements),
                None => not_mongo(received),
            };
        }
        if body.skip(size - 4).is_none() {
            return not_mongo(received);
        }
    }
    not_mongo(received)
}

fn judge_hello(elements: &[(&[u8], Value)]) -> HandshakeOutcome {
    let field = |name: &[u8]| elements.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
    let ok = match field(b"ok") {
        Some(Value::Number(n)) => *n == 1.0,
        Some(Value::Bool(b)) => *b,
        _ => return HandshakeOutcome::Failed("the hello reply has no ok field".into()),
    };
    if ok {
        return ready_unauthenticated(None, NOTE);
    }
    let code = match field(b"code") {
        Some(Value::Number(n)) => *n as i64,
        _ => 0,
    };
    let message = match field(b"errmsg") {
        Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => "no errmsg".into(),
    };
    let text = format!("hello failed with code {code}: {message}");
    if TRANSIENT_CODES.contains(&code) {
        HandshakeOutcome::NotYet(text)
    } else {
        HandshakeOutcome::Failed(text)
    }
}

/// The BSON values the readiness check looks at; the rest are skipped.
#[derive(Debug)]
enum Value<'a> {
    Number(f64),
    Bool(bool),
    Str(&'a [u8]),
    Other,
}

/// The top-level elements of a BSON document, or `None` when it is malformed.
fn bson_elements(doc: &[u8]) -> Option<Vec<(&[u8], Value<'_>)>> {
    let mut r = Reader::new(doc);
    if usize::try_from(r.i32_le()?).ok()? != doc.len() {
        return None;
    }
    let mut out = Vec::new();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            return (r.remaining() == 0).then_some(out);
        }
        let name = r.cstr()?;
        let size = |r: &mut Reader| usize::try_from(r.i32_le()?).ok();
        let value = match kind {
            0x01 => Value::Number(f64::from_le_bytes(r.take(8)?.try_into().ok()?)),
            0x10 => Value::Number(f64::from(r.i32_le()?)),
            0x12 => Value::Number(i64::from_le_bytes(r.take(8)?.try_into().ok()?) as f64),
            0x08 => Value::Bool(r.u8()? != 0),
            // string, JavaScript code, symbol: length with the NUL, then the bytes.
            0x02 | 0x0d | 0x0e => {
                let n = size(&mut r)?;
                Value::Str(r.take(n)?.strip_suffix(&[0])?)
            }
            // document, array, code with scope: the length counts itself.
            0x03 | 0x04 | 0x0f => {
                let n = size(&mut r)?;
                r.skip(n.checked_sub(4)?)?;
                Value::Other
            }
            0x05 => {
                let n = size(&mut r)?;
                r.skip(n + 1)?; // subtype byte
                Value::Other
            }
            0x0c => {
                let n = size(&mut r)?;
                r.skip(n + 12)?; // namespace string, ObjectId
                Value::Other
            }
            0x0b => {
                r.cstr()?;
                r.cstr()?;
                Value::Other
            }
            0x07 => r.skip(12).map(|_| Value::Other)?,
            0x09 | 0x11 => r.skip(8).map(|_| Value::Other)?,
            0x13 => r.skip(16).map(|_| Value::Other)?,
            0x06 | 0x0a | 0x7f | 0xff => Value::Other,
            _ => return None,
        };
        out.push((name, value));
    }
}

fn not_mongo(received: &[u8]) -> HandshakeOutcome {
    not_protocol("MongoDB OP_MSG reply", received)
}

/// Why a passing handshake did not prove the credentials.
const NOTE: &str = "the MongoDB hello exchange does not log in (SCRAM over OP_MSG is not implemented yet), so the credentials were not checked";

register!(Mongodb);

#[cfg(test)]
mod tests {
    use super::*;
    use dbarena_plugin_sdk::testing;

    fn ctx() -> HandshakeContext {
        testing::context(
            Credentials {
                user: "root".into(),
                password: "pw".into(),
                database: "test".into(),
            },
            PORT,
        )
    }

    /// Runs `bytes` through the plugin's `handshake_step`.
    fn judge(bytes: &[u8]) -> HandshakeOutcome {
        Mongodb::handshake_step(ctx(), testing::secrets(), bytes.to_vec())
    }

    fn creds(user: &str, password: &str, database: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
            database: database.into(),
        }
    }

    #[test]
    fn js_strings_escape_quotes_backslashes_and_line_terminators() {
        assert_eq!(js_string(r#"a'b"c;--\"#), r#""a'b\"c;--\\""#);
        assert_eq!(js_string("x\u{2028}\n"), r#""x\u2028\u000a""#);
    }

    #[test]
    fn data_plan_flushes_with_the_instance_login_through_stdin() {
        let plan = Mongodb::data_plan(opts()).unwrap();
        assert_eq!(plan.paths, [DATA, CONFIG_DATA]);
        let script = String::from_utf8(plan.quiesce[0].stdin.clone().unwrap()).unwrap();
        assert!(script.contains(r#"db.auth("root", "pw");"#), "{script}");
        assert!(script.contains("fsync: 1"), "{script}");
        assert!(!plan.quiesce[0].command.iter().any(|a| a.contains("pw")));
    }

    #[test]
    fn apply_credentials_creates_the_wanted_root_and_drops_the_template_user() {
        let hostile = "a'b\"c;--";
        let steps =
            Mongodb::apply_credentials(creds("dbarena_tpl", "tplpw", "x"), creds(hostile, hostile, "app")).unwrap();
        let script = String::from_utf8(steps[0].stdin.clone().unwrap()).unwrap();
        assert!(script.contains(r#"db.auth("dbarena_tpl", "tplpw");"#), "{script}");
        assert!(
            script.contains(
                r#"db.createUser({ user: "a'b\"c;--", pwd: "a'b\"c;--", roles: [{ role: 'root', db: 'admin' }] });"#
            ),
            "{script}"
        );
        assert!(script.contains(r#"db.dropUser("dbarena_tpl");"#), "{script}");
        let same = Mongodb::apply_credentials(creds("root", "old", "x"), creds("root", "new", "x")).unwrap();
        let script = String::from_utf8(same[0].stdin.clone().unwrap()).unwrap();
        assert!(script.contains(r#"db.changeUserPassword("root", "new");"#), "{script}");
        assert!(!script.contains("dropUser"), "{script}");
    }

    fn opts() -> Options {
        testing::options("pw")
    }

    /// OP_MSG reply header (MongoDB wire protocol): length, requestID, responseTo = 1,
    /// opCode 2013, then flagBits 0 and section kind 0.
    fn reply_header(len: u8) -> Vec<u8> {
        vec![len, 0, 0, 0, 0x2a, 0, 0, 0, 1, 0, 0, 0, 0xdd, 0x07, 0, 0, 0, 0, 0, 0, 0]
    }

    /// `{ isWritablePrimary: true, maxWireVersion: 21, ok: 1.0 }`, 57 bytes.
    fn hello_ok() -> Vec<u8> {
        [
            reply_header(0x4e), // 16 + 4 + 1 + 57 = 78
            vec![0x39, 0, 0, 0],
            [&[0x08][..], b"isWritablePrimary\0", &[0x01]].concat(),
            [&[0x10][..], b"maxWireVersion\0", &[0x15, 0, 0, 0]].concat(),
            [&[0x01][..], b"ok\0", &[0, 0, 0, 0, 0, 0, 0xf0, 0x3f]].concat(),
            vec![0],
        ]
        .concat()
    }

    /// `{ ok: 0.0, errmsg: "<13 chars>", code: <code> }`, 53 bytes.
    fn hello_error(errmsg: &[u8; 13], code: u8) -> Vec<u8> {
        [
            reply_header(0x4a), // 16 + 4 + 1 + 53 = 74
            vec![0x35, 0, 0, 0],
            [&[0x01][..], b"ok\0", &[0; 8]].concat(),
            [&[0x02][..], b"errmsg\0", &[0x0e, 0, 0, 0], errmsg, b"\0"].concat(),
            [&[0x10][..], b"code\0", &[code, 0, 0, 0]].concat(),
            vec![0],
        ]
        .concat()
    }

    #[test]
    fn start_sends_hello_in_an_op_msg() {
        let expected = [
            &[0x34, 0, 0, 0][..], // messageLength 52
            &[0x01, 0, 0, 0],     // requestID 1
            &[0, 0, 0, 0],        // responseTo 0
            &[0xdd, 0x07, 0, 0],  // opCode 2013 (OP_MSG)
            &[0, 0, 0, 0],        // flagBits
            &[0x00],              // section kind 0: body
            &[0x1f, 0, 0, 0],     // document length 31
            &[0x10],              // int32
            b"hello\0",           // name
            &[0x01, 0, 0, 0],     // 1
            &[0x02],              // string
            b"$db\0",             // name
            &[0x06, 0, 0, 0],     // length of "admin" with its NUL
            b"admin\0",           // value
            &[0x00],              // end of document
        ]
        .concat();
        assert_eq!(expected.len(), 52);
        assert_eq!(Mongodb::handshake_start(ctx(), testing::secrets()), expected);
    }

    #[test]
    fn ok_reply_is_ready_and_partial_needs_more() {
        let ok = hello_ok();
        assert_eq!(ok.len(), 78);
        assert_eq!(judge(&ok), ready_unauthenticated(None, NOTE));
        for cut in [0, 3, 4, 15, 16, 40, ok.len() - 1] {
            assert_eq!(judge(&ok[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
        // ok as int32 1, and a trailing CRC-32C (flag bit 0).
        let mut crc = [&[
            0x1a, 0, 0, 0, 0x2a, 0, 0, 0, 1, 0, 0, 0, 0xdd, 0x07, 0, 0, 1, 0, 0, 0, 0,
        ][..]]
        .concat();
        crc.extend([&[0x0d, 0, 0, 0, 0x10][..], b"ok\0", &[1, 0, 0, 0], &[0]].concat());
        assert_eq!(crc.len(), 16 + 4 + 1 + 13);
        crc[0] = crc.len() as u8 + 4;
        crc.extend([0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(judge(&crc), ready_unauthenticated(None, NOTE));
    }

    #[test]
    fn shutdown_is_not_yet_and_other_errors_fail() {
        let shutdown = hello_error(b"shutting down", 91);
        assert_eq!(shutdown.len(), 74);
        assert_eq!(
            judge(&shutdown),
            HandshakeOutcome::NotYet("hello failed with code 91: shutting down".into())
        );
        let unknown = hello_error(b"no such cmd!!", 59);
        assert_eq!(
            judge(&unknown),
            HandshakeOutcome::Failed("hello failed with code 59: no such cmd!!".into())
        );
    }

    #[test]
    fn garbage_and_foreign_replies_fail() {
        assert!(matches!(
            judge(b"HTTP/1.1 400 Bad Request\r\n"),
            HandshakeOutcome::Failed(_)
        ));
        let mut other_request = hello_ok();
        other_request[8] = 7; // responseTo another request
        assert!(matches!(judge(&other_request), HandshakeOutcome::Failed(_)));
        let mut legacy = hello_ok();
        legacy[12] = 1; // OP_REPLY
        legacy[13] = 0;
        assert!(matches!(judge(&legacy), HandshakeOutcome::Failed(m) if m.contains("OP_REPLY")));
        let mut bad_doc = hello_ok();
        bad_doc[21] = 0x40; // document length disagrees with the message
        assert!(matches!(judge(&bad_doc), HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn versions_images_and_tags() {
        let info = Mongodb::info();
        assert_eq!(info.default_version, "8");
        assert_eq!(info.default_port, 27017);
        let tags: Vec<&str> = info.versions.iter().map(|v| v.image_tag.as_str()).collect();
        assert_eq!(tags, ["6.0", "7.0", "8.0"]);
        assert_eq!(Mongodb::container_spec(opts()).unwrap().image, "mongo:8.0");
        let six = Mongodb::container_spec(Options {
            version: "6.0".into(),
            ..opts()
        })
        .unwrap();
        assert_eq!(six.image, "mongo:6.0");
    }

    #[test]
    fn spec_env_commands_and_paths() {
        let fast = Mongodb::container_spec(Options {
            extra: vec![("TZ".into(), "UTC".into())],
            ..opts()
        })
        .unwrap();
        assert_eq!(
            fast.cmd,
            ["mongod", "--setParameter", "diagnosticDataCollectionEnabled=false"]
        );
        assert!(!fast.cmd.iter().any(|a| a == "--nojournal"));
        assert_eq!(fast.data_paths, ["/data/db", "/data/configdb"]);
        assert_eq!(fast.ports, [27017]);
        let env = Env::new().extend(fast.env);
        assert_eq!(env.get("MONGO_INITDB_ROOT_USERNAME"), Some("root"));
        assert_eq!(env.get("MONGO_INITDB_ROOT_PASSWORD"), Some("pw"));
        assert_eq!(env.get("MONGO_INITDB_DATABASE"), Some("test"));
        assert_eq!(env.get("TZ"), Some("UTC"));
        let c = &fast.credentials;
        assert_eq!(
            (c.user.as_str(), c.password.as_str(), c.database.as_str()),
            ("root", "pw", "test")
        );
        assert!(matches!(
            fast.readiness.probes.as_slice(),
            [Probe::Handshake(HandshakeProbe {
                container_port: 27017,
                ..
            })]
        ));

        let durable = Mongodb::container_spec(Options {
            mode: Mode::Durable,
            memory_limit_bytes: Some(4 << 30),
            ..opts()
        })
        .unwrap();
        assert_eq!(durable.cmd, ["mongod", "--wiredTigerCacheSizeGB", "1.50"]);
        assert_eq!(durable.memory_limit_bytes, Some(4 << 30));
        assert_eq!(wired_tiger_cache_gb(512 << 20), "0.25");
        assert_eq!(wired_tiger_cache_gb(2 << 30), "0.50");
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let field = |o: Options| Mongodb::container_spec(o).unwrap_err().field;
        assert_eq!(
            field(Options {
                version: "5".into(),
                ..opts()
            })
            .as_deref(),
            Some("version")
        );
        assert_eq!(
            field(Options {
                user: Some(String::new()),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                password: String::new(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        assert_eq!(
            field(Options {
                database: Some("a.b".into()),
                ..opts()
            })
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            field(Options {
                database: Some("d".repeat(64)),
                ..opts()
            })
            .as_deref(),
            Some("database")
        );
        let extra = vec![("MONGO_INITDB_ROOT_PASSWORD".into(), "x".into())];
        assert_eq!(field(Options { extra, ..opts() }).as_deref(), Some("env"));
    }

    #[test]
    fn url_percent_encodes_credentials() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 27018,
            credentials: Credentials {
                user: "root".into(),
                password: "p@ss:w/rd".into(),
                database: "test".into(),
            },
        };
        let info = Mongodb::connection(at);
        assert_eq!(
            info.url,
            "mongodb://root:p%40ss%3Aw%2Frd@127.0.0.1:27018/test?authSource=admin"
        );
        assert!(info.env.contains(&("MONGODB_URI".into(), info.url.clone())));
        assert!(info.env.contains(&("MONGO_PASSWORD".into(), "p@ss:w/rd".into())));
        assert_eq!(
            info.shell,
            [
                "mongosh",
                "--username=root",
                "--password=p@ss:w/rd",
                "--authenticationDatabase=admin",
                "mongodb://127.0.0.1:27017/test"
            ]
        );
    }

    #[test]
    fn clients_and_init_directory() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 27018,
            credentials: Credentials {
                user: "root".into(),
                password: "pw".into(),
                database: "app".into(),
            },
        };
        let client = Mongodb::client(at.clone());
        assert_eq!(
            client.host_shell.unwrap(),
            ["mongosh".to_string(), Mongodb::connection(at).url]
        );
        let query = client.query.unwrap();
        assert_eq!(query.command[..2], ["mongosh", "--quiet"]);
        assert_eq!(client.container_shell.command[0], "mongosh");
        assert_eq!(Mongodb::init_support().unwrap().suffixes, [".js", ".sh"]);
    }
}
