//! The dispatch engine: commands become stored operations; each device's
//! queue is delivered in creation order, one operation in flight, by
//! whichever replica claims it first, while the device is reachable.
//!
//! Delivery of a device is kicked by: a new operation, the device's
//! Register/Update (`wake`), and the sweeper's periodic re-check. A kick for
//! a device this replica is already delivering only marks it to look again,
//! so a device never has two local delivery loops; across replicas the
//! store's compare-and-set claim keeps each operation single.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::registry_cache::RegistryCache;
use lwm2m_core::ModelRegistry;
use lwm2m_proto::dispatch::v1::OperationEventKind;
use lwm2m_proto::transport::v1 as tpb;
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_session::{Registration, SessionStore};

use crate::clock::now_ms;
use crate::command::{Command, Target};
use crate::config::DispatchConfig;
use crate::error::{Error, Result};
use crate::events::OperationEvents;
use crate::lifecycle::Transition;
use crate::link::{DeviceLink, LinkError};
use crate::power::{reachable, Power};
use crate::render::{self, Outcome};
use crate::resolve::{self, Action, Context, DeviceView, KeyMap};
use crate::store::{Created, DeviceKey, NewOperation, OperationRecord, OperationStore};

/// How a caller wants a command run.
#[derive(Clone, Debug, Default)]
pub struct Submit {
    pub timeout_ms: u32,
    pub no_wait: bool,
    pub wait_ms: u32,
    /// A fixed id (post-registration actions: one per registration and
    /// action, so seeing the registration twice creates nothing twice).
    pub id: Option<String>,
    pub post_registration: bool,
}

pub struct Engine {
    pub(crate) config: DispatchConfig,
    pub(crate) store: Arc<dyn OperationStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    /// The registry's answers, cached (emptied on every registry change).
    pub(crate) registry: Option<Arc<RegistryCache>>,
    pub(crate) models: Arc<ModelRegistry>,
    pub(crate) link: Arc<dyn DeviceLink>,
    pub(crate) events: OperationEvents,
    /// Devices with a local delivery loop → "look again when done".
    delivering: Mutex<HashMap<DeviceKey, bool>>,
}

/// The registration of `endpoint` if it belongs to `tenant` (empty: any).
pub(crate) fn registration_of(reg: Option<Registration>, tenant: &str) -> Option<Registration> {
    reg.filter(|r| tenant.is_empty() || r.tenant.as_deref().unwrap_or_default() == tenant)
}

fn uses_keys(command: &Command) -> bool {
    let key = |t: &Target| matches!(t, Target::Key(_));
    match command {
        Command::Read { target, .. }
        | Command::Discover { target }
        | Command::Write { target, .. }
        | Command::WriteAttributes { target, .. }
        | Command::Execute { target, .. }
        | Command::Create { target, .. }
        | Command::Delete { target }
        | Command::Observe { target, .. }
        | Command::ObserveCancel { target } => key(target),
        Command::ReadComposite { targets, .. }
        | Command::ObserveComposite { targets, .. }
        | Command::ObserveCompositeCancel { targets } => targets.iter().any(key),
        Command::WriteComposite { nodes, .. } => nodes.iter().any(|(t, _)| key(t)),
        _ => false,
    }
}

/// The paths whose values an answer carries, for rendering.
fn requested_paths(op: &Op) -> Vec<String> {
    match op {
        Op::Read(r) => vec![r.path.clone()],
        Op::Observe(o) => vec![o.path.clone()],
        Op::ReadComposite(r) => r.paths.clone(),
        Op::ObserveComposite(o) => o.paths.clone(),
        _ => Vec::new(),
    }
}

