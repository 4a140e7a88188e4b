//! Loads plugin components into a sandboxed wasmtime engine and calls them.
//!
//! Calls run on the caller's thread. Exports are bound `async` and the WASI context is linked
//! with `add_to_linker_async`, so WASI stdio (a panic message on stderr) never reaches
//! wasmtime-wasi's synchronous wrappers, which block on a Tokio runtime and panic inside
//! one. Every host function a plugin may import completes immediately (stdio goes to
//! in-memory pipes), so [`run_to_completion`] polls the call with a no-op waker; the fuel
//! and epoch budgets bound the guest.

use super::bindings::{
    ApiBinding, ClientCommands, CompanionSpec, ConnectionForm, ConnectionInfo, ContainerSpec, Credentials, DataPlan,
    Endpoint, EngineInfo, ExecStep, HandshakeContext, HandshakeOutcome, HandshakeSecrets, HandshakeVerdict,
    InitSupport, Options, PluginError, PoolerRequest, ReadyInfo, SUPPORTED_API_VERSIONS, Setting, Tenant, TenantAction,
};
use super::bindings::{latest, v0_1, v0_2};
use super::cache::{ComponentCache, sha256_hex};
use super::error::PluginFailure;
use super::sandbox::{self, PluginState};
use super::validate;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Store, Trap};

/// Pre-linked instances, by the contract version the plugin was built for.
enum WorldPre {
    V0_3(latest::EnginePre<PluginState>),
    V0_2(v0_2::EnginePre<PluginState>),
    V0_1(v0_1::EnginePre<PluginState>),
}

/// Calls the plugin interface of a fresh instance, whichever contract version it has: the
/// versions share their data types, so one body serves them all.
macro_rules! on_plugin {
    ($plugin:expr, $call:literal, |$iface:ident, $store:ident| $body:expr) => {{
        let plugin = &$plugin;
        match &plugin.pre {
            WorldPre::V0_3(pre) => plugin.call($call, async |$store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *$store).await?;
                let $iface = world.dbarena_engine_plugin();
                $body.await
            }),
            WorldPre::V0_2(pre) => plugin.call($call, async |$store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *$store).await?;
                let $iface = world.dbarena_engine_plugin();
                $body.await
            }),
            WorldPre::V0_1(pre) => plugin.call($call, async |$store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *$store).await?;
                let $iface = world.dbarena_engine_plugin();
                $body.await
            }),
        }
    }};
}

/// Calls a function only engine API 0.3.0 has; older plugins get `$old` instead.
macro_rules! on_v0_3 {
    ($plugin:expr, $call:literal, |$iface:ident, $store:ident| $body:expr, else $old:expr) => {{
        let plugin = &$plugin;
        match &plugin.pre {
            WorldPre::V0_3(pre) => plugin.call($call, async |$store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *$store).await?;
                let $iface = world.dbarena_engine_plugin();
                $body.await
            }),
            WorldPre::V0_2(_) | WorldPre::V0_1(_) => $old,
        }
    }};
}

/// Calls a function whose signature changed in 0.3.0: `$new` on 0.3 plugins, `$old` on
/// 0.2 and 0.1 ones (their bindings share types, so one body serves both), its result
/// converted by `$convert`.
macro_rules! by_generation {
    ($plugin:expr, $call:literal, |$iface:ident, $store:ident| $new:expr, old: $old:expr, convert: $convert:expr) => {{
        let plugin = &$plugin;
        match &plugin.pre {
            WorldPre::V0_3(pre) => plugin.call($call, async |$store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *$store).await?;
                let $iface = world.dbarena_engine_plugin();
                $new.await
            }),
            WorldPre::V0_2(pre) => plugin
                .call($call, async |$store: &mut Store<PluginState>| {
                    let world = pre.instantiate_async(&mut *$store).await?;
                    let $iface = world.dbarena_engine_plugin();
                    $old.await
                })
                .map($convert),
            WorldPre::V0_1(pre) => plugin
                .call($call, async |$store: &mut Store<PluginState>| {
                    let world = pre.instantiate_async(&mut *$store).await?;
                    let $iface = world.dbarena_engine_plugin();
                    $old.await
                })
                .map($convert),
        }
    }};
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    Builtin,
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("builtin"),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A wasmtime engine configured for untrusted plugins, shared by every plugin. Cloning is
/// cheap (one shared engine, linker and cache), so a registry can keep one for lazy loads.
#[derive(Clone)]
pub struct PluginRuntime {
    inner: std::sync::Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: wasmtime::Engine,
    linker: Linker<PluginState>,
    cache: Option<ComponentCache>,
}

