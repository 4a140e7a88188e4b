//! `dbarena bench`: figures for dbarena's own costs, as medians of repeated runs.

use crate::cli::BenchCommand;
use crate::output::{print_json, table};
use crate::plugin::bindings::{Mode, Options};
use crate::plugin::{BUILTIN_PLUGINS, PluginRuntime, PluginSource};
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(cmd: &BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Plugins { runs, json } => plugins(*runs, *json),
    }
}

/// Median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Serialize)]
struct PluginFigures {
    id: &'static str,
    wasm_bytes: usize,
    first_load_ms: f64,
    cached_load_ms: f64,
    cached_vs_first: f64,
    container_spec_call_ms: f64,
    container_spec_fuel: u64,
}

fn measure(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    Ok(median(&mut samples))
}

fn plugins(runs: usize, json: bool) -> anyhow::Result<ExitCode> {
    let runs = runs.max(1);
    let opts = Options {
        version: String::new(),
        user: None,
        password: "Bench-Passw0rd".into(),
        database: None,
        mode: Mode::Fast,
        persistent: false,
        memory_limit_bytes: None,
        extra: Vec::new(),
    };
    let mut rows = Vec::new();
    for (id, wasm) in BUILTIN_PLUGINS {
        // First load: a fresh engine and an empty cache, so the component is compiled.
        let first = measure(runs, || {
            let cache = tempfile::tempdir()?;
            let rt = PluginRuntime::new(Some(cache.path().to_path_buf()))?;
            rt.load(id, wasm, PluginSource::Builtin)?;
            Ok(())
        })?;
        // Cached load: a fresh engine each time, reading the precompiled artifact.
        let cache = tempfile::tempdir()?;
        PluginRuntime::new(Some(cache.path().to_path_buf()))?.load(id, wasm, PluginSource::Builtin)?;
        let cached = measure(runs, || {
            let rt = PluginRuntime::new(Some(cache.path().to_path_buf()))?;
            rt.load(id, wasm, PluginSource::Builtin)?;
            Ok(())
        })?;
        let rt = PluginRuntime::new(Some(cache.path().to_path_buf()))?;
        let plugin = rt.load(id, wasm, PluginSource::Builtin)?;
        let call = measure(runs, || {
            plugin.container_spec(&opts)?;
            Ok(())
        })?;
        rows.push(PluginFigures {
            id,
            wasm_bytes: wasm.len(),
            first_load_ms: ms(first),
            cached_load_ms: ms(cached),
            cached_vs_first: cached.as_secs_f64() / first.as_secs_f64(),
            container_spec_call_ms: ms(call),
            container_spec_fuel: plugin.last_fuel_used(),
        });
    }
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table([
        "PLUGIN",
        "WASM",
        "FIRST LOAD",
        "CACHED LOAD",
        "CACHED/FIRST",
        "SPEC CALL",
        "FUEL",
    ]);
    for r in &rows {
        t.add_row([
            r.id.to_string(),
            format!("{} KiB", r.wasm_bytes / 1024),
            format!("{:.2} ms", r.first_load_ms),
            format!("{:.2} ms", r.cached_load_ms),
            format!("{:.3}", r.cached_vs_first),
            format!("{:.3} ms", r.container_spec_call_ms),
            r.container_spec_fuel.to_string(),
        ]);
    }
    println!("{t}\nmedians of {runs} runs; loads include instantiating the plugin and calling info()");
    Ok(ExitCode::SUCCESS)
}
