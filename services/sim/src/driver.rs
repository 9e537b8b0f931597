//! The task behind one simulated device: one UDP socket, one sans-IO CoAP
//! endpoint and the [`ClientState`], driven by a loop that sleeps until the
//! next thing is due (a datagram, a command, the CoAP layer's deadline or
//! one of the device's own timers). Nothing polls: a thousand idle devices
//! cost a thousand parked tasks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lwm2m_coap::{CoapEndpoint, Config, Event, RequestId, RequestOptions, Response, ResponseCode};
use lwm2m_core::codec::TimestampedNodes;
use lwm2m_core::{LwM2mPath, Version};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::client_state::ClientState;
use crate::commands::DeviceCommand;
use crate::content_negotiation::multi_node_codec;
use crate::device_status::{DeviceStatus, ObservationStatus};
use crate::downlink::{Effect, Origin};
use crate::error::{Result, SimError};
use crate::registration_messages::{
    deregister_request, register_payload, register_request, send_request, update_request,
};
use crate::secure_link::{LinkEvent, SecureLink};
use crate::start_gate::{GateWaiter, RegisterSlot};
use crate::stats::FleetStats;
use crate::uplink::{update_period, RegistrationState, Uplink};
use crate::value_simulation::ValueSimulator;

/// Paths a device reports with Send.
const SEND_PATHS: [&str; 4] = ["/3303/0/5700", "/3/0/9", "/6/0/0", "/6/0/1"];
/// Samples kept between two Sends.
const MAX_SAMPLES: usize = 32;
/// How long a shutdown waits for the De-register answer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest datagram read.
const RECV_BUFFER: usize = 2048;

/// The device's own timers; `None` is "not scheduled".
#[derive(Debug, Default)]
struct Timers {
    register_at: Option<Instant>,
    update_at: Option<Instant>,
    value_at: Option<Instant>,
    send_at: Option<Instant>,
    /// Queue mode: go to sleep at this instant.
    sleep_at: Option<Instant>,
    /// Queue mode: wake up (with an Update) at this instant.
    wake_at: Option<Instant>,
    notify_at: Option<Instant>,
    exit_at: Option<Instant>,
}

/// Counters that only this device's status shows.
#[derive(Debug, Default)]
struct Counters {
    registrations: u64,
    updates: u64,
    sends: u64,
    dropped_while_asleep: u64,
    requests_served: u64,
    notifications: u64,
    reboots: u64,
}

/// What woke the loop up.
enum Wake {
    Datagram(usize, SocketAddr),
    RecvError(std::io::Error),
    Timer,
    Command(Option<DeviceCommand>),
}