impl PluginRuntime {
    /// `cache_dir`: where compiled components are kept; `None` compiles every time.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        spawn_epoch_ticker(&engine);
        let cache = cache_dir.map(|dir| ComponentCache::new(dir, &engine));
        Ok(Self {
            inner: std::sync::Arc::new(RuntimeInner { engine, linker, cache }),
        })
    }

    /// Compiles (or loads from cache), checks and identifies a plugin component.
    /// `label` names it in errors before its id is known (a file name, say).
    pub fn load(&self, label: &str, wasm: &[u8], source: PluginSource) -> Result<Plugin, PluginFailure> {
        let sha256 = sha256_hex(wasm);
        self.load_hashed(label, wasm, sha256, source)
    }

    /// [`load`](Self::load) for bytes whose sha256 is already known.
    pub fn load_hashed(
        &self,
        label: &str,
        wasm: &[u8],
        sha256: String,
        source: PluginSource,
    ) -> Result<Plugin, PluginFailure> {
        let load_err = |reason: String| PluginFailure::Load {
            plugin: label.to_string(),
            reason,
        };
        let component = match &self.inner.cache {
            Some(cache) => cache.load(&self.inner.engine, wasm, &sha256),
            None => Component::new(&self.inner.engine, wasm),
        }
        .map_err(|e| load_err(format!("not a valid WASM component: {e:#}")))?;

        let forbidden = sandbox::forbidden_imports(&self.inner.engine, &component);
        if !forbidden.is_empty() {
            return Err(PluginFailure::ForbiddenImports {
                plugin: label.to_string(),
                imports: forbidden.join(", "),
            });
        }
        let api_version = exported_api_version(&self.inner.engine, &component)
            .ok_or_else(|| load_err("exports no dbarena:engine/plugin interface; is it a dbarena plugin?".into()))?;
        let Some(binding) = ApiBinding::for_version(&api_version) else {
            return Err(PluginFailure::UnsupportedApi {
                plugin: label.to_string(),
                found: api_version,
                supported: SUPPORTED_API_VERSIONS.join(", "),
            });
        };
        let instance_pre = self.inner.linker.instantiate_pre(&component);
        let pre = match binding {
            ApiBinding::V0_3 => instance_pre.and_then(latest::EnginePre::new).map(WorldPre::V0_3),
            ApiBinding::V0_2 => instance_pre.and_then(v0_2::EnginePre::new).map(WorldPre::V0_2),
            ApiBinding::V0_1 => instance_pre.and_then(v0_1::EnginePre::new).map(WorldPre::V0_1),
        }
        .map_err(|e| load_err(format!("does not match the engine contract {api_version}: {e:#}")))?;

        let mut plugin = Plugin {
            label: label.to_string(),
            info: None,
            source,
            sha256,
            api_version,
            engine: self.inner.engine.clone(),
            pre,
            last_fuel_used: AtomicU64::new(0),
        };
        let info = on_plugin!(plugin, "info", |iface, store| iface.call_info(store))?;
        validate::engine_info(&info).map_err(|problem| PluginFailure::Invalid {
            plugin: label.to_string(),
            what: "engine info",
            problem,
        })?;
        plugin.label = info.id.clone();
        plugin.info = Some(info);
        Ok(plugin)
    }
}

/// Advances the engine's epoch so a call's deadline is wall-clock bounded; the thread ends
/// with the engine.
fn spawn_epoch_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("dbarena-plugin-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(sandbox::EPOCH_TICK);
            }
        })
        .expect("spawn epoch thread");
}

/// The version of the `dbarena:engine/plugin` interface a component exports.
fn exported_api_version(engine: &wasmtime::Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| name.strip_prefix("dbarena:engine/plugin@").map(str::to_string))
}

/// A loaded, identified plugin. Every call runs in a fresh instance with its own fuel, time
/// and memory budget, and every value it returns is validated before use.
pub struct Plugin {
    label: String,
    info: Option<EngineInfo>,
    pub source: PluginSource,
    pub sha256: String,
    pub api_version: String,
    engine: wasmtime::Engine,
    pre: WorldPre,
    last_fuel_used: AtomicU64,
}

impl Plugin {
    /// Identity and versions, as validated at load.
    pub fn info(&self) -> &EngineInfo {
        self.info.as_ref().expect("info is set at load")
    }

