//! State shared by the tasks of one transport node: configuration,
//! dependencies, the handle to the UDP task and the node-local caches.
//! Everything durable lives in the session store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_bus::{Reservation, UplinkBus};
use lwm2m_core::{ModelRegistry, Version};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::UplinkEvent;
use lwm2m_registry::lookup::RegistryLookup;
use lwm2m_session::{ClusterStore, Registration, SessionStore};
use tokio::sync::{watch, Semaphore};

use crate::address_index::AddressIndex;
use crate::clock::now_ms;
use crate::cluster::parking::Parking;
use crate::config::TransportConfig;
use crate::driver::{self, DriverHandle};
use crate::error::Error;
use crate::events::{self, Device};
use crate::forward::Forwarder;
use crate::peer::Peer;
use crate::provisioning::Directory;
use crate::queue_mode::QueueMode;
use crate::secure::moves::PendingMoves;
use crate::stats::Counters;

/// How stale `last_seen_ms` may get before an uplink refreshes it anyway
/// (address and node changes are written at once).
const TOUCH_REFRESH_MS: i64 = 10_000;

/// What a node needs from the rest of the system.
#[derive(Clone)]
pub struct TransportDeps {
    /// Registrations and observations, shared by all nodes.
    pub sessions: Arc<dyn SessionStore>,
    /// Where uplink events go.
    pub bus: Arc<dyn UplinkBus>,
    /// Object models for decoding payloads.
    pub models: Arc<ModelRegistry>,
    /// Devices, credentials and profiles. `None`: every endpoint may
    /// register and no profile runs (plain tests, benchmarks).
    pub registry: Option<Arc<dyn RegistryLookup>>,
    /// Node-id leases and parked DTLS sessions (the same Redis as the
    /// sessions in a cluster, in memory standalone). `None`: the configured
    /// node id is used unchecked and sessions are not parked.
    pub cluster: Option<Arc<dyn ClusterStore>>,
}

impl std::fmt::Debug for TransportDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportDeps")
            .field("models", &self.models.len())
            .finish_non_exhaustive()
    }
}

/// One transport node's shared state.
pub(crate) struct Node {
    pub config: TransportConfig,
    pub node_id: String,
    pub sessions: Arc<dyn SessionStore>,
    pub bus: Arc<dyn UplinkBus>,
    pub models: Arc<ModelRegistry>,
    /// Cached registry lookups (admission, profiles, key names).
    pub directory: Option<Arc<Directory>>,
    /// The plain CoAP driver.
    pub driver: DriverHandle,
    /// The DTLS driver, when DTLS is on.
    pub secure: Option<DriverHandle>,
    pub counters: Counters,
    pub addresses: AddressIndex,
    /// DTLS peers that moved before the store was told (see `secure::moves`).
    pub moves: PendingMoves,
    pub queue: QueueMode,
    pub forwarder: Forwarder,
    /// Inbound requests in progress (beyond the limit: 5.03).
    pub permits: Arc<Semaphore>,
    /// Turns true when the node stops (ends long-lived gRPC streams).
    pub stop: watch::Receiver<bool>,
    /// Where DTLS sessions are parked at stop (with a cluster store).
    pub parking: Option<Parking>,
    /// Rate limit of the INFO lines on failed handshakes and refused
    /// Registers (one per source IP per interval).
    pub refusal_log: crate::log_limit::LogLimiter,
}

impl Node {
    pub fn new(
        config: TransportConfig,
        node_id: String,
        deps: TransportDeps,
        driver: DriverHandle,
        secure: Option<DriverHandle>,
        stop: watch::Receiver<bool>,
        parking: Option<Parking>,
    ) -> Self {
        Node {
            stop,
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            queue: QueueMode::new(config.max_held_per_device),
            node_id,
            sessions: deps.sessions,
            bus: deps.bus,
            models: deps.models,
            directory: deps.registry.map(Directory::start),
            driver,
            secure,
            counters: Counters::default(),
            addresses: AddressIndex::default(),
            moves: PendingMoves::default(),
            forwarder: Forwarder::default(),
            parking,
            refusal_log: crate::log_limit::LogLimiter::default(),
            config,
        }
    }

