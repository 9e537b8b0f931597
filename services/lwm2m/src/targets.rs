//! Which components a process runs (`--target`).

use std::fmt;

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
    pub const COMPONENTS: [Target; 5] = [
        Target::Transport,
        Target::Registry,
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
/// The components' service crates plug in here as they land; until then a
/// component only reports that it is up, so deployment, configuration and
/// signal handling can be exercised end to end.
pub async fn run(
    target: Target,
    settings: &Settings,
    mut shutdown: Shutdown,
) -> Result<(), crate::Error> {
    let components = target.components();
    let names: Vec<&str> = components.iter().map(|c| c.name()).collect();
    tracing::info!(
        target = %target,
        components = ?names,
        coap = %settings.transport.coap_bind,
        grpc = %settings.grpc.bind,
        sessions = %settings.storage.sessions,
        bus = %settings.storage.bus,
        "lwm2m is up"
    );
    shutdown.wait().await;
    tracing::info!("shutdown requested; stopping components");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_runs_every_component() {
        assert_eq!(Target::All.components().len(), 5);
        assert_eq!(Target::Dispatch.components(), vec![Target::Dispatch]);
    }
}