    pub fn id(&self) -> &str {
        &self.info().id
    }

    /// Fuel the most recent call consumed (for benchmarks and reports).
    pub fn last_fuel_used(&self) -> u64 {
        self.last_fuel_used.load(Ordering::Relaxed)
    }

    pub fn container_spec(&self, opts: &Options) -> Result<ContainerSpec, PluginFailure> {
        let reply = on_plugin!(self, "container-spec", |iface, store| iface
            .call_container_spec(store, opts))?;
        let spec = reply.map_err(|e| self.rejected(e))?;
        validate::container_spec(&spec).map_err(|problem| self.invalid("container spec", problem))?;
        Ok(spec)
    }

    /// Bytes to send right after connecting (empty: the server speaks first). `secrets`
    /// must be fresh per connection and the same for every step of it.
    pub fn handshake_start(
        &self,
        ctx: &HandshakeContext,
        secrets: &HandshakeSecrets,
    ) -> Result<Vec<u8>, PluginFailure> {
        let bytes = by_generation!(self, "handshake-start", |iface, store|
            iface.call_handshake_start(store, ctx, secrets),
            old: iface.call_handshake_start(store, ctx),
            convert: |bytes| bytes
        )?;
        validate::handshake_bytes(&bytes).map_err(|problem| self.invalid("handshake message", problem))?;
        Ok(bytes)
    }

    /// Judges the bytes received since the last send. Plugins built for engine API 0.1/0.2
    /// do not authenticate: their `ready` becomes an unauthenticated [`ReadyInfo`] saying so.
    pub fn handshake_step(
        &self,
        ctx: &HandshakeContext,
        secrets: &HandshakeSecrets,
        received: &[u8],
    ) -> Result<HandshakeOutcome, PluginFailure> {
        let outcome = by_generation!(self, "handshake-step", |iface, store|
            iface.call_handshake_step(store, ctx, secrets, received),
            old: iface.call_handshake_step(store, ctx, received),
            convert: |verdict| self.outcome_of(verdict)
        )?;
        validate::handshake_outcome(&outcome).map_err(|problem| self.invalid("handshake outcome", problem))?;
        Ok(outcome)
    }

    /// The 0.3.0 form of an old plugin's verdict.
    fn outcome_of(&self, verdict: HandshakeVerdict) -> HandshakeOutcome {
        match verdict {
            HandshakeVerdict::Ready => HandshakeOutcome::Ready(ReadyInfo {
                server_version: None,
                authenticated: false,
                note: Some(format!(
                    "plugin built for engine API {} does not check credentials",
                    self.api_version
                )),
            }),
            HandshakeVerdict::NeedMore => HandshakeOutcome::NeedMore,
            HandshakeVerdict::Send(bytes) => HandshakeOutcome::Send(bytes),
            HandshakeVerdict::NotYet(reason) => HandshakeOutcome::NotYet(reason),
            HandshakeVerdict::Failed(reason) => HandshakeOutcome::Failed(reason),
        }
    }

    pub fn connection(&self, at: &Endpoint) -> Result<ConnectionInfo, PluginFailure> {
        let info = on_plugin!(self, "connection", |iface, store| iface.call_connection(store, at))?;
        validate::connection_info(&info, self.id()).map_err(|problem| self.invalid("connection info", problem))?;
        Ok(info)
    }

