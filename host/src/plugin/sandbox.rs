//! The limits a plugin runs under: what it may import, and how much fuel, time and memory
//! one call may use.

use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::{Component, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Fuel for one call; a typical call uses ~10^4, an endless loop burns this in milliseconds.
pub const FUEL_PER_CALL: u64 = 100_000_000;
/// Fuel for one `handshake-step` call, which may derive a key: SCRAM's PBKDF2 costs ~11.7k
/// fuel per iteration in the sandbox (measured: 4096 iterations, PostgreSQL's default, take
/// 48 M fuel and ~2.5 ms), so the SDK's cap of 100 000 iterations (~1.2 G) fits with room to
/// spare. An endless loop still ends here in well under a second.
pub const HANDSHAKE_FUEL_PER_CALL: u64 = 1_500_000_000;
/// Wall-clock backstop for one call, in epoch ticks of [`EPOCH_TICK`].
pub const EPOCH_TICKS_PER_CALL: u64 = 100;
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Linear memory a plugin may grow to.
pub const MEMORY_LIMIT_BYTES: usize = 64 << 20;
/// Captured stderr (panic messages), bounded.
const STDERR_CAPACITY: usize = 16 << 10;

/// Interfaces a pure-logic plugin built with Rust's `wasm32-wasip2` std may import: stdio
/// and exit (for panic messages) and an empty environment. Files, sockets, clocks, random
/// and anything else are refused at load time.
const ALLOWED_IMPORTS: &[&str] = &[
    // The contract's own type definitions (no functions).
    "dbarena:engine/types",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:io/poll",
];

/// Returns the imports of `component` that the sandbox does not allow.
pub fn forbidden_imports(engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            let unversioned = name.split('@').next().unwrap_or(name);
            !ALLOWED_IMPORTS.contains(&unversioned)
        })
        .map(str::to_string)
        .collect()
}

/// Per-call store data: an empty WASI context (no dirs, env, args or network) and limits.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: MemoryGuard,
    pub stderr: MemoryOutputPipe,
}

impl PluginState {
    pub fn new() -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limits: MemoryGuard::default(),
            stderr,
        }
    }

    /// What the plugin wrote to stderr (a panic message, usually), trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).trim().to_string()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and table growth, and remembers whether the cap was hit so the error
/// can say "memory limit" rather than a generic trap.
#[derive(Default)]
pub struct MemoryGuard {
    hit: bool,
}

impl MemoryGuard {
    pub fn hit(&self) -> bool {
        self.hit
    }
}

/// Table elements a plugin may have; Rust components need a handful.
const TABLE_ELEMENTS_LIMIT: usize = 100_000;

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MEMORY_LIMIT_BYTES {
            self.hit = true;
            wasmtime::bail!("memory limit of {} MiB reached", MEMORY_LIMIT_BYTES >> 20);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > TABLE_ELEMENTS_LIMIT {
            self.hit = true;
            wasmtime::bail!("table limit of {TABLE_ELEMENTS_LIMIT} elements reached");
        }
        Ok(true)
    }
}