pub(crate) struct Driver {
    state: ClientState,
    sim: ValueSimulator,
    endpoint: CoapEndpoint<SocketAddr>,
    socket: UdpSocket,
    stats: Arc<FleetStats>,
    status: watch::Sender<DeviceStatus>,
    commands: mpsc::Receiver<DeviceCommand>,
    commands_open: bool,
    registration: RegistrationState,
    /// This device counts in the fleet's `registered_now`.
    counted_registered: bool,
    /// The lifetime the server knows.
    registered_lifetime: u32,
    /// Objects changed since the last Register/Update payload.
    objects_dirty: bool,
    /// De-registered on purpose: do not register again by itself.
    stay_unregistered: bool,
    /// Asked to Update (or De-register) while a Register was in flight:
    /// done as soon as it succeeds.
    update_after_register: bool,
    deregister_after_register: bool,
    uplinks: HashMap<RequestId, Uplink>,
    timers: Timers,
    asleep: bool,
    samples: Vec<TimestampedNodes>,
    exiting: bool,
    counters: Counters,
    last_error: Option<String>,
    recv_buf: Vec<u8>,
    /// When the pending registration began (first attempt), for the
    /// fleet's Register latency figures.
    register_started: Option<Instant>,
    /// Held while the first Register of a gated fleet is in flight.
    register_slot: Option<RegisterSlot>,
    /// CoAP retransmissions already added to the fleet counters.
    retransmissions_counted: u64,
    /// DTLS between the CoAP endpoint and the socket (`None`: NoSec).
    link: Option<SecureLink>,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch with millisecond precision (SenML `bt`).
fn unix_now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

impl Driver {
    pub(crate) fn new(
        state: ClientState,
        sim: ValueSimulator,
        socket: UdpSocket,
        stats: Arc<FleetStats>,
        status: watch::Sender<DeviceStatus>,
        commands: mpsc::Receiver<DeviceCommand>,
    ) -> Result<Self> {
        let endpoint = CoapEndpoint::new(Config {
            seed: state.config.seed,
            ack_timeout: state.config.ack_timeout,
            surface_unmatched_notifications: false,
            ..Config::default()
        })?;
        let registered_lifetime = state.lifetime();
        let link = SecureLink::new(
            &state.config.security,
            state.config.connection_id,
            state.config.register_retry,
        );
        Ok(Self {
            state,
            sim,
            endpoint,
            socket,
            stats,
            status,
            commands,
            commands_open: true,
            registration: RegistrationState::Unregistered,
            counted_registered: false,
            registered_lifetime,
            objects_dirty: false,
            stay_unregistered: false,
            update_after_register: false,
            deregister_after_register: false,
            uplinks: HashMap::new(),
            timers: Timers::default(),
            asleep: false,
            samples: Vec::new(),
            exiting: false,
            counters: Counters::default(),
            last_error: None,
            recv_buf: vec![0; RECV_BUFFER],
            register_started: None,
            register_slot: None,
            retransmissions_counted: 0,
            link,
        })
    }

    fn server(&self) -> SocketAddr {
        self.state.config.server
    }

    fn is_v11(&self) -> bool {
        self.state.config.lwm2m_version >= Version::V1_1
    }

    /// Runs the device until it is shut down.
    pub(crate) async fn run(mut self, start_delay: Duration, gate: Option<GateWaiter>) {
        tokio::time::sleep(start_delay).await;
        if let Some(mut gate) = gate {
            self.register_slot = Some(gate.pass().await);
        }
        let now = Instant::now();
        if let Some(link) = self.link.as_mut() {
            // The Register waits in the link until the handshake completes.
            link.connect(now, &self.stats);
        }
        self.timers.register_at = Some(now);
        self.timers.value_at = self.state.config.value_change_interval.map(|d| now + d);
        self.timers.send_at = self.state.config.send_interval.map(|d| now + d);
        loop {
            let now = Instant::now();
            self.run_timers(now);
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            if let Some(link) = self.link.as_mut() {
                link.handle_timeout(now, &self.stats);
            }
            self.drain_link(now);
            self.process_events(now);
            if !self.asleep {
                self.notify(now);
            }
            self.flush().await;
            self.count_retransmissions();
            self.publish_status();
            if self.finished(now) {
                break;
            }
            let deadline = self
                .next_deadline()
                .unwrap_or(now + Duration::from_secs(3600));
            // Biased: a datagram that already arrived (say, the answer to
            // our Register) is handled before a command that depends on it.
            let wake = tokio::select! {
                biased;
                r = self.socket.recv_from(&mut self.recv_buf) => match r {
                    Ok((n, peer)) => Wake::Datagram(n, peer),
                    Err(e) => Wake::RecvError(e),
                },
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => Wake::Timer,
                cmd = self.commands.recv(), if self.commands_open => Wake::Command(cmd),
            };
            let now = Instant::now();
            match wake {
                Wake::Datagram(n, peer) => self.on_datagram(now, n, peer),
                Wake::RecvError(e) => {
                    // ICMP port unreachable surfaces here on some systems; keep going.
                    debug!(endpoint = %self.state.config.endpoint, "recv error: {e}");
                }
                Wake::Timer => {}
                Wake::Command(Some(cmd)) => self.on_command(now, cmd).await,
                Wake::Command(None) => {
                    // Every handle is gone: a closed channel would wake us
                    // forever, so stop listening to it.
                    self.commands_open = false;
                    let deregister = self.state.config.deregister_on_shutdown;
                    self.begin_shutdown(now, deregister);
                }
            }
        }
        self.status.send_modify(|s| s.stopped = true);
    }

