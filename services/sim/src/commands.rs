//! Commands a test or the CLI sends to a running device task.

use lwm2m_core::{LwM2mPath, Value};

/// What a device can be told to do.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceCommand {
    /// Send an Update now (wakes a sleeping queue-mode device).
    Update,
    /// Register again from scratch.
    Register,
    /// Send the buffered samples now (`POST /dp`, LwM2M 1.1).
    Send,
    /// NAT rebinding: close the socket, open one on a new port and send an
    /// Update from there.
    Rebind,
    /// De-register and stay unregistered until `Register`.
    Deregister,
    /// Set a resource (or resource instance) value as the device itself
    /// would, e.g. a new sensor reading; observers are notified per their
    /// attributes.
    SetValue { path: LwM2mPath, value: Value },
    /// Stop the device task, de-registering first if asked to.
    Shutdown { deregister: bool },
}
