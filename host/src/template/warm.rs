//! Warm starts in `create`: start from the template of the instance's key when there is
//! one, else start cold and make the template alongside, for the next create.

use super::{Source, data_plan, find, make, template_credentials_choices, template_key};
use crate::cancel::Cancel;
use crate::container::ContainerBackend;
use crate::output::{escape, warn};
use crate::provision::{self, Choices, Journal, Provisioned, pull};
use crate::resolve::{Request, ResolvedInstance, Resolver};

/// How a create may use templates.
#[derive(Debug, Clone)]
pub struct WarmChoice {
    /// `--from`: the data of this snapshot, not a template.
    pub from: Option<Source>,
    /// `--cold`: neither use nor make a template.
    pub cold: bool,
    /// The instance reattaches persistent data: that data is served as is.
    pub adopting: bool,
}

/// Provisions `r` from its template when one exists (falling back to a cold start when
/// starting from it fails, and discarding the template only when the cold start works);
/// otherwise cold, making the template at the same time.
#[allow(clippy::too_many_arguments)]
pub async fn provision<B: ContainerBackend>(
    backend: &B,
    resolver: &Resolver<'_>,
    request: &Request,
    r: &ResolvedInstance<'_>,
    warm: &WarmChoice,
    choices: Choices<'_>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Provisioned> {
    let cold = || provision::provision(backend, r, choices, journal, cancel, progress);
    if let Some(from) = &warm.from {
        return provision::provision_from(
            backend,
            r,
            Some(from),
            Some(&from.image),
            choices,
            journal,
            cancel,
            progress,
        )
        .await;
    }
    // Templates are verified on a local engine only: on a remote one a cold create
    // that made a template beside it lost its published port (see the README).
    if warm.cold || warm.adopting || !backend.client_address().is_loopback() {
        return cold().await;
    }
    let plan = match data_plan(r) {
        Ok(Some(plan)) => plan,
        Ok(None) => return cold().await,
        Err(e) => {
            warn(format_args!("{}: no warm start: {e:#}", r.record.name));
            return cold().await;
        }
    };
    pull::ensure_image(backend, &r.record.image, progress).await?;
    let Some(key) = template_key(backend, r, &plan).await? else {
        return cold().await;
    };
    if let Some(source) = find(backend, &key).await? {
        progress("starting from template".into());
        match provision::provision_from(
            backend,
            r,
            Some(&source),
            Some(&source.image),
            choices,
            journal,
            cancel,
            progress,
        )
        .await
        {
            Ok(done) => return Ok(done),
            Err(e) if cancel.is_cancelled() || not_the_templates(&e) => return Err(e),
            Err(e) => {
                warn(format_args!(
                    "{}: starting from template {} failed; starting cold: {}",
                    r.record.name,
                    short(&source.image),
                    escape(&format!("{e:#}"))
                ));
                // Only a cold start that works where the template failed proves the
                // template wrong: a user's mistake or a busy machine never discards it.
                let done = cold().await;
                if done.is_ok() {
                    warn(format_args!(
                        "{}: the cold start worked; discarding template {}",
                        r.record.name,
                        short(&source.image)
                    ));
                    discard(backend, &source).await;
                }
                return done;
            }
        }
    }
    let Some(twin) = twin(resolver, request, r) else {
        return cold().await;
    };
    // The template is given up (and undone) as soon as the instance itself fails or the
    // command is interrupted: a failed create must not wait for it.
    let making = Cancel::default();
    let (done, made) = tokio::join!(
        async {
            let done = cold().await;
            if done.is_err() {
                making.cancel();
            }
            done
        },
        async {
            tokio::select! {
                made = make(backend, &twin, &key, &plan, &making) => made,
                () = async {
                    cancel.cancelled().await;
                    making.cancel();
                    std::future::pending::<()>().await
                } => unreachable!("pending"),
            }
        }
    );
    if let Err(e) = made
        && !making.is_cancelled()
    {
        warn(format_args!(
            "{}: could not make a warm-start template (creates stay cold): {}",
            r.record.name,
            escape(&format!("{e:#}"))
        ));
    }
    done
}

/// Failures a cold start would meet alike (a taken port or name, an engine that is gone,
/// an interrupt): returned as they are, without a second try from scratch.
fn not_the_templates(e: &anyhow::Error) -> bool {
    use crate::container::BackendError as B;
    e.chain().any(|c| {
        c.is::<provision::ports::PortTaken>()
            || c.is::<provision::NameTaken>()
            || c.is::<crate::cancel::Cancelled>()
            || matches!(
                c.downcast_ref::<B>(),
                Some(B::PortInUse { .. } | B::NameInUse(_) | B::Unavailable(_) | B::PermissionDenied(_))
            )
    })
}

/// Removes a template that did not work (one in use by a container stays until pruned).
async fn discard<B: ContainerBackend>(backend: &B, source: &Source) {
    if let Err(e) = backend.remove_image(&source.image).await {
        tracing::info!("template {} not removed: {e}", source.image);
    }
}

/// `r` as the template is made: the same request with template credentials (a password no
/// instance uses).
fn twin<'a>(resolver: &Resolver<'a>, request: &Request, r: &ResolvedInstance<'a>) -> Option<ResolvedInstance<'a>> {
    let token: u32 = rand::random();
    let name = format!("dbarena-template-{token:08x}");
    for (user, database) in template_credentials_choices() {
        let mut req = request.clone();
        req.instance.user = user;
        req.instance.database = database;
        req.instance.password = None;
        req.port = None;
        req.publish_all_interfaces = false;
        if let Ok(mut twin) = resolver.instance(&req, &name, None) {
            twin.record.image = r.record.image.clone();
            twin.spec.image = r.record.image.clone();
            return Some(twin);
        }
    }
    None
}

/// An image or container id's short form, as `docker images` and `docker ps` show it.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
