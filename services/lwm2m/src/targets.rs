//! Which components a process runs (`--target`).

use std::fmt;
use std::sync::Arc;

use crate::{Settings, Shutdown};

/// A component of the cluster, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Target {
    /// Every component in one process: standalone mode.
    All,
    /// The UDP edge node: CoAP and CoAP over DTLS towards devices.
    Transport,
    /// Tenants, object models, profiles, devices and credentials.
    Registry,
    /// The RPC/operation queue in front of the transport.
    Dispatch,
    /// Firmware and software update campaigns.
    Ota,
    /// The LwM2M bootstrap server.
    Bootstrap,
}

impl Target {
    /// In start order: the registry first, so the transport can use it.
    pub const COMPONENTS: [Target; 5] = [
        Target::Registry,
        Target::Transport,
        Target::Dispatch,
        Target::Ota,
        Target::Bootstrap,
    ];

    /// The components this target runs.
    pub fn components(self) -> Vec<Target> {
        match self {
            Target::All => Self::COMPONENTS.to_vec(),
            one => vec![one],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Transport => "transport",
            Target::Registry => "registry",
            Target::Dispatch => "dispatch",
            Target::Ota => "ota",
            Target::Bootstrap => "bootstrap",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs the components of `target` until `shutdown` fires.
///
/// Components whose service has not landed yet only report that they are
/// not available in this build; the others run with the backends the
/// settings name.
pub async fn run(
    target: Target,
    settings: &Settings,
    shutdown: Shutdown,
) -> Result<(), crate::Error> {
    let mut transport = None;
    let mut registry = None;
    let mut dispatch = None;
    // One session store and bus per process: dispatch in the same process
    // must see the transport's sessions and registration events.
    let backends = if target.components().contains(&Target::Transport) {
        Some(crate::components::Backends::new(settings).await?)
    } else {
        None
    };
    let local_registry = |registry: &Option<lwm2m_registry::RegistryHandle>| {
        registry.as_ref().map(|h: &lwm2m_registry::RegistryHandle| {
            Arc::new(h.registry.clone()) as Arc<dyn lwm2m_registry::lookup::RegistryLookup>
        })
    };
    for component in target.components() {
        match component {
            Target::Registry => {
                let handle = crate::components::start_registry(settings, shutdown.clone()).await?;
                tracing::info!(
                    grpc = %handle.grpc_addr,
                    database = %redact(&settings.registry.database_url),
                    "registry is up"
                );
                registry = Some(handle);
            }
            Target::Transport => {
                let local = local_registry(&registry);
                let handle = match &backends {
                    Some(backends) => {
                        crate::components::start_transport_on(
                            settings,
                            local,
                            backends,
                            shutdown.clone(),
                        )
                        .await?
                    }
                    None => {
                        crate::components::start_transport(settings, local, shutdown.clone())
                            .await?
                    }
                };
                tracing::info!(
                    coap = %handle.coap_addr,
                    grpc = %handle.grpc_addr,
                    node = %handle.node_id,
                    sessions = %redact(&settings.storage.sessions),
                    bus = %settings.storage.bus,
                    "transport is up"
                );
                transport = Some(handle);
            }
            Target::Dispatch => {
                // Standalone shares the transport's backends; a
                // dispatch-only process opens its own (Redis, Kafka).
                let shared = backends.as_ref().filter(|_| transport.is_some());
                let handle =
                    crate::components::start_dispatch(settings, shared, local_registry(&registry))
                        .await?;
                tracing::info!(
                    grpc = %handle.grpc_addr,
                    database = %redact(&handle.engine_database_url()),
                    "dispatch is up"
                );
                dispatch = Some(handle);
            }
            other => tracing::info!(component = %other, "not part of this build yet; skipped"),
        }
    }
    tracing::info!(target = %target, "lwm2m is up");
    let mut shutdown = shutdown;
    shutdown.wait().await;
    tracing::info!("shutdown requested; stopping components");
    // Dispatch stops first: it sends through the transport.
    let dispatch_result = match dispatch {
        Some(handle) => handle
            .shutdown()
            .await
            .map_err(|e| crate::Error::Component {
                component: "dispatch",
                reason: e.to_string(),
            }),
        None => Ok(()),
    };
    let transport_result = match transport {
        Some(handle) => handle
            .shutdown()
            .await
            .map_err(|e| crate::Error::Component {
                component: "transport",
                reason: e.to_string(),
            }),
        None => Ok(()),
    };
    // The registry stops after the transport, which may still ask it.
    let registry_result = match registry {
        Some(handle) => handle
            .shutdown()
            .await
            .map_err(|e| crate::Error::Component {
                component: "registry",
                reason: e.to_string(),
            }),
        None => Ok(()),
    };
    dispatch_result.and(transport_result).and(registry_result)
}

/// A URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("redis://:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(redact("memory"), "memory");
    }

    #[test]
    fn all_runs_every_component() {
        assert_eq!(Target::All.components().len(), 5);
        assert_eq!(Target::Dispatch.components(), vec![Target::Dispatch]);
    }
}