    fn finished(&self, now: Instant) -> bool {
        self.exiting
            && (!self.uplinks.values().any(|u| *u == Uplink::Deregister)
                || self.timers.exit_at.is_some_and(|t| now >= t))
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let t = &self.timers;
        let mut candidates = vec![
            self.endpoint.poll_timeout(),
            self.link.as_ref().and_then(SecureLink::poll_timeout),
            t.register_at,
            t.value_at,
            t.exit_at,
        ];
        if self.asleep {
            candidates.push(t.wake_at);
        } else {
            candidates.push(t.update_at);
            candidates.push(t.notify_at);
            if self.registration.location().is_some() {
                candidates.push(t.send_at);
            }
            if self.uplinks.is_empty() {
                candidates.push(t.sleep_at);
            }
        }
        candidates.into_iter().flatten().min()
    }

    fn on_datagram(&mut self, now: Instant, n: usize, peer: SocketAddr) {
        if self.asleep {
            self.counters.dropped_while_asleep += 1;
            self.stats.on_dropped_while_asleep();
            return;
        }
        let Some(bytes) = self.recv_buf.get(..n) else {
            return;
        };
        match self.link.as_mut() {
            // Records from anyone but the server are not ours to decrypt.
            Some(link) if peer == self.state.config.server => link.handle_datagram(now, bytes),
            Some(_) => {}
            None => self.endpoint.handle_datagram(now, peer, bytes),
        }
    }

    /// Hands decrypted CoAP datagrams to the endpoint; logs session changes.
    fn drain_link(&mut self, now: Instant) {
        let server = self.server();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        while let Some(event) = link.poll_event(now, &self.stats) {
            match event {
                LinkEvent::Datagram(data) => self.endpoint.handle_datagram(now, server, &data),
                LinkEvent::Connected => {
                    debug!(endpoint = %self.state.config.endpoint, "dtls session established");
                }
                LinkEvent::Closed(reason) => {
                    warn!(endpoint = %self.state.config.endpoint, %reason, "dtls session closed");
                    self.last_error = Some(format!("dtls session closed: {reason}"));
                }
            }
        }
    }

    fn run_timers(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timers.value_at) {
            self.sim.step(&mut self.state.tree, unix_now());
            self.take_sample();
            self.timers.value_at = self.state.config.value_change_interval.map(|d| now + d);
        }
        if due(self.timers.register_at) {
            self.timers.register_at = None;
            self.register(now);
        }
        if self.asleep {
            if due(self.timers.wake_at) {
                debug!(endpoint = %self.state.config.endpoint, "waking up");
                self.asleep = false;
                self.timers.wake_at = None;
                self.update(now);
            }
            return;
        }
        if due(self.timers.update_at) {
            self.timers.update_at = None;
            self.update(now);
        }
        if due(self.timers.send_at) && self.registration.location().is_some() {
            self.send_data(now);
        }
        if due(self.timers.sleep_at) && self.uplinks.is_empty() {
            self.fall_asleep(now);
        }
    }

    fn fall_asleep(&mut self, now: Instant) {
        let Some(queue) = self.state.config.queue_mode else {
            return;
        };
        debug!(endpoint = %self.state.config.endpoint, "sleeping");
        self.asleep = true;
        self.timers.sleep_at = None;
        let wake = now + queue.sleep_interval;
        self.timers.wake_at = Some(match self.timers.update_at {
            Some(u) => wake.min(u),
            None => wake,
        });
        self.timers.update_at = None;
    }