impl Engine {
    pub fn new(
        config: DispatchConfig,
        store: Arc<dyn OperationStore>,
        sessions: Arc<dyn SessionStore>,
        registry: Option<Arc<RegistryCache>>,
        models: Arc<ModelRegistry>,
        link: Arc<dyn DeviceLink>,
        events: OperationEvents,
    ) -> Self {
        Engine {
            config,
            store,
            sessions,
            registry,
            models,
            link,
            events,
            delivering: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Arc<dyn OperationStore> {
        &self.store
    }

    pub fn events(&self) -> &OperationEvents {
        &self.events
    }

    /// The device's current registration, if it belongs to `tenant`.
    pub async fn registration(&self, tenant: &str, endpoint: &str) -> Result<Option<Registration>> {
        Ok(registration_of(
            self.sessions.get_by_endpoint(endpoint).await?,
            tenant,
        ))
    }

    /// The device's tenant and profile keys from the registry, if any.
    async fn registry_record(
        &self,
        endpoint: &str,
    ) -> Result<Option<lwm2m_registry::EndpointRecord>> {
        match &self.registry {
            None => Ok(None),
            Some(registry) => Ok(registry.lookup_endpoint(endpoint).await?),
        }
    }

    async fn keys(
        &self,
        record: Option<&lwm2m_registry::EndpointRecord>,
        endpoint: &str,
    ) -> Result<KeyMap> {
        let no_profile = || {
            Error::UnknownKey(format!(
                "device {endpoint:?} has no profile, so it has no keys; use \"id\" paths"
            ))
        };
        let (Some(registry), Some(record)) = (&self.registry, record) else {
            return Err(no_profile());
        };
        let profile_id = record.device.profile_id.as_ref().ok_or_else(no_profile)?;
        let profile = registry.profile(profile_id).await?.ok_or_else(no_profile)?;
        Ok(KeyMap::from_profile(&profile))
    }

    /// The radio power saving of the device's profile; none without a
    /// registry, a record or a profile (a lookup failure is logged and
    /// treated as none: delivery is not held up by the registry).
    async fn power(&self, endpoint: &str) -> Power {
        let Some(registry) = &self.registry else {
            return Power::default();
        };
        let profile = async {
            let record = registry.lookup_endpoint(endpoint).await?;
            match record.and_then(|r| r.device.profile_id) {
                Some(id) => registry.profile(&id).await,
                None => Ok::<_, Error>(None),
            }
        };
        match profile.await {
            Ok(Some(profile)) => Power::of(&profile.config.power),
            Ok(None) => Power::default(),
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "profile lookup failed; no power saving assumed");
                Power::default()
            }
        }
    }

