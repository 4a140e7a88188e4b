//! `dbarena create`: pull, create, start and wait for each engine, all in parallel.

use super::Context;
use crate::cli::CreateArgs;
use crate::config::override_image;
use crate::container::{BackendError, ContainerBackend, ContainerDef, Mount, PortBinding, PullProgress, labels};
use crate::instance::{self, Instance, Status};
use crate::options::{plugin_options, split_engine_ref};
use crate::output::{self, Progress, print_json};
use crate::plugin::Plugin;
use crate::plugin::bindings::ContainerSpec;
use anyhow::bail;
use futures_util::future::join_all;
use indicatif::ProgressBar;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What one `create` has made so far, so an interrupted or failed create can undo it.
#[derive(Default, Clone)]
struct Undo {
    containers: Arc<Mutex<Vec<String>>>,
    volumes: Arc<Mutex<Vec<String>>>,
}

impl Undo {
    fn container(&self, id: &str) {
        self.containers.lock().unwrap().push(id.to_string());
    }
    fn forget_container(&self, id: &str) {
        self.containers.lock().unwrap().retain(|c| c != id);
    }
    fn volume(&self, name: &str) {
        self.volumes.lock().unwrap().push(name.to_string());
    }
    fn forget_volumes(&self, names: &[String]) {
        self.volumes.lock().unwrap().retain(|v| !names.contains(v));
    }
    /// Removes everything still registered.
    async fn run<B: ContainerBackend>(&self, backend: &B) {
        let containers: Vec<String> = std::mem::take(&mut self.containers.lock().unwrap());
        for id in containers {
            if let Err(e) = backend.remove_container(&id).await {
                output::warn(format_args!("could not remove container {id}: {e}"));
            }
        }
        let volumes: Vec<String> = std::mem::take(&mut self.volumes.lock().unwrap());
        for name in volumes {
            if let Err(e) = backend.remove_volume(&name).await {
                output::warn(format_args!("could not remove volume {name}: {e}"));
            }
        }
    }
}

/// One engine to create, resolved from the arguments.
struct Request<'a> {
    plugin: &'a Plugin,
    engine: String,
    version: String,
    name: String,
}

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.engines.len() > 1 {
        for (flag, set) in [
            ("--name", args.name.is_some()),
            ("--port", args.port.is_some()),
            ("--image", args.image.is_some()),
        ] {
            if set {
                bail!("{flag} applies to a single engine; create the others in a separate call");
            }
        }
    }
    let requests = resolve(ctx, &args)?;
    let began = chrono::Utc::now();
    let progress = Progress::new(args.json);
    // One undo list per engine: a failed engine cleans up only its own objects, while an
    // interrupt cleans up everything not yet handed over.
    let undos: Vec<Undo> = requests.iter().map(|_| Undo::default()).collect();
    let creates = join_all(requests.iter().zip(&undos).map(|(req, undo)| {
        let bar = progress.line(&req.name);
        create_one(ctx, &args, req, bar, undo.clone())
    }));
    let results = tokio::select! {
        results = creates => results,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: removing what was created...");
            for undo in &undos {
                undo.run(&ctx.backend).await;
            }
            // A container Docker created just before the interrupt may not be registered
            // yet: remove managed containers with these names created by this command.
            let ours = |info: &crate::container::ContainerInfo| {
                instance::is_managed(info)
                    && info
                        .labels
                        .get(labels::CREATED_AT)
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| t >= began)
            };
            for req in &requests {
                if let Ok(info) = ctx.backend.inspect_container(&req.name).await
                    && ours(&info)
                {
                    let _ = ctx.backend.remove_container(&info.id).await;
                }
            }
            bail!("interrupted; nothing was left behind");
        }
    };

    let mut instances = Vec::new();
    let mut failures = Vec::new();
    for (req, result) in requests.iter().zip(results) {
        match result {
            Ok(instance) => instances.push(instance),
            Err(e) => failures.push(format!("{}: {e:#}", req.name)),
        }
    }
    if args.json {
        print_json(&instances)?;
    } else {
        for i in &instances {
            print_connection(i);
        }
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn resolve<'a, B: ContainerBackend>(ctx: &'a Context<B>, args: &CreateArgs) -> anyhow::Result<Vec<Request<'a>>> {
    let mut names = std::collections::HashSet::new();
    args.engines
        .iter()
        .map(|reference| {
            let (engine, version) = split_engine_ref(reference);
            let plugin = &ctx.registry.get(engine)?.plugin;
            let version = if version.is_empty() {
                ctx.config
                    .engine(engine)
                    .and_then(|e| e.version.clone())
                    .unwrap_or_else(|| plugin.info().default_version.clone())
            } else {
                version.to_string()
            };
            let name = match &args.name {
                Some(name) => name.clone(),
                None => loop {
                    let candidate = instance::generate_name(engine, &version);
                    if names.insert(candidate.clone()) {
                        break candidate;
                    }
                },
            };
            instance::validate_name(&name)?;
            Ok(Request {
                plugin,
                engine: engine.to_string(),
                version,
                name,
            })
        })
        .collect()
}

