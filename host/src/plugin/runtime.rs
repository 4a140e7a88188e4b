//! Loads plugin components into a sandboxed wasmtime engine and calls them.

use super::bindings::{
    ConnectionInfo, ContainerSpec, Endpoint, EngineInfo, HandshakeContext, HandshakeVerdict, Options,
    SUPPORTED_API_VERSIONS,
};
use super::bindings::{Setting, latest, v0_1};
use super::cache::{ComponentCache, sha256_hex};
use super::error::PluginFailure;
use super::sandbox::{self, PluginState};
use super::validate;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::{Component, Linker};
use wasmtime::{Store, Trap};

/// Pre-linked instances, by the contract version the plugin was built for.
enum WorldPre {
    Latest(latest::EnginePre<PluginState>),
    V0_1(v0_1::EnginePre<PluginState>),
}

/// Calls the plugin interface of a fresh instance, whichever contract version it has: the
/// versions share their data types, so one body serves them all.
macro_rules! on_plugin {
    ($plugin:expr, $call:literal, |$iface:ident, $store:ident| $body:expr) => {{
        let plugin = &$plugin;
        match &plugin.pre {
            WorldPre::Latest(pre) => plugin.call($call, |$store| {
                let world = pre.instantiate(&mut *$store)?;
                let $iface = world.dbarena_engine_plugin();
                $body
            }),
            WorldPre::V0_1(pre) => plugin.call($call, |$store| {
                let world = pre.instantiate(&mut *$store)?;
                let $iface = world.dbarena_engine_plugin();
                $body
            }),
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

/// A wasmtime engine configured for untrusted plugins, shared by every plugin.
pub struct PluginRuntime {
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
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        spawn_epoch_ticker(&engine);
        let cache = cache_dir.map(|dir| ComponentCache::new(dir, &engine));
        Ok(Self { engine, linker, cache })
    }

    /// Compiles (or loads from cache), checks and identifies a plugin component.
    /// `label` names it in errors before its id is known (a file name, say).
    pub fn load(&self, label: &str, wasm: &[u8], source: PluginSource) -> Result<Plugin, PluginFailure> {
        let load_err = |reason: String| PluginFailure::Load {
            plugin: label.to_string(),
            reason,
        };
        let sha256 = sha256_hex(wasm);
        let component = match &self.cache {
            Some(cache) => cache.load(&self.engine, wasm, &sha256),
            None => Component::new(&self.engine, wasm),
        }
        .map_err(|e| load_err(format!("not a valid WASM component: {e:#}")))?;

        let forbidden = sandbox::forbidden_imports(&self.engine, &component);
        if !forbidden.is_empty() {
            return Err(PluginFailure::ForbiddenImports {
                plugin: label.to_string(),
                imports: forbidden.join(", "),
            });
        }
        let api_version = exported_api_version(&self.engine, &component)
            .ok_or_else(|| load_err("exports no dbarena:engine/plugin interface; is it a dbarena plugin?".into()))?;
        if !api_supported(&api_version) {
            return Err(PluginFailure::UnsupportedApi {
                plugin: label.to_string(),
                found: api_version,
                supported: SUPPORTED_API_VERSIONS.join(", "),
            });
        }
        let instance_pre = self.linker.instantiate_pre(&component);
        let pre = if api_version.starts_with("0.1.") {
            instance_pre.and_then(v0_1::EnginePre::new).map(WorldPre::V0_1)
        } else {
            instance_pre.and_then(latest::EnginePre::new).map(WorldPre::Latest)
        }
        .map_err(|e| load_err(format!("does not match the engine contract {api_version}: {e:#}")))?;

        let mut plugin = Plugin {
            label: label.to_string(),
            info: None,
            source,
            sha256,
            api_version,
            engine: self.engine.clone(),
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

/// Semver-compatible with a supported version (for 0.x: same minor, any patch).
fn api_supported(found: &str) -> bool {
    let Ok(found) = semver::Version::parse(found) else {
        return false;
    };
    SUPPORTED_API_VERSIONS.iter().any(|s| {
        let s = semver::Version::parse(s).expect("valid supported version");
        if s.major == 0 {
            found.major == 0 && found.minor == s.minor
        } else {
            found.major == s.major && found.minor >= s.minor
        }
    })
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
        let spec = reply.map_err(|e| PluginFailure::Rejected {
            engine: self.label.clone(),
            field: e.field.filter(|f| validate::field_name(f)),
            message: validate::clip(&e.message, 1024),
        })?;
        validate::container_spec(&spec).map_err(|problem| self.invalid("container spec", problem))?;
        Ok(spec)
    }

    pub fn handshake_start(&self, ctx: &HandshakeContext) -> Result<Vec<u8>, PluginFailure> {
        let bytes = on_plugin!(self, "handshake-start", |iface, store| iface
            .call_handshake_start(store, ctx))?;
        validate::handshake_bytes(&bytes).map_err(|problem| self.invalid("handshake message", problem))?;
        Ok(bytes)
    }

    pub fn handshake_step(&self, ctx: &HandshakeContext, received: &[u8]) -> Result<HandshakeVerdict, PluginFailure> {
        let verdict = on_plugin!(self, "handshake-step", |iface, store| iface
            .call_handshake_step(store, ctx, received))?;
        validate::handshake_verdict(&verdict).map_err(|problem| self.invalid("handshake verdict", problem))?;
        Ok(verdict)
    }

    pub fn connection(&self, at: &Endpoint) -> Result<ConnectionInfo, PluginFailure> {
        let info = on_plugin!(self, "connection", |iface, store| iface.call_connection(store, at))?;
        validate::connection_info(&info).map_err(|problem| self.invalid("connection info", problem))?;
        Ok(info)
    }

    /// Engine-specific settings (engine API 0.2.0); plugins built for 0.1.0 list none.
    pub fn settings(&self) -> Result<Vec<Setting>, PluginFailure> {
        let settings = match &self.pre {
            WorldPre::V0_1(_) => Vec::new(),
            WorldPre::Latest(pre) => self.call("settings", |store| {
                pre.instantiate(&mut *store)?
                    .dbarena_engine_plugin()
                    .call_settings(store)
            })?,
        };
        validate::settings(&settings).map_err(|problem| self.invalid("settings", problem))?;
        Ok(settings)
    }

    fn invalid(&self, what: &'static str, problem: String) -> PluginFailure {
        PluginFailure::Invalid {
            plugin: self.label.clone(),
            what,
            problem,
        }
    }

    fn call<R: Send>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<R> + Send,
    ) -> Result<R, PluginFailure> {
        // WASI's sync stdio (a panic message) blocks on a Tokio runtime, which panics on a
        // runtime thread; inside one, the call runs on a short-lived plain thread instead.
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|scope| {
                scope.spawn(|| self.call_here(call, f)).join().unwrap_or_else(|_| {
                    Err(PluginFailure::Crashed {
                        plugin: self.label.clone(),
                        call,
                        message: "host thread panicked".into(),
                    })
                })
            });
        }
        self.call_here(call, f)
    }

    fn call_here<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        let mut store = Store::new(&self.engine, PluginState::new());
        store.limiter(|state| &mut state.limits);
        store.set_fuel(sandbox::FUEL_PER_CALL).expect("fuel is enabled");
        store.set_epoch_deadline(sandbox::EPOCH_TICKS_PER_CALL);
        store.epoch_deadline_trap();
        let result = f(&mut store);
        let fuel_left = store.get_fuel().unwrap_or(0);
        self.last_fuel_used
            .store(sandbox::FUEL_PER_CALL - fuel_left, Ordering::Relaxed);
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
                let stderr = store.data().stderr_text();
                let message = if stderr.is_empty() {
                    format!("{err:#}")
                } else {
                    format!("{} ({err})", validate::clip(&stderr, 2048))
                };
                PluginFailure::Crashed { plugin, call, message }
            }
        }
    }
}
