//! Broadcast shutdown, after mini-redis: every service holds a [`Shutdown`]
//! and finishes its in-flight work when it fires.

use tokio::sync::watch;

/// The receiving side of the shutdown signal. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side; dropping it also signals shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has been requested (or the trigger dropped).
    pub async fn wait(&mut self) {
        // An error means the trigger is gone, which also means "stop".
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what Kubernetes sends).
pub async fn os_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|_| "SIGINT"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|_| "Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let (trigger, shutdown) = Shutdown::new();
        let mut a = shutdown.clone();
        let mut b = shutdown;
        assert!(!a.is_triggered());
        trigger.trigger();
        a.wait().await;
        b.wait().await;
        assert!(b.is_triggered());
    }

    #[tokio::test]
    async fn dropping_the_trigger_stops_waiters() {
        let (trigger, mut shutdown) = Shutdown::new();
        drop(trigger);
        shutdown.wait().await;
    }
}