async fn create_one<B: ContainerBackend>(
    ctx: &Context<B>,
    args: &CreateArgs,
    req: &Request<'_>,
    bar: ProgressBar,
    undo: Undo,
) -> anyhow::Result<Instance> {
    let started = Instant::now();
    let result = provision(ctx, args, req, &bar, &undo).await;
    match &result {
        Ok(_) => bar.finish_with_message(format!("ready in {:.1} s", started.elapsed().as_secs_f64())),
        Err(_) => bar.abandon_with_message("failed"),
    }
    result
}

async fn provision<B: ContainerBackend>(
    ctx: &Context<B>,
    args: &CreateArgs,
    req: &Request<'_>,
    bar: &ProgressBar,
    undo: &Undo,
) -> anyhow::Result<Instance> {
    let engine_config = ctx.config.engine(&req.engine);
    let mut instance_args = args.instance.clone();
    if instance_args.memory.is_none() {
        instance_args.memory = engine_config
            .and_then(|e| e.memory.clone())
            .or(ctx.config.defaults.memory.clone());
    }
    instance_args.durable |= ctx.config.defaults.durable.unwrap_or(false);
    let opts = plugin_options(&instance_args, &req.version)?;
    let spec = req.plugin.container_spec(&opts)?;
    let image = match (&args.image, engine_config.and_then(|e| e.image.as_deref())) {
        (Some(image), _) => image.clone(),
        (None, Some(mirror)) => override_image(&spec.image, mirror),
        (None, None) => spec.image.clone(),
    };
    crate::plugin::validate::image_reference(&image).map_err(|e| anyhow::anyhow!("--image: {e}"))?;

    if ctx.backend.inspect_container(&req.name).await.is_ok() {
        bail!(
            "an instance or container named '{}' already exists; choose another --name",
            req.name
        );
    }
    ensure_image(&ctx.backend, &image, bar).await?;
    let mounts = mounts(ctx, req, &spec, opts.persistent, undo).await?;
    let publish_all = args.publish_all_interfaces || ctx.config.defaults.publish_all_interfaces.unwrap_or(false);
    let def = ContainerDef {
        name: req.name.clone(),
        image: image.clone(),
        env: spec.env.clone(),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        labels: instance_labels(req, &spec, &opts, args.port),
        ports: Vec::new(),
        mounts,
        memory_limit_bytes: spec.memory_limit_bytes,
        log_max_bytes: Some(crate::container::DEFAULT_LOG_MAX_BYTES),
    };
    bar.set_message("starting");
    let host_ip = if publish_all { "0.0.0.0" } else { "127.0.0.1" };
    let id = create_and_start(
        &ctx.backend,
        def,
        &spec.ports,
        host_ip,
        args.port.or(Some(req.plugin.info().default_port)),
        args.port.is_some(),
        undo,
    )
    .await?;
    let info = ctx.backend.inspect_container(&id).await?;
    let timeout = ctx.timeout_for(&req.engine, args.timeout, &spec);
    let waited = ctx
        .wait_ready(&info, req.plugin, &spec, timeout, None, &|what| {
            bar.set_message(format!("waiting for {what}"))
        })
        .await;
    if let Err(e) = waited {
        if args.keep_on_failure {
            undo.forget_container(&id);
            return Err(e.context(format!("kept container {} for debugging (--keep-on-failure)", req.name)));
        }
        undo.run(&ctx.backend).await;
        return Err(e);
    }
    undo.forget_container(&id);
    let volumes = undo.volumes.lock().unwrap().clone();
    undo.forget_volumes(&volumes);
    Ok(Instance::from_container(&info, Some(req.plugin), Status::Healthy))
}