    /// Engine-specific settings (engine API 0.2.0); plugins built for 0.1.0 list none.
    pub fn settings(&self) -> Result<Vec<Setting>, PluginFailure> {
        let settings = match &self.pre {
            WorldPre::V0_1(_) => Vec::new(),
            WorldPre::V0_2(pre) => self.call("settings", async |store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *store).await?;
                world.dbarena_engine_plugin().call_settings(store).await
            })?,
            WorldPre::V0_3(pre) => self.call("settings", async |store: &mut Store<PluginState>| {
                let world = pre.instantiate_async(&mut *store).await?;
                world.dbarena_engine_plugin().call_settings(store).await
            })?,
        };
        validate::settings(&settings).map_err(|problem| self.invalid("settings", problem))?;
        Ok(settings)
    }

    /// Other forms of the connection (JDBC URL...); none for plugins before 0.3.0.
    pub fn connection_forms(&self, at: &Endpoint) -> Result<Vec<ConnectionForm>, PluginFailure> {
        let forms = on_v0_3!(self, "connection-forms", |iface, store| iface.call_connection_forms(store, at), else Ok(Vec::new()))?;
        validate::connection_forms(&forms, self.id()).map_err(|problem| self.invalid("connection forms", problem))?;
        Ok(forms)
    }

    /// Interactive and one-shot clients; before 0.3.0, the container shell of
    /// [`connection`](Self::connection) only.
    pub fn client(&self, at: &Endpoint) -> Result<ClientCommands, PluginFailure> {
        let client = on_v0_3!(self, "client", |iface, store| iface.call_client(store, at), else {
            self.connection(at).map(|info| ClientCommands {
                host_shell: None,
                container_shell: ExecStep {
                    description: "interactive client".into(),
                    command: info.shell,
                    env: Vec::new(),
                    stdin: None,
                },
                query: None,
            })
        })?;
        validate::client_commands(&client).map_err(|problem| self.invalid("client commands", problem))?;
        Ok(client)
    }

    /// Init-script support; `None` when the engine has none (always before 0.3.0).
    pub fn init_support(&self) -> Result<Option<InitSupport>, PluginFailure> {
        let support = on_v0_3!(self, "init-support", |iface, store| iface.call_init_support(store), else Ok(None))?;
        if let Some(support) = &support {
            validate::init_support(support).map_err(|problem| self.invalid("init support", problem))?;
        }
        Ok(support)
    }

    /// How the engine's data is captured for `opts`; `None`: no warm starts or snapshots.
    pub fn data_plan(&self, opts: &Options) -> Result<Option<DataPlan>, PluginFailure> {
        let plan = on_v0_3!(self, "data-plan", |iface, store| iface.call_data_plan(store, opts), else Ok(None))?;
        if let Some(plan) = &plan {
            validate::data_plan(plan).map_err(|problem| self.invalid("data plan", problem))?;
        }
        Ok(plan)
    }

    /// Steps that switch a server started from template data to `wanted`.
    pub fn apply_credentials(
        &self,
        template: &Credentials,
        wanted: &Credentials,
    ) -> Result<Vec<ExecStep>, PluginFailure> {
        let steps = on_v0_3!(self, "apply-credentials", |iface, store| iface.call_apply_credentials(store, template, wanted), else Ok(Err(self.old_api("applying credentials to template data"))))?;
        let steps = steps.map_err(|e| self.rejected(e))?;
        validate::exec_steps("apply-credentials step", &steps)
            .map_err(|problem| self.invalid("credential steps", problem))?;
        Ok(steps)
    }

    /// Steps for `action` on tenant `tenant` of a shared server administered as `server`.
    pub fn tenant_steps(
        &self,
        server: &Credentials,
        tenant: &Tenant,
        action: &TenantAction,
    ) -> Result<Vec<ExecStep>, PluginFailure> {
        let steps = on_v0_3!(self, "tenant-steps", |iface, store| iface.call_tenant_steps(store, server, tenant, action), else Ok(Err(self.old_api("tenants on a shared server"))))?;
        let steps = steps.map_err(|e| self.rejected(e))?;
        validate::exec_steps("tenant step", &steps).map_err(|problem| self.invalid("tenant steps", problem))?;
        Ok(steps)
    }

    /// Connection info of a tenant (`pooled`: the pooler's endpoint, when there is one);
    /// before 0.3.0, the direct connection.
    pub fn tenant_connection(
        &self,
        pooled: Option<&Endpoint>,
        direct: &Endpoint,
    ) -> Result<ConnectionInfo, PluginFailure> {
        let info = on_v0_3!(self, "tenant-connection", |iface, store| iface.call_tenant_connection(store, pooled, direct), else self.connection(direct))?;
        validate::connection_info(&info, self.id())
            .map_err(|problem| self.invalid("tenant connection info", problem))?;
        Ok(info)
    }

    /// The pooler to run in front of a shared server; `None` when the engine uses none.
    pub fn pooler(&self, req: &PoolerRequest) -> Result<Option<CompanionSpec>, PluginFailure> {
        let reply = on_v0_3!(self, "pooler", |iface, store| iface.call_pooler(store, req), else Ok(Ok(None)))?;
        let companion = reply.map_err(|e| self.rejected(e))?;
        if let Some(companion) = &companion {
            validate::companion_spec(companion).map_err(|problem| self.invalid("pooler spec", problem))?;
        }
        Ok(companion)
    }

    fn rejected(&self, e: PluginError) -> PluginFailure {
        PluginFailure::Rejected {
            engine: self.label.clone(),
            field: e.field.filter(|f| validate::field_name(f)),
            message: validate::clip(&e.message, 1024),
        }
    }

    /// The refusal of a function an old plugin cannot have.
    fn old_api(&self, what: &str) -> PluginError {
        PluginError {
            field: None,
            message: format!(
                "{what} is not supported by {} (plugin built for engine API {})",
                self.info().display_name,
                self.api_version
            ),
        }
    }

    fn invalid(&self, what: &'static str, problem: String) -> PluginFailure {
        PluginFailure::Invalid {
            plugin: self.label.clone(),
            what,
            problem,
        }
    }

    /// Runs one call in a fresh store with its own fuel, deadline and memory limits, on the
    /// caller's thread.
    fn call<R>(
        &self,
        call: &'static str,
        f: impl AsyncFnOnce(&mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        // Only a handshake step may need to derive a key (SCRAM's PBKDF2).
        let fuel = if call == "handshake-step" {
            sandbox::HANDSHAKE_FUEL_PER_CALL
        } else {
            sandbox::FUEL_PER_CALL
        };
        let mut store = Store::new(&self.engine, PluginState::new());
        store.limiter(|state| &mut state.limits);
        store.set_fuel(fuel).expect("fuel is enabled");
        store.set_epoch_deadline(sandbox::EPOCH_TICKS_PER_CALL);
        store.epoch_deadline_trap();
        let result = run_to_completion(f(&mut store), CALL_DEADLINE)
            .unwrap_or_else(|| Err(wasmtime::Error::from(Trap::Interrupt)));
        let fuel_left = store.get_fuel().unwrap_or(0);
        self.last_fuel_used.store(fuel - fuel_left, Ordering::Relaxed);
        result.map_err(|err| self.classify(call, err, &store))
    }

    fn classify(&self, call: &'static str, err: wasmtime::Error, store: &Store<PluginState>) -> PluginFailure {
        let plugin = self.label.clone();
        if store.data().limits.hit() {
            return PluginFailure::OutOfMemory {
                plugin,
                call,
                limit_mib: sandbox::MEMORY_LIMIT_BYTES >> 20,
            };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginFailure::OutOfFuel { plugin, call },
            Some(Trap::Interrupt) => PluginFailure::Timeout { plugin, call },
            _ => {
                // The full story (stderr and wasm backtrace, a dozen lines) is for -vv; users
                // get one line: the panic message, or the trap.
                let stderr = store.data().stderr_text();
                tracing::debug!(
                    "{}",
                    crate::output::escape(&format!("plugin {plugin} crashed in {call}: {stderr}\n{err:?}"))
                );
                let message = match panic_message(&stderr) {
                    Some(panic) => panic,
                    None => match err.downcast_ref::<Trap>() {
                        Some(trap) => trap.to_string(),
                        None => err.root_cause().to_string(),
                    },
                };
                let message = validate::clip(&message, 512);
                PluginFailure::Crashed { plugin, call, message }
            }
        }
    }
}