    /// Queue mode: stay reachable for the awake time from now.
    fn stay_awake(&mut self, now: Instant) {
        if let Some(queue) = self.state.config.queue_mode {
            self.asleep = false;
            self.timers.wake_at = None;
            self.timers.sleep_at = Some(now + queue.awake_time);
        }
    }

    fn wake_for_command(&mut self, now: Instant) {
        if self.asleep {
            self.asleep = false;
            self.timers.wake_at = None;
            self.stay_awake(now);
        }
    }

    fn request(
        &mut self,
        now: Instant,
        request: lwm2m_coap::Request,
        uplink: Uplink,
        options: RequestOptions,
    ) {
        match self
            .endpoint
            .send_request(now, self.server(), request, options)
        {
            Ok(id) => {
                self.uplinks.insert(id, uplink);
            }
            Err(e) => self.error(format!("cannot send {uplink:?}: {e}")),
        }
    }

    fn register(&mut self, now: Instant) {
        if self.stay_unregistered
            || self
                .uplinks
                .values()
                .any(|u| matches!(u, Uplink::Register { .. }))
        {
            return;
        }
        let lifetime = self.state.lifetime();
        let payload = register_payload(
            &self.state.tree,
            self.state.config.lwm2m_version,
            self.state.config.multi_node_format(),
        );
        let request = register_request(&self.state.config, lifetime, payload);
        self.registration = RegistrationState::Registering;
        self.register_started.get_or_insert(now);
        self.request(
            now,
            request,
            Uplink::Register { lifetime },
            RequestOptions::con(),
        );
    }

    fn update(&mut self, now: Instant) {
        let Some(location) = self.registration.location().map(str::to_owned) else {
            if self.registration == RegistrationState::Registering {
                self.update_after_register = true;
            }
            return;
        };
        if self
            .uplinks
            .values()
            .any(|u| matches!(u, Uplink::Update { .. }))
        {
            return;
        }
        let lifetime = self.state.lifetime();
        let lt = (lifetime != self.registered_lifetime).then_some(lifetime);
        let payload = self.objects_dirty.then(|| {
            register_payload(
                &self.state.tree,
                self.state.config.lwm2m_version,
                self.state.config.multi_node_format(),
            )
        });
        self.objects_dirty = false;
        self.timers.update_at = None;
        let request = update_request(&location, lt, payload);
        self.request(
            now,
            request,
            Uplink::Update { lifetime: lt },
            RequestOptions::con(),
        );
    }

    fn deregister(&mut self, now: Instant) {
        self.stay_unregistered = true;
        self.timers.update_at = None;
        self.timers.register_at = None;
        let Some(location) = self.registration.location().map(str::to_owned) else {
            if self.registration == RegistrationState::Registering {
                self.deregister_after_register = true;
            }
            return;
        };
        self.registration = RegistrationState::Deregistering;
        let options = RequestOptions::con().with_timeout(SHUTDOWN_GRACE);
        self.request(
            now,
            deregister_request(&location),
            Uplink::Deregister,
            options,
        );
    }

    fn take_sample(&mut self) {
        if self.state.config.send_interval.is_none() || !self.is_v11() {
            return;
        }
        if let Some(sample) = self.sample() {
            // Two samples with one timestamp would merge into duplicates.
            if self.samples.last().is_some_and(|l| l.time == sample.time) {
                self.samples.pop();
            }
            if self.samples.len() >= MAX_SAMPLES {
                self.samples.remove(0);
            }
            self.samples.push(sample);
        }
    }

    fn sample(&self) -> Option<TimestampedNodes> {
        let mut nodes = std::collections::BTreeMap::new();
        for p in SEND_PATHS {
            let Ok(path) = p.parse::<LwM2mPath>() else {
                continue;
            };
            if let Ok(node) = self.state.tree.read(&path) {
                nodes.insert(path, node);
            }
        }
        (!nodes.is_empty()).then(|| TimestampedNodes {
            time: Some(unix_now_millis()),
            nodes,
        })
    }