fn instance_labels(
    req: &Request<'_>,
    spec: &ContainerSpec,
    opts: &crate::plugin::bindings::Options,
    requested_port: Option<u16>,
) -> BTreeMap<String, String> {
    let c = &spec.credentials;
    [
        (labels::MANAGED, "true".to_string()),
        (labels::NAME, req.name.clone()),
        (labels::ENGINE, req.engine.clone()),
        (labels::VERSION, req.version.clone()),
        (labels::PLUGIN_VERSION, req.plugin.info().plugin_version.clone()),
        (labels::PERSISTENT, opts.persistent.to_string()),
        (
            labels::MODE,
            if matches!(opts.mode, crate::plugin::bindings::Mode::Durable) {
                "durable"
            } else {
                "fast"
            }
            .into(),
        ),
        (labels::CREATED_AT, chrono::Utc::now().to_rfc3339()),
        (
            labels::REQUESTED_PORT,
            requested_port.map(|p| p.to_string()).unwrap_or_default(),
        ),
        (labels::CONTAINER_PORT, spec.ports[0].to_string()),
        (labels::USER, c.user.clone()),
        (labels::PASSWORD, c.password.clone()),
        (labels::DATABASE, c.database.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Pulls `image` when it is not present, showing bytes across layers.
async fn ensure_image<B: ContainerBackend>(backend: &B, image: &str, bar: &ProgressBar) -> anyhow::Result<()> {
    if backend.image_exists(image).await? {
        return Ok(());
    }
    bar.set_message(format!("pulling {image}"));
    let layers: Mutex<HashMap<String, (u64, u64)>> = Mutex::new(HashMap::new());
    let report = |p: PullProgress| {
        let mut layers = layers.lock().unwrap();
        if p.total_bytes > 0 {
            layers.insert(p.layer.clone(), (p.current_bytes, p.total_bytes));
        }
        let (done, total) = layers.values().fold((0, 0), |(d, t), (c, n)| (d + c, t + n));
        bar.set_message(format!(
            "pulling {image}: {} / {} in {} layers",
            output::bytes(done),
            output::bytes(total),
            layers.len()
        ));
    };
    backend.pull_image(image, &report).await.map_err(|e| match e {
        BackendError::ImageNotFound(_) => anyhow::anyhow!(
            "image {image} not found: check the name, your registry login, or set a mirror in the config file ([engines.<id>] image = ...)"
        ),
        e => anyhow::Error::new(e).context(format!("pulling {image}")),
    })
}

/// Named volumes for a persistent instance (reused when they already hold its data), the
/// plugin's tmpfs mounts otherwise.
async fn mounts<B: ContainerBackend>(
    ctx: &Context<B>,
    req: &Request<'_>,
    spec: &ContainerSpec,
    persistent: bool,
    undo: &Undo,
) -> anyhow::Result<Vec<Mount>> {
    if !persistent {
        return Ok(spec
            .tmpfs
            .iter()
            .map(|t| Mount::Tmpfs {
                target: t.path.clone(),
                size_bytes: t.size_bytes,
            })
            .collect());
    }
    let mut mounts = Vec::new();
    for (index, path) in spec.data_paths.iter().enumerate() {
        let name = instance::volume_name(&req.name, index);
        match ctx.backend.inspect_volume(&name).await? {
            Some(existing) if existing.labels.get(labels::MANAGED).map(String::as_str) == Some("true") => {
                if existing.labels.get(labels::ENGINE) != Some(&req.engine) {
                    bail!(
                        "volume {name} holds data of engine '{}', not {}",
                        existing.labels.get(labels::ENGINE).cloned().unwrap_or_default(),
                        req.engine
                    );
                }
                tracing::info!("reusing persistent volume {name}");
            }
            Some(_) => bail!("volume {name} exists but was not created by dbarena; refusing to use it"),
            None => {
                let volume_labels: BTreeMap<String, String> = [
                    (labels::MANAGED, "true".to_string()),
                    (labels::NAME, req.name.clone()),
                    (labels::ENGINE, req.engine.clone()),
                    (labels::VERSION, req.version.clone()),
                    (labels::DATA_PATH, path.clone()),
                    (labels::CREATED_AT, chrono::Utc::now().to_rfc3339()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                ctx.backend.create_volume(&name, &volume_labels).await?;
                undo.volume(&name);
            }
        }
        mounts.push(Mount::Volume {
            name,
            target: path.clone(),
        });
    }
    Ok(mounts)
}

/// Creates and starts the container, publishing the first port on `preferred` when free;
/// when it is taken (by anything: another dbarena, another program) and the user did not
/// insist on it, Docker picks a free port instead. Docker does the binding, so two
/// concurrent creates cannot race for the same port.
async fn create_and_start<B: ContainerBackend>(
    backend: &B,
    mut def: ContainerDef,
    ports: &[u16],
    host_ip: &str,
    preferred: Option<u16>,
    insist: bool,
    undo: &Undo,
) -> anyhow::Result<String> {
    let mut host_port = preferred;
    for _ in 0..5 {
        def.ports = ports
            .iter()
            .enumerate()
            .map(|(i, &p)| PortBinding {
                container_port: p,
                host_ip: host_ip.to_string(),
                host_port: if i == 0 { host_port } else { None },
            })
            .collect();
        let id = backend.create_container(&def).await.map_err(|e| match e {
            BackendError::NameInUse(n) => {
                anyhow::anyhow!("an instance or container named '{n}' already exists; choose another --name")
            }
            e => e.into(),
        })?;
        undo.container(&id);
        match backend.start_container(&id).await {
            Ok(()) => return Ok(id),
            Err(BackendError::PortInUse { .. }) => {
                backend.remove_container(&id).await?;
                undo.forget_container(&id);
                if insist {
                    bail!(
                        "port {} is already in use on {host_ip}; pick another --port or omit it",
                        host_port.unwrap_or_default()
                    );
                }
                tracing::info!("port {host_port:?} is taken; letting Docker choose one");
                host_port = None;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("starting container {}", def.name))),
        }
    }
    bail!("could not publish a port for {} after 5 attempts", def.name)
}

fn print_connection(i: &Instance) {
    println!("{} ({} {}) is ready", i.name, i.engine, i.version);
    if let Some(url) = &i.url {
        println!("  url       {url}");
    }
    println!("  host      {}", i.host);
    println!("  port      {}", i.port.map(|p| p.to_string()).unwrap_or_default());
    println!("  user      {}", i.user);
    println!("  password  {}", i.password);
    println!("  database  {}", i.database);
    if i.persistent {
        println!("  volumes   {}", i.volumes.join(", "));
    }
    println!();
}