/// The message of a Rust panic as a plugin prints it on stderr ("thread '...' panicked at
/// FILE:LINE:COL:\nMESSAGE\nnote: ..."), on one line; other stderr text, first line only.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    if !(first.contains("panicked at") && first.ends_with(':')) {
        return Some(first.to_string());
    }
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    Some(if message.is_empty() {
        "panicked".to_string()
    } else {
        format!("panicked: {}", message.join(" "))
    })
}

/// Backstop for a call whose host side never completes (no host function a plugin may import
/// waits, so this is only reached by a wasmtime-wasi change); the guest itself is bounded by
/// fuel and the epoch deadline.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// Polls `future` on this thread until it completes, or gives up after `deadline`. Plugin
/// calls never wait on I/O, so the first poll normally finishes them; a pending poll yields
/// the thread and retries.
fn run_to_completion<F: Future>(future: F, deadline: Duration) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let started = Instant::now();
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Some(out);
        }
        if started.elapsed() > deadline {
            return None;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn a_panic_is_one_line() {
        let stderr =
            "thread '<unnamed>' panicked at src/lib.rs:70:24:\nboom \x1b]0;x\x07\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(panic_message(stderr).unwrap(), "panicked: boom \x1b]0;x\x07");
        assert_eq!(panic_message("").as_deref(), None);
        assert_eq!(panic_message("oops\nmore").as_deref(), Some("oops"));
    }
}