    /// An event about `device` from this node.
    /// Values get the key names of the device's profile, when this node
    /// applied one (`/3/0/9` → `batteryLevel`).
    pub fn event(&self, device: &Device, mut payload: Payload) -> UplinkEvent {
        if let (Payload::Values(values), Some(directory)) = (&mut payload, &self.directory) {
            if let Some(keys) = directory.keys(&device.endpoint) {
                for value in &mut values.values {
                    if value.key.is_none() {
                        value.key = keys.key_for(&value.path).map(str::to_owned);
                    }
                }
            }
        }
        events::envelope(&self.node_id, device, payload)
    }

    /// Publishes into slots reserved before the device was answered.
    pub async fn publish_reserved(&self, reservation: &mut Reservation, events: Vec<UplinkEvent>) {
        for event in events {
            match self.bus.publish_reserved(reservation, event).await {
                Ok(()) => Counters::inc(&self.counters.events_published),
                Err(e) => {
                    Counters::inc(&self.counters.publish_failures);
                    tracing::warn!(error = %e, "cannot publish uplink event");
                }
            }
        }
    }

    /// Publishes into reserved slots and waits until the bus delivered
    /// every event (up to `delivery_timeout`); `false` if one was not
    /// delivered, so the device is not told its uplink is done.
    pub async fn publish_delivered(
        &self,
        reservation: &mut Reservation,
        events: Vec<UplinkEvent>,
    ) -> bool {
        // Each publish buffers its event on its first poll, which join_all
        // does in order: per-device order holds; the waits overlap.
        let bus = &self.bus;
        let mut reservations = Vec::with_capacity(events.len());
        for _ in &events {
            match reservation.split_one() {
                Some(one) => reservations.push(one),
                None => return false,
            }
        }
        let publishes = events
            .into_iter()
            .zip(reservations.iter_mut())
            .map(|(event, one)| bus.publish_delivered(one, event));
        let outcome = tokio::time::timeout(
            self.config.delivery_timeout,
            futures::future::join_all(publishes),
        )
        .await;
        let Ok(results) = outcome else {
            Counters::inc(&self.counters.publish_failures);
            tracing::warn!("uplink events not delivered in time; the device is answered 5.03");
            return false;
        };
        let mut delivered = true;
        for result in results {
            match result {
                Ok(()) => Counters::inc(&self.counters.events_published),
                Err(e) => {
                    delivered = false;
                    Counters::inc(&self.counters.publish_failures);
                    tracing::warn!(error = %e, "uplink event not delivered");
                }
            }
        }
        delivered
    }

    /// Publishes events nothing was acknowledged for (downlink results, expiry).
    pub async fn publish(&self, events: Vec<UplinkEvent>) {
        for event in events {
            match self.bus.publish(event).await {
                Ok(()) => Counters::inc(&self.counters.events_published),
                Err(e) => {
                    Counters::inc(&self.counters.publish_failures);
                    tracing::warn!(error = %e, "cannot publish uplink event");
                }
            }
        }
    }

    /// Counts and logs a session store failure, passing it on.
    pub fn store_error(&self, e: lwm2m_session::SessionError) -> Error {
        Counters::inc(&self.counters.store_errors);
        tracing::warn!(error = %e, "session store error");
        Error::Session(e)
    }

    /// Object versions of a registration, for `ModelRegistry::for_device`.
    pub fn versions(reg: &Registration) -> HashMap<u16, Version> {
        reg.objects
            .iter()
            .map(|(id, entry)| (*id, entry.version))
            .collect()
    }

    /// The driver that reaches `peer` (the plain one when DTLS is off here:
    /// its sends then fail, see [`Node::reachable`]).
    pub fn driver_of(&self, peer: Peer) -> &DriverHandle {
        match &self.secure {
            Some(secure) if peer.secure => secure,
            _ => &self.driver,
        }
    }

    /// Fails when `peer` needs a driver this node does not run.
    pub fn reachable(&self, peer: Peer) -> Result<(), Error> {
        if peer.secure && self.secure.is_none() {
            return Err(Error::NoSecureSession(peer.to_string()));
        }
        Ok(())
    }

    /// Forgets a local observation in whichever driver holds it.
    pub async fn forget_token(&self, token: lwm2m_coap::Token) {
        self.driver.forget(token).await;
        if let Some(secure) = &self.secure {
            secure.forget(token).await;
        }
    }

    /// Ends a local observation the session store no longer has (cancelled
    /// on another node, or its registration is gone): forgets it and sends
    /// the device the proactive cancel, so a notification already
    /// acknowledged is the last one (later ones would get RST anyway).
    pub async fn end_observation(&self, token: lwm2m_coap::Token) {
        self.driver.end(token).await;
        if let Some(secure) = &self.secure {
            secure.end(token).await;
        }
    }