    /// Resolves and stores `command` for the device and starts delivering;
    /// waits for the outcome unless told not to. Local methods
    /// (DiscoverAll, ObserveReadAll) are not operations: see `grpc`.
    pub async fn submit(
        self: &Arc<Self>,
        tenant: &str,
        endpoint: &str,
        command: &Command,
        options: Submit,
    ) -> Result<OperationRecord> {
        if endpoint.trim().is_empty() {
            return Err(Error::InvalidArgument("endpoint is empty".into()));
        }
        // Stored with the operation, so delivery, waiting and the stuck
        // sweeper all allow for the device's paging delay.
        let timeout = self
            .power(endpoint)
            .await
            .device_timeout(self.config.timeout(options.timeout_ms)?);
        let reg = self.registration(tenant, endpoint).await?;
        let record = self.registry_record(endpoint).await?;
        // Operations are stored under the device's real tenant, so the
        // wake-up events (which carry it) find them.
        let tenant = match (&reg, &record) {
            (Some(r), _) => r.tenant.clone().unwrap_or_default(),
            (None, Some(r)) if tenant.is_empty() || tenant == r.tenant.id.as_str() => {
                r.tenant.id.as_str().to_owned()
            }
            _ => return Err(Error::UnknownDevice(endpoint.to_owned())),
        };
        let device_view = reg.as_ref().map(DeviceView::of).unwrap_or_default();
        let keys = if uses_keys(command) {
            self.keys(record.as_ref(), endpoint).await?
        } else {
            KeyMap::default()
        };
        let tenant_models = match (&self.registry, &record) {
            (Some(registry), Some(r)) => Some(registry.models(&r.tenant.id).await?),
            _ => None,
        };
        // Resolution is pure; its borrows end before the next await.
        let action = {
            let versions = device_view.versions();
            let models = tenant_models.as_deref().unwrap_or(self.models.as_ref());
            let view = models.for_device(&versions);
            let cx = Context {
                device: &device_view,
                keys: &keys,
                models: &view,
            };
            resolve::resolve(command, &cx)?
        }
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} is answered without an operation",
                command.method().name()
            ))
        })?;
        let now = now_ms();
        let expiry = i64::try_from(self.config.pending_expiry.as_millis()).unwrap_or(i64::MAX);
        let new = NewOperation {
            id: options
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            device: DeviceKey::new(tenant, endpoint),
            method: command.method().name().to_owned(),
            params_json: command.params_json().to_string(),
            action_json: action.to_json(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            post_registration: options.post_registration,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(expiry),
        };
        // Registered before the operation exists so its end is not missed.
        let end = self.events.watch_end(&new.id);
        let record = match self
            .store
            .create(new, self.config.max_pending_per_device)
            .await?
        {
            Created::New(record) => {
                self.events.publish(OperationEventKind::Created, &record);
                record
            }
            Created::Existing(record) => return Ok(record),
        };
        self.kick(record.device.clone());
        if options.no_wait {
            return Ok(record);
        }
        let wait = match options.wait_ms {
            0 => timeout + Duration::from_secs(2),
            ms => Duration::from_millis(u64::from(ms)),
        };
        self.wait(&record.id, wait, &end).await
    }

    /// Waits until the operation ends or `wait` passes; returns it as it is
    /// then. Its end event (from this replica, or relayed from another one
    /// through Kafka) wakes the wait at once; without one (a replica
    /// without Kafka next to another) the store is polled twice a second.
    pub async fn wait(
        &self,
        id: &str,
        wait: Duration,
        end: &crate::events::EndWatch,
    ) -> Result<OperationRecord> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Armed before the store is read, so an end between the read
            // and the wait is not lost.
            let notified = end.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let record = self
                .store
                .get(id)
                .await?
                .ok_or_else(|| Error::OperationNotFound(id.to_owned()))?;
            if record.state.is_terminal() || tokio::time::Instant::now() >= deadline {
                return Ok(record);
            }
            let poll = tokio::time::Instant::now() + Duration::from_millis(500);
            let _ = tokio::time::timeout_at(poll.min(deadline), notified).await;
        }
    }

    /// Makes sure the device's queue is looked at by this replica.
    pub fn kick(self: &Arc<Self>, device: DeviceKey) {
        {
            let Ok(mut delivering) = self.delivering.lock() else {
                return;
            };
            if let Some(again) = delivering.get_mut(&device) {
                *again = true;
                return;
            }
            delivering.insert(device.clone(), false);
        }
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.deliver(&device).await {
                    tracing::warn!(%device, error = %e, "delivery stopped");
                }
                let Ok(mut delivering) = engine.delivering.lock() else {
                    return;
                };
                match delivering.get_mut(&device) {
                    Some(again) if *again => *again = false,
                    _ => {
                        delivering.remove(&device);
                        return;
                    }
                }
            }
        });
    }

    /// Delivers the device's PENDING operations one by one while it is
    /// reachable and answers.
    async fn deliver(self: &Arc<Self>, device: &DeviceKey) -> Result<()> {
        loop {
            let Some(reg) = self.registration(&device.tenant, &device.endpoint).await? else {
                return Ok(());
            };
            let power = self.power(&device.endpoint).await;
            if !reachable(&reg, power, now_ms(), self.config.default_awake_time) {
                return Ok(());
            }
            // An operation that went unanswered waits for the device to be
            // heard from again (Register, Update, any uplink) instead of
            // being retried into silence.
            match self.store.next_pending(device).await? {
                None => return Ok(()),
                Some(next)
                    if next.attempts > 0
                        && reg.last_seen_ms.max(reg.last_update_ms) <= next.updated_at_ms =>
                {
                    return Ok(());
                }
                Some(_) => {}
            }
            let Some(op) = self
                .store
                .claim_next(device, &self.config.replica_id, now_ms())
                .await?
            else {
                return Ok(());
            };
            self.events.publish(OperationEventKind::Executing, &op);
            let (transition, outcome) = self.execute(&op, &reg).await;
            let finished = self
                .store
                .finish(
                    &op.id,
                    &self.config.replica_id,
                    transition,
                    outcome.as_ref(),
                    now_ms(),
                )
                .await?;
            if let Some(record) = finished {
                self.events.publish(transition.event(), &record);
            }
            if transition == Transition::Requeue {
                // The device stopped answering: wait for its next wake-up.
                return Ok(());
            }
        }
    }

    /// Sends one claimed operation; what became of it.
    async fn execute(
        &self,
        op: &OperationRecord,
        reg: &Registration,
    ) -> (Transition, Option<Outcome>) {
        let action = match Action::from_json(&op.action_json) {
            Ok(action) => action,
            Err(e) => {
                return (
                    Transition::Fail,
                    Some(Outcome::failure("INTERNAL_SERVER_ERROR", e.to_string())),
                )
            }
        };
        let timeout = Duration::from_millis(u64::from(op.timeout_ms));
        match action {
            Action::Downlink(operation) => {
                let requested = requested_paths(&operation);
                let method = crate::command::Method::parse(&op.method)
                    .unwrap_or(crate::command::Method::Coap);
                match self.send(op, reg, operation, timeout).await {
                    Ok(response) => {
                        let outcome = render::outcome(method, &requested, &response);
                        let t = if outcome.is_success() {
                            Transition::Succeed
                        } else {
                            Transition::Fail
                        };
                        (t, Some(outcome))
                    }
                    Err(failure) => failure,
                }
            }
            Action::CancelAllObservations => self.cancel_all(op, reg, timeout).await,
        }
    }

    async fn send(
        &self,
        op: &OperationRecord,
        reg: &Registration,
        operation: Op,
        timeout: Duration,
    ) -> Result<tpb::DownlinkResponse, (Transition, Option<Outcome>)> {
        let request = tpb::DownlinkRequest {
            endpoint: op.device.endpoint.clone(),
            tenant: op.device.tenant.clone(),
            timeout_ms: op.timeout_ms,
            operation: Some(operation),
        };
        match self.link.downlink(&reg.node_id, request, timeout).await {
            Ok(response) => Ok(response),
            Err(LinkError::Unreachable(why)) => {
                tracing::info!(id = %op.id, device = %op.device, %why, "no answer; pending until the device wakes up");
                Err((Transition::Requeue, None))
            }
            Err(LinkError::Rejected { code_name, message }) => {
                // NOT_FOUND also means "not registered (any more)": requeue then.
                let gone = code_name == "NOT_FOUND"
                    && matches!(
                        self.registration(&op.device.tenant, &op.device.endpoint)
                            .await,
                        Ok(None)
                    );
                if gone {
                    Err((Transition::Requeue, None))
                } else {
                    Err((
                        Transition::Fail,
                        Some(Outcome::failure(&code_name, message)),
                    ))
                }
            }
        }
    }

    /// ObserveCancelAll: cancels every observation the session knows.
    async fn cancel_all(
        &self,
        op: &OperationRecord,
        reg: &Registration,
        timeout: Duration,
    ) -> (Transition, Option<Outcome>) {
        let observations = match self.sessions.observations(&reg.endpoint).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "session store unavailable");
                return (Transition::Requeue, None);
            }
        };
        let mut cancelled = 0u32;
        // One cancel per path: the transport ends every observation of it.
        let mut seen = std::collections::HashSet::new();
        for observation in observations {
            if !seen.insert((observation.composite, observation.paths.clone())) {
                continue;
            }
            let operation = if observation.composite {
                Op::CancelObserveComposite(tpb::CancelObserveCompositeOperation {
                    paths: observation.paths.clone(),
                })
            } else {
                match observation.paths.first() {
                    Some(path) => {
                        Op::CancelObserve(tpb::CancelObserveOperation { path: path.clone() })
                    }
                    None => continue,
                }
            };
            match self.send(op, reg, operation, timeout).await {
                Ok(_) => cancelled += 1,
                Err((Transition::Requeue, _)) if cancelled == 0 => {
                    return (Transition::Requeue, None)
                }
                // Already forgotten elsewhere, or the device stopped answering
                // midway: the session has dropped those observations anyway.
                Err(_) => {}
            }
        }
        (
            Transition::Succeed,
            Some(Outcome {
                code: "2.05".into(),
                code_name: "CONTENT".into(),
                value: Some(serde_json::json!(cancelled)),
                ..Default::default()
            }),
        )
    }

    /// Runs the tenant's post-registration actions for a new registration.
    pub async fn post_registration(
        self: &Arc<Self>,
        tenant: &str,
        endpoint: &str,
        registration_id: &str,
    ) {
        let actions = match self.store.actions(tenant).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "post-registration actions unavailable");
                return;
            }
        };
        for (i, action) in actions.iter().enumerate() {
            let command = match crate::thingsboard::parse_text(&action.method, &action.params_json)
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "bad post-registration action");
                    continue;
                }
            };
            let options = Submit {
                no_wait: true,
                id: Some(format!("{registration_id}-post-{i}")),
                post_registration: true,
                ..Default::default()
            };
            if let Err(e) = self.submit(tenant, endpoint, &command, options).await {
                tracing::warn!(%endpoint, action = i, error = %e, "post-registration action not queued");
            }
        }
    }

    /// One sweep: expired and stuck operations fail; registered devices
    /// with PENDING operations are looked at again.
    pub async fn sweep(self: &Arc<Self>) -> Result<()> {
        let now = now_ms();
        for record in self.store.expire(now, 1000).await? {
            self.events.publish(OperationEventKind::Failed, &record);
        }
        let grace = i64::try_from(self.config.stuck_grace.as_millis()).unwrap_or(i64::MAX);
        for record in self.store.unstick(now, grace, 1000).await? {
            self.events.publish(OperationEventKind::Failed, &record);
        }
        for device in self.store.devices_with_pending(1000).await? {
            self.kick(device);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_noticed_anywhere_in_a_command() {
        let read =
            crate::thingsboard::parse_request(r#"{"method":"Read","params":{"key":"k"}}"#).unwrap();
        assert!(uses_keys(&read));
        let wc = crate::thingsboard::parse_request(
            r#"{"method":"WriteComposite","params":{"nodes":{"/3/0/14":"+1","UtfOffset":"+04"}}}"#,
        )
        .unwrap();
        assert!(uses_keys(&wc));
        let ids = crate::thingsboard::parse_request(
            r#"{"method":"ReadComposite","params":{"ids":["/3/0/9"]}}"#,
        )
        .unwrap();
        assert!(!uses_keys(&ids));
    }
}
