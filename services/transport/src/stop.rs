//! The node-wide stop signal: a `watch` channel that turns true once.

use tokio::sync::watch;

/// Resolves once the stop flag is (or becomes) true, or its sender is gone.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard returned by `wait_for` is not `Send`; drop it here.
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_when_set_before_or_after_waiting() {
        let (tx, mut rx) = watch::channel(false);
        tx.send(true).unwrap();
        stopped(&mut rx).await;
        let (tx, mut rx) = watch::channel(false);
        let waiter = tokio::spawn(async move { stopped(&mut rx).await });
        tx.send(true).unwrap();
        waiter.await.unwrap();
    }
}