    /// Any uplink: NAT rebinding moves the address, downlinks follow the
    /// node. Writes only when something changed or `last_seen` is stale.
    pub async fn touch(&self, reg: &Registration, peer: Peer) -> Registration {
        self.addresses.insert(peer, &reg.endpoint);
        let address = peer.to_string();
        let now = now_ms();
        let fresh = now.saturating_sub(reg.last_seen_ms) < TOUCH_REFRESH_MS;
        if reg.address == address && reg.node_id == self.node_id && fresh {
            return reg.clone();
        }
        match self
            .sessions
            .touch(&reg.endpoint, &address, &self.node_id, now)
            .await
        {
            Ok(Some(updated)) => updated,
            Ok(None) => reg.clone(),
            Err(e) => {
                let _ = self.store_error(e);
                reg.clone()
            }
        }
    }

    /// How long a queue-mode device stays awake after an uplink.
    pub fn awake_time(&self, reg: &Registration) -> Duration {
        self.config
            .overrides(&reg.endpoint)
            .and_then(|o| o.awake_time)
            .or_else(|| reg.awake_time_s.map(|s| Duration::from_secs(u64::from(s))))
            .unwrap_or(self.config.default_awake_time)
    }

    /// The device was heard from at `peer`: a queue-mode device is awake,
    /// send what was held for it, in order.
    pub async fn wake(&self, reg: &Registration, peer: Peer) {
        if !reg.queue_mode {
            return;
        }
        let held = self
            .queue
            .wake(&reg.endpoint, Instant::now(), self.awake_time(reg));
        for mut held in held {
            held.out.options.timeout = Some(driver::remaining(held.deadline));
            if let Err(e) = self.driver_of(peer).send(peer.addr, held.out).await {
                tracing::debug!(error = %e, "cannot flush held downlink");
            }
        }
    }

    /// Forgets a device that left (de-registered, expired): its address,
    /// its held downlinks (their callers get `NotRegistered`) and its
    /// observation tokens (later notifications get RST).
    pub async fn forget_device(&self, reg: &Registration, tokens: &[Vec<u8>]) {
        self.addresses.remove_endpoint(&reg.endpoint);
        if let Some(directory) = &self.directory {
            directory.set_applied(&reg.endpoint, None);
        }
        for held in self.queue.forget(&reg.endpoint) {
            let _ = held
                .out
                .reply
                .send(Err(Error::NotRegistered(reg.endpoint.clone())));
        }
        for token in tokens {
            if let Ok(token) = lwm2m_coap::Token::new(token) {
                self.forget_token(token).await;
            }
        }
    }

    /// The registration of the device sending from `peer`: the address
    /// index first, then a bounded scan of the store (see `address_index`).
    /// A DTLS peer whose move the store has not caught up with yet is also
    /// looked for under the addresses its session had before
    /// (`secure::moves`), so a record that both moves a session and carries
    /// a request never depends on which is handled first.
    pub async fn sender(&self, peer: Peer) -> Result<Registration, Error> {
        let candidates: Vec<Peer> = if peer.secure {
            self.moves
                .chain(peer.addr)
                .into_iter()
                .map(Peer::secure)
                .collect()
        } else {
            vec![peer]
        };
        for candidate in &candidates {
            if let Some(endpoint) = self.addresses.get(candidate) {
                match self.sessions.get_by_endpoint(&endpoint).await {
                    Ok(Some(reg)) if reg.address == candidate.to_string() => return Ok(reg),
                    Ok(_) => {}
                    Err(e) => return Err(self.store_error(e)),
                }
            }
        }
        let addresses: Vec<String> = candidates.iter().map(Peer::to_string).collect();
        let mut cursor = None;
        let mut scanned = 0usize;
        while scanned < self.config.sender_scan_limit {
            let page = self
                .sessions
                .list(cursor.take(), 500)
                .await
                .map_err(|e| self.store_error(e))?;
            scanned += page.items.len();
            if let Some(reg) = page
                .items
                .into_iter()
                .find(|r| addresses.contains(&r.address))
            {
                if let Some(at) = candidates.iter().find(|c| c.to_string() == reg.address) {
                    self.addresses.insert(*at, &reg.endpoint);
                }
                return Ok(reg);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Err(Error::UnknownSender(peer.to_string()))
    }
}