    fn send_data(&mut self, now: Instant) {
        self.timers.send_at = self.state.config.send_interval.map(|d| now + d);
        if !self.is_v11() || self.registration.location().is_none() {
            return;
        }
        let mut samples = std::mem::take(&mut self.samples);
        if samples.is_empty() {
            samples.extend(self.sample());
        }
        let format = self.state.config.send_format;
        let Some(codec) = multi_node_codec(format) else {
            return;
        };
        match codec.encode_timestamped(&samples) {
            Ok(payload) => self.request(
                now,
                send_request(format, payload),
                Uplink::Send,
                RequestOptions::con(),
            ),
            Err(e) => self.error(format!("cannot encode Send: {e}")),
        }
    }

    fn error(&mut self, message: String) {
        warn!(endpoint = %self.state.config.endpoint, "{message}");
        self.stats.on_error();
        self.last_error = Some(message);
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request {
                    exchange,
                    peer,
                    token,
                    request,
                } => {
                    let handled = self
                        .state
                        .handle_request(Origin { peer, token, now }, &request);
                    self.stats.on_served(handled.operation);
                    self.counters.requests_served += 1;
                    if let Err(e) = self.endpoint.respond(now, exchange, handled.response) {
                        // Too large or similar: answer with a bare error instead.
                        let fallback = Response::new(ResponseCode::INTERNAL_SERVER_ERROR);
                        let _ = self.endpoint.respond(now, exchange, fallback);
                        self.error(format!(
                            "cannot answer {} {}: {e}",
                            request.method,
                            request.path_string()
                        ));
                    }
                    for effect in handled.effects {
                        self.apply(now, peer, effect);
                    }
                }
                Event::Response { id, response, .. } => {
                    if let Some(uplink) = self.uplinks.remove(&id) {
                        self.on_uplink_answer(now, uplink, Ok(response));
                    }
                }
                Event::RequestFailed { id, reason, .. } => {
                    if let Some(uplink) = self.uplinks.remove(&id) {
                        self.on_uplink_answer(now, uplink, Err(format!("{reason:?}")));
                    }
                }
                Event::ObservationRejected { peer, token, .. } => {
                    self.state.observations.remove(peer, token);
                }
                Event::Notification { .. } | Event::UnmatchedResponse { .. } => {}
            }
        }
    }

    fn apply(&mut self, now: Instant, peer: SocketAddr, effect: Effect) {
        match effect {
            Effect::Reboot => self.reboot(now),
            Effect::TriggerUpdate | Effect::LifetimeChanged => self.update(now),
            Effect::ObjectsChanged => {
                self.objects_dirty = true;
                self.update(now);
            }
            Effect::ObservationCancelled(token) => self.endpoint.forget_observer(&peer, token),
        }
    }

    /// A reboot loses observations and attributes and registers again.
    fn reboot(&mut self, now: Instant) {
        info!(endpoint = %self.state.config.endpoint, "rebooting");
        self.counters.reboots += 1;
        for o in self.state.observations.clear() {
            self.endpoint.forget_observer(&o.peer, o.token);
        }
        self.state.attributes.clear();
        self.timers.update_at = None;
        self.registration = RegistrationState::Unregistered;
        self.stay_unregistered = false;
        self.register(now);
    }

    fn on_uplink_answer(
        &mut self,
        now: Instant,
        uplink: Uplink,
        answer: std::result::Result<Response, String>,
    ) {
        let ok_code = |r: &std::result::Result<Response, String>, code: ResponseCode| matches!(r, Ok(resp) if resp.code == code);
        match uplink {
            Uplink::Register { lifetime } => match answer {
                Ok(resp)
                    if resp.code == ResponseCode::CREATED && !resp.location_path().is_empty() =>
                {
                    let location = resp.location_path();
                    info!(endpoint = %self.state.config.endpoint, %location, "registered");
                    self.registration = RegistrationState::Registered { location };
                    self.registered_lifetime = lifetime;
                    self.objects_dirty = false;
                    self.counters.registrations += 1;
                    if self.counted_registered {
                        self.stats.on_reregistered();
                    } else {
                        self.counted_registered = true;
                        self.stats.on_registered();
                    }
                    self.timers.update_at = Some(now + update_period(lifetime));
                    self.stay_awake(now);
                    if let Some(started) = self.register_started.take() {
                        self.stats.on_register_latency(now.duration_since(started));
                    }
                    self.register_slot = None;
                    if std::mem::take(&mut self.deregister_after_register) {
                        self.update_after_register = false;
                        self.deregister(now);
                    } else if std::mem::take(&mut self.update_after_register) {
                        self.update(now);
                    }
                }
                other => {
                    self.error(format!("Register failed: {}", describe(&other)));
                    if other.is_err() {
                        // No answer at all: the server may have lost our
                        // DTLS session (a restart); start a fresh one.
                        if let Some(link) = self.link.as_mut() {
                            link.connect(now, &self.stats);
                        }
                    }
                    // The window slot goes to another device while this one waits to retry.
                    self.register_slot = None;
                    self.registration = RegistrationState::Unregistered;
                    self.timers.register_at = Some(now + self.state.config.register_retry);
                }
            },
            Uplink::Update { lifetime } => {
                if ok_code(&answer, ResponseCode::CHANGED) {
                    self.counters.updates += 1;
                    self.stats.on_update();
                    if let Some(lt) = lifetime {
                        self.registered_lifetime = lt;
                    }
                    self.timers.update_at = Some(now + update_period(self.registered_lifetime));
                    self.stay_awake(now);
                } else if self.registration.location().is_some() {
                    // 4.04: the server forgot us; anything else: start over too.
                    self.error(format!(
                        "Update failed: {}; registering again",
                        describe(&answer)
                    ));
                    self.registration = RegistrationState::Unregistered;
                    self.register(now);
                }
            }
            Uplink::Deregister => {
                if ok_code(&answer, ResponseCode::DELETED) {
                    self.stats.on_deregistered();
                    info!(endpoint = %self.state.config.endpoint, "de-registered");
                } else {
                    self.error(format!("De-register failed: {}", describe(&answer)));
                }
                self.registration = RegistrationState::Unregistered;
                if self.counted_registered {
                    self.counted_registered = false;
                    self.stats.on_unregistered();
                }
            }
            Uplink::Send => {
                if ok_code(&answer, ResponseCode::CHANGED) {
                    self.counters.sends += 1;
                    self.stats.on_send();
                } else {
                    self.error(format!("Send failed: {}", describe(&answer)));
                }
            }
        }
    }

    fn notify(&mut self, now: Instant) {
        let (due, next) = self.state.due_notifications(now);
        self.timers.notify_at = next;
        for n in due {
            let result = self.endpoint.send_notification(
                now,
                n.peer,
                n.token,
                n.seq,
                n.response,
                n.confirmable,
            );
            match result {
                Ok(()) => {
                    self.counters.notifications += 1;
                    self.stats.on_notification(n.confirmable);
                }
                Err(e) => self.error(format!("cannot notify: {e}")),
            }
            if n.ended {
                self.endpoint.forget_observer(&n.peer, n.token);
            }
        }
    }

    /// Adds the endpoint's new CoAP retransmissions to the fleet counters.
    fn count_retransmissions(&mut self) {
        let total = self.endpoint.stats().retransmissions;
        if total > self.retransmissions_counted {
            self.stats
                .on_retransmissions(total - self.retransmissions_counted);
            self.retransmissions_counted = total;
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            if let Some(link) = self.link.as_mut() {
                link.send(t.bytes);
            } else if let Err(e) = self.socket.send_to(&t.bytes, t.peer).await {
                self.error(format!("send to {} failed: {e}", t.peer));
            }
        }
        let server = self.server();
        while let Some(record) = self.link.as_mut().and_then(SecureLink::poll_transmit) {
            if let Err(e) = self.socket.send_to(&record, server).await {
                self.error(format!("send to {server} failed: {e}"));
            }
        }
    }

    async fn on_command(&mut self, now: Instant, cmd: DeviceCommand) {
        debug!(endpoint = %self.state.config.endpoint, ?cmd, "command");
        match cmd {
            DeviceCommand::Update => {
                self.wake_for_command(now);
                self.update(now);
            }
            DeviceCommand::Register => {
                self.wake_for_command(now);
                self.stay_unregistered = false;
                self.register(now);
            }
            DeviceCommand::Send => {
                self.wake_for_command(now);
                self.send_data(now);
            }
            DeviceCommand::Rebind => {
                if let Err(e) = self.rebind().await {
                    self.error(format!("rebind failed: {e}"));
                    return;
                }
                if let Some(link) = self.link.as_mut() {
                    // With a Connection ID the session follows us; else a new one.
                    link.after_rebind(now, &self.stats);
                }
                self.wake_for_command(now);
                self.update(now);
            }
            DeviceCommand::Deregister => {
                self.wake_for_command(now);
                self.deregister(now);
            }
            DeviceCommand::SetValue { path, value } => {
                if let Err(e) = self.state.tree.set_value(&path, value) {
                    self.error(format!("cannot set {path}: {e}"));
                }
            }
            DeviceCommand::Shutdown { deregister } => self.begin_shutdown(now, deregister),
        }
    }

    /// NAT rebinding: a new socket on a new port; the old one is closed.
    async fn rebind(&mut self) -> Result<()> {
        let socket = UdpSocket::bind(self.state.config.bind_addr()).await?;
        let old = self.socket.local_addr().ok();
        self.socket = socket;
        self.stats.on_rebind();
        info!(endpoint = %self.state.config.endpoint, ?old, new = ?self.socket.local_addr().ok(), "rebound");
        Ok(())
    }

    fn begin_shutdown(&mut self, now: Instant, deregister: bool) {
        if self.exiting {
            return;
        }
        self.exiting = true;
        self.timers.exit_at = Some(now + SHUTDOWN_GRACE);
        self.asleep = false;
        if deregister {
            self.deregister(now);
        }
    }

    fn publish_status(&mut self) {
        let status = DeviceStatus {
            endpoint: self.state.config.endpoint.clone(),
            registered: self.registration.location().is_some(),
            location: self.registration.location().map(str::to_owned),
            local_addr: self.socket.local_addr().ok(),
            registrations: self.counters.registrations,
            updates: self.counters.updates,
            sends: self.counters.sends,
            asleep: self.asleep,
            dropped_while_asleep: self.counters.dropped_while_asleep,
            requests_served: self.counters.requests_served,
            observations: self
                .state
                .observations
                .iter()
                .map(|o| ObservationStatus {
                    paths: o.target.paths().iter().map(ToString::to_string).collect(),
                    token: o.token.to_string(),
                    content_format: o.format.code(),
                    notifications_sent: o.notifications_sent,
                })
                .collect(),
            notifications_sent: self.counters.notifications,
            reboots: self.counters.reboots,
            last_error: self.last_error.clone(),
            stopped: false,
            dtls_established: self.link.as_ref().is_some_and(SecureLink::is_established),
            dtls_handshakes: self.link.as_ref().map_or(0, |l| l.handshakes),
            dtls_connection_id: self
                .link
                .as_ref()
                .is_some_and(SecureLink::has_connection_id),
        };
        self.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status;
                true
            }
        });
    }
}

fn describe(answer: &std::result::Result<Response, String>) -> String {
    match answer {
        Ok(r) => format!("{:?}", r.code),
        Err(reason) => reason.clone(),
    }
}

/// Binds a device socket (port 0: the OS picks a fresh port).
pub(crate) async fn bind(addr: SocketAddr) -> Result<UdpSocket> {
    UdpSocket::bind(addr).await.map_err(SimError::Io)
}
