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
                let local = registry.as_ref().map(|h: &lwm2m_registry::RegistryHandle| {
                    Arc::new(h.registry.clone()) as Arc<dyn lwm2m_registry::lookup::RegistryLookup>
                });
                let handle =
                    crate::components::start_transport(settings, local, shutdown.clone()).await?;
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
            other => tracing::info!(component = %other, "not part of this build yet; skipped"),
        }
    }
    tracing::info!(target = %target, "lwm2m is up");
    let mut shutdown = shutdown;
    shutdown.wait().await;
    tracing::info!("shutdown requested; stopping components");
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
    transport_result.and(registry_result)
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
