//! The DTLS task: the only owner of the DTLS socket, the sans-IO
//! `DtlsServer` and the DTLS side's `CoapEndpoint<SessionId>`. Like the
//! plain driver it never awaits the store, the bus or the registry: PSK
//! lookups (`NeedPsk`) run in spawned tasks whose answers come back on a
//! channel, so a slow lookup or a half-open handshake delays nobody.
//!
//! Each turn: drain the socket into the engine, apply PSK answers and
//! commands, run due timers of both layers, turn engine events into CoAP
//! input (or session bookkeeping), hand CoAP events to the node, encrypt
//! CoAP transmits, send the records, then sleep until the socket, a
//! command, a PSK answer or the earlier of the two layers' deadlines.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lwm2m_coap::CoapEndpoint;
use lwm2m_dtls::{DtlsServer, Event, PeerCredential, SessionId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::cluster::adoption::Adoption;
use crate::driver::{sleep_until, Command, Exchanges, Link};
use crate::error::Error;
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;
use crate::secure::forwarding::{Delivery, Forwarding, Path, Route};
use crate::stats::Counters;

/// Datagrams read per turn before commands and timers get a chance.
const RECV_BATCH: usize = 512;
/// Largest datagram read: a client's handshake flight may use a larger MTU
/// than ours (records beyond it are dropped by the engine, not truncated).
const RECV_BUFFER: usize = 16 * 1024 + 512;
/// Cluster frame header (magic, kind, node, IPv6 address, port, MAC).
const FRAME_OVERHEAD: usize = 64;
/// How often the engine is given the wall clock (X.509 validity).
const WALL_CLOCK_EVERY: Duration = Duration::from_secs(60);

/// Per-session facts the CoAP side needs.
#[derive(Default)]
struct Sessions {
    /// What each established session's handshake authenticated.
    credentials: HashMap<SessionId, Arc<PeerCredential>>,
    /// The address a session had before it last moved (CID): downlinks
    /// sent before the store caught up still find the session.
    previous: HashMap<SocketAddr, SessionId>,
    previous_of: HashMap<SessionId, SocketAddr>,
    /// The node id and key each session's sequence-number reservation is
    /// stored under.
    reserved: HashMap<SessionId, (u8, Vec<u8>)>,
    /// Sessions whose reservation write is in flight; `Some` once the
    /// session closed meanwhile (its record is dropped when the write is
    /// done, not before, or the write would bring it back).
    reserving: HashMap<SessionId, Option<(u8, Vec<u8>)>>,
}

impl Sessions {
    fn moved(&mut self, session: SessionId, old: SocketAddr) {
        if let Some(before) = self.previous_of.insert(session, old) {
            self.previous.remove(&before);
        }
        self.previous.insert(old, session);
    }

    /// Learns the credentials of sessions that were imported (no
    /// HandshakeComplete tells them). They carried registered devices
    /// before the restart or crash, so they are evicted last, like the
    /// sessions of devices that registered here.
    fn imported(&mut self, dtls: &mut DtlsServer) {
        for session in dtls.established_session_ids() {
            if self.credentials.contains_key(&session) {
                continue;
            }
            if let Some(credential) = dtls.credential(session) {
                self.credentials
                    .insert(session, Arc::new(credential.clone()));
                let _ = dtls.mark_registered(session, true);
            }
        }
    }

    /// Forgets a closed session; returns its reservation record to drop
    /// now (not while a write of it is in flight).
    fn closed(&mut self, session: SessionId) -> Option<(u8, Vec<u8>)> {
        self.credentials.remove(&session);
        if let Some(old) = self.previous_of.remove(&session) {
            self.previous.remove(&old);
        }
        let record = self.reserved.remove(&session)?;
        match self.reserving.get_mut(&session) {
            Some(later) => {
                *later = Some(record);
                None
            }
            None => Some(record),
        }
    }

    /// A reservation write is done; returns the record to drop if the
    /// session closed meanwhile.
    fn reservation_done(&mut self, session: SessionId) -> Option<(u8, Vec<u8>)> {
        self.reserving.remove(&session).flatten()
    }
}

/// CoAP peers are DTLS sessions; devices are their current addresses.
struct Secure<'a> {
    dtls: &'a DtlsServer,
    sessions: &'a Sessions,
}

impl Link<SessionId> for Secure<'_> {
    fn resolve(&self, addr: SocketAddr) -> Option<SessionId> {
        self.dtls
            .session_for_addr(addr)
            .filter(|s| self.sessions.credentials.contains_key(s))
            .or_else(|| self.sessions.previous.get(&addr).copied())
    }

    fn peer(&self, session: &SessionId) -> Option<Peer> {
        // Only established sessions carry CoAP (their credential is known).
        self.sessions.credentials.get(session)?;
        self.dtls.peer_addr(*session).map(Peer::secure)
    }

    fn channel(&self, session: &SessionId) -> Channel {
        match self.sessions.credentials.get(session) {
            Some(credential) => Channel::Dtls(Arc::clone(credential)),
            // Unreachable (`peer` filters these out); an empty identity
            // matches no device, so it could not register anyway.
            None => Channel::Dtls(Arc::new(PeerCredential::Psk {
                identity: Vec::new(),
            })),
        }
    }
}

/// A PSK lookup's answer for a handshake.
type PskAnswer = (SessionId, Option<Vec<u8>>);
/// A sequence-number reservation's outcome: the confirmed limit, or `None`
/// when the store refused (answered after a pause, which paces retries).
type ReservationAnswer = (SessionId, Option<u64>);
/// Pause before a failed reservation is asked for again.
const RESERVATION_RETRY: Duration = Duration::from_secs(1);

/// Runs the DTLS task until `stop` turns true.
pub(crate) async fn run(
    node: Arc<Node>,
    socket: UdpSocket,
    mut dtls: DtlsServer,
    endpoint: CoapEndpoint<SessionId>,
    mut forwarding: Option<Forwarding>,
    mut commands: mpsc::Receiver<Command>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut frame_buf = vec![0u8; RECV_BUFFER + FRAME_OVERHEAD];
    let mut exchanges = Exchanges::new(Arc::clone(&node), endpoint);
    let mut sessions = Sessions::default();
    // Unbounded is bounded by the engine: one lookup per handshake, and
    // handshakes are capped by `limits.max_handshakes`.
    let (psk_tx, mut psk_rx) = mpsc::unbounded_channel::<PskAnswer>();
    // Bounded by the sessions: one reservation is outstanding per session.
    let (reserve_tx, mut reserve_rx) = mpsc::unbounded_channel::<ReservationAnswer>();
    let replies = Replies {
        psk: psk_tx,
        reservations: reserve_tx,
    };
    let mut wall_clock_at = Instant::now();
    dtls.set_wall_clock(wall_clock_at, SystemTime::now());
    // Sessions restored from the parking or the reservations.
    sessions.imported(&mut dtls);
    let mut adoptions = forwarding.as_mut().and_then(Forwarding::take_adoptions);
    // Engine events taken out early to see which record raised them (the
    // relay map follows authentic records only); handled first.
    let mut early = VecDeque::new();
    loop {
        let now = Instant::now();
        if now.duration_since(wall_clock_at) >= WALL_CLOCK_EVERY {
            dtls.set_wall_clock(now, SystemTime::now());
            wall_clock_at = now;
        }
        receive(
            &node,
            &socket,
            &mut buf,
            &mut dtls,
            forwarding.as_mut(),
            &mut early,
            now,
        )
        .await;
        if let Some(forwarding) = forwarding.as_mut() {
            receive_frames(
                &node,
                &socket,
                forwarding,
                &mut frame_buf,
                &mut dtls,
                &mut early,
                now,
            )
            .await;
        }
        while let Ok((session, key)) = psk_rx.try_recv() {
            provide_psk(&mut dtls, now, session, key);
        }
        while let Ok((session, limit)) = reserve_rx.try_recv() {
            reserved(&node, &mut dtls, &mut sessions, now, session, limit);
        }
        while let Some(adoption) = adoptions.as_mut().and_then(|rx| rx.try_recv().ok()) {
            on_adoption(
                &node,
                &mut dtls,
                &mut sessions,
                forwarding.as_mut(),
                adoption,
                now,
            );
        }
        while let Ok(command) = commands.try_recv() {
            let Some(command) = session_command(&mut dtls, now, command) else {
                continue;
            };
            let link = Secure {
                dtls: &dtls,
                sessions: &sessions,
            };
            exchanges.apply(now, command, &link);
        }
        if dtls.poll_timeout().is_some_and(|at| at <= now) {
            dtls.handle_timeout(now);
        }
        if exchanges
            .endpoint
            .poll_timeout()
            .is_some_and(|at| at <= now)
        {
            exchanges.endpoint.handle_timeout(now);
        }
        on_dtls_events(
            &node,
            &mut dtls,
            &mut early,
            &mut exchanges,
            &mut sessions,
            forwarding.as_mut(),
            &replies,
            now,
        );
        exchanges.drain_events(
            now,
            &Secure {
                dtls: &dtls,
                sessions: &sessions,
            },
        );
        flush(
            &node,
            &socket,
            &mut dtls,
            &mut exchanges,
            forwarding.as_ref(),
            now,
        )
        .await;
        node.counters.set_dtls(
            dtls.stats(),
            dtls.handshakes_in_progress(),
            dtls.established_sessions(),
        );
        let wake_at = [dtls.poll_timeout(), exchanges.endpoint.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            ready = socket.readable() => ready?,
            ready = frames_readable(forwarding.as_ref()) => ready?,
            command = commands.recv() => match command {
                Some(command) => {
                    let now = Instant::now();
                    if let Some(command) = session_command(&mut dtls, now, command) {
                        let link = Secure { dtls: &dtls, sessions: &sessions };
                        exchanges.apply(now, command, &link);
                    }
                }
                None => break,
            },
            Some((session, key)) = psk_rx.recv() => provide_psk(&mut dtls, Instant::now(), session, key),
            Some((session, limit)) = reserve_rx.recv() => {
                reserved(&node, &mut dtls, &mut sessions, Instant::now(), session, limit);
            }
            Some(adoption) = next_adoption(adoptions.as_mut()) => {
                on_adoption(&node, &mut dtls, &mut sessions, forwarding.as_mut(), adoption, Instant::now());
            }
            () = sleep_until(wake_at) => {}
            () = crate::stop::stopped(&mut stop) => break,
        }
    }
    // Everything sent is sent: the exported sequence numbers are final.
    if let Some(parking) = &node.parking {
        let mut by_id = parking.export(&dtls);
        let adopter = forwarding.as_ref().and_then(|f| f.adopter.as_ref());
        let held: Vec<u8> = adopter.map(|a| a.held().collect()).unwrap_or_default();
        // Our own id always (replacing an older parking), and the ids held
        // for dead nodes; sessions of ids handed over meanwhile are not ours.
        for node_id in std::iter::once(parking.node_id).chain(held) {
            parking
                .park(node_id, by_id.remove(&node_id).unwrap_or_default())
                .await;
        }
        if let Some(adopter) = adopter {
            adopter.release_all().await;
        }
    }
    Ok(())
}

/// Resolves with the next adoption outcome; never without an adopter.
async fn next_adoption(
    adoptions: Option<&mut mpsc::UnboundedReceiver<Adoption>>,
) -> Option<Adoption> {
    match adoptions {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Imports an adopted id's sessions, or hands them over when the id's own
/// node took it back.
fn on_adoption(
    node: &Node,
    dtls: &mut DtlsServer,
    sessions: &mut Sessions,
    forwarding: Option<&mut Forwarding>,
    adoption: Adoption,
    now: Instant,
) {
    let (Some(parking), Some(adopter)) = (
        node.parking.as_ref(),
        forwarding.and_then(|f| f.adopter.as_mut()),
    ) else {
        return;
    };
    match adoption {
        Adoption::Adopted { node_id, taken } => {
            let count = parking.import(dtls, now, &taken);
            sessions.imported(dtls);
            adopter.adopted(node_id);
            node.counters
                .sessions_adopted
                .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Adoption::Lost { node_id } => {
            adopter.lost(node_id);
            for session in dtls.established_session_ids() {
                if parking.owner_of(dtls, session) == node_id
                    && dtls.hand_over(now, session).is_ok()
                {
                    Counters::inc(&node.counters.sessions_handed_over);
                }
            }
        }
    }
}

/// Reads every datagram that is ready (up to a batch) into the engine, or
/// to the node that owns its Connection ID.
async fn receive(
    node: &Node,
    socket: &UdpSocket,
    buf: &mut [u8],
    dtls: &mut DtlsServer,
    mut forwarding: Option<&mut Forwarding>,
    early: &mut VecDeque<Event>,
    now: Instant,
) {
    for _ in 0..RECV_BATCH {
        match socket.try_recv_from(buf) {
            Ok((len, from)) => {
                Counters::inc(&node.counters.datagrams_received);
                let datagram = buf.get(..len).unwrap_or_default();
                let route = match forwarding.as_deref_mut() {
                    Some(f) => f.route(datagram, now),
                    None => Route::Here,
                };
                match route {
                    Route::Here => match forwarding.as_deref_mut() {
                        Some(f) => f.hand_to_engine(dtls, early, now, from, datagram, Path::Direct),
                        None => dtls.handle_datagram(now, from, datagram),
                    },
                    Route::Owner(owner) => {
                        if let Some(f) = forwarding.as_deref() {
                            if f.forward(owner, from, datagram).await {
                                Counters::inc(&node.counters.records_forwarded);
                            }
                        }
                    }
                    Route::Gone => {
                        Counters::inc(&node.counters.records_for_gone_nodes);
                        dtls.handle_datagram(now, from, datagram);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => tracing::debug!(error = %e, "dtls udp receive error"),
        }
    }
}

/// Reads the frames other nodes sent (up to a batch): records for our
/// sessions go to the engine, our peers' records out of our socket.
async fn receive_frames(
    node: &Node,
    socket: &UdpSocket,
    forwarding: &mut Forwarding,
    buf: &mut [u8],
    dtls: &mut DtlsServer,
    early: &mut VecDeque<Event>,
    now: Instant,
) {
    for _ in 0..RECV_BATCH {
        match forwarding.try_receive(buf, &node.counters) {
            Ok(Some(Delivery::Record {
                device,
                record,
                path,
            })) => {
                forwarding.hand_to_engine(dtls, early, now, device, record, path);
            }
            Ok(Some(Delivery::SendOut { device, record })) => {
                match socket.send_to(record, device).await {
                    Ok(_) => {
                        Counters::inc(&node.counters.records_relayed);
                        Counters::inc(&node.counters.datagrams_sent);
                    }
                    Err(e) => {
                        Counters::inc(&node.counters.send_errors);
                        tracing::debug!(peer = %device, error = %e, "relayed record not sent");
                    }
                }
            }
            Ok(Some(Delivery::Refused)) => {}
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "cluster frame receive error");
                break;
            }
        }
    }
}

/// Resolves when the forwarding socket has a frame; never without one.
async fn frames_readable(forwarding: Option<&Forwarding>) -> std::io::Result<()> {
    match forwarding {
        Some(f) => f.socket.readable().await,
        None => std::future::pending().await,
    }
}

fn provide_psk(dtls: &mut DtlsServer, now: Instant, session: SessionId, key: Option<Vec<u8>>) {
    // The handshake may have timed out or been replaced meanwhile.
    if let Err(e) = dtls.provide_psk(now, session, key.as_deref()) {
        tracing::debug!(error = %e, "late PSK answer");
    }
}

/// A reservation write is done: the session may write up to `limit`, or
/// asks again.
fn reserved(
    node: &Node,
    dtls: &mut DtlsServer,
    sessions: &mut Sessions,
    now: Instant,
    session: SessionId,
    limit: Option<u64>,
) {
    if let (Some((owner, key)), Some(parking)) = (sessions.reservation_done(session), &node.parking)
    {
        // Closed meanwhile: its record goes now that no write can follow.
        let parking = parking.clone();
        tokio::spawn(async move { parking.unreserve(owner, &key).await });
        return;
    }
    // The session may have closed meanwhile.
    let _ = match limit {
        Some(limit) => dtls.confirm_reservation(now, session, limit),
        None => dtls.reservation_failed(now, session),
    };
}

/// Applies the commands about DTLS sessions themselves (registered
/// devices are evicted last; a de-registered or expired device's session
/// is closed, so sessions do not outlive their devices); passes the others
/// on to the CoAP side.
fn session_command(dtls: &mut DtlsServer, now: Instant, command: Command) -> Option<Command> {
    match command {
        Command::SessionRegistered { peer, registered } => {
            if let Some(session) = dtls.session_for_addr(peer) {
                let _ = dtls.mark_registered(session, registered);
            }
            None
        }
        Command::CloseSession { peer } => {
            if let Some(session) = dtls.session_for_addr(peer) {
                if let Err(e) = dtls.close(now, session) {
                    tracing::debug!(%peer, error = %e, "dtls session not closed");
                }
            }
            None
        }
        other => Some(other),
    }
}

/// Where spawned lookups and store writes send their answers.
struct Replies {
    psk: mpsc::UnboundedSender<PskAnswer>,
    reservations: mpsc::UnboundedSender<ReservationAnswer>,
}

#[allow(clippy::too_many_arguments)]
fn on_dtls_events(
    node: &Arc<Node>,
    dtls: &mut DtlsServer,
    early: &mut VecDeque<Event>,
    exchanges: &mut Exchanges<SessionId>,
    sessions: &mut Sessions,
    mut forwarding: Option<&mut Forwarding>,
    replies: &Replies,
    now: Instant,
) {
    while let Some(event) = early.pop_front().or_else(|| dtls.poll_event()) {
        match event {
            Event::NeedPsk {
                session, identity, ..
            } => {
                let (node, tx) = (Arc::clone(node), replies.psk.clone());
                tokio::spawn(async move {
                    let key = super::psk(&node, &identity).await;
                    if key.is_none() {
                        Counters::inc(&node.counters.psk_lookups_failed);
                    }
                    let _ = tx.send((session, key));
                });
            }
            Event::HandshakeComplete {
                session,
                peer,
                credential,
                ..
            } => {
                tracing::debug!(%peer, ?session, "dtls session established");
                sessions.credentials.insert(session, Arc::new(credential));
            }
            Event::HandshakeFailed {
                peer,
                cause,
                identity,
                ..
            } => super::failures::log_handshake_failure(node, peer, cause, identity.as_deref()),
            Event::ApplicationData { session, data, .. } => {
                exchanges.endpoint.handle_datagram(now, session, &data);
            }
            Event::PeerMoved { session, old, new } => {
                sessions.moved(session, old);
                if let Some(f) = forwarding.as_deref_mut() {
                    f.forget(old);
                }
                // Recorded before this record's application data is
                // handled (the engine reports the move first), so a Send
                // in it finds its registration under `old` even before
                // the store write below lands.
                node.moves.record(old, new);
                // NAT rebinding under a CID: the device keeps its session
                // and its registration follows, so downlinks go to `new`.
                let node = Arc::clone(node);
                tokio::spawn(async move {
                    match node.sender(Peer::secure(new)).await {
                        Ok(reg) => {
                            node.touch(&reg, Peer::secure(new)).await;
                        }
                        Err(e) => {
                            tracing::debug!(%old, %new, error = %e, "moved peer has no registration")
                        }
                    }
                    node.moves.settled(old, new);
                });
            }
            Event::ReserveSequenceNumbers {
                session,
                blob,
                limit,
            } => {
                let Some(parking) = node.parking.clone() else {
                    continue;
                };
                let (owner, key) = (
                    parking.owner_of(dtls, session),
                    reservation_key(dtls, session),
                );
                sessions.reserved.insert(session, (owner, key.clone()));
                sessions.reserving.insert(session, None);
                let tx = replies.reservations.clone();
                tokio::spawn(async move {
                    let confirmed = parking.reserve(owner, &key, blob).await;
                    if !confirmed {
                        tokio::time::sleep(RESERVATION_RETRY).await;
                    }
                    let _ = tx.send((session, confirmed.then_some(limit)));
                });
            }
            Event::Closed {
                session,
                reason,
                peer,
            } => {
                tracing::debug!(?session, ?reason, "dtls session closed");
                if let (Some((owner, key)), Some(parking)) =
                    (sessions.closed(session), &node.parking)
                {
                    let parking = parking.clone();
                    tokio::spawn(async move { parking.unreserve(owner, &key).await });
                }
                if let Some(f) = forwarding.as_deref_mut() {
                    f.forget(peer);
                }
            }
        }
    }
}

/// What a session's reservation is stored under: its key id, stable
/// across export and import and distinct for every handshake. Not its
/// address: a session that replaces another at the same address (no CID)
/// would share the field, and the old session's close would delete the
/// new one's reservation, or two copies would overwrite each other's.
fn reservation_key(dtls: &DtlsServer, session: SessionId) -> Vec<u8> {
    dtls.session_key_id(session)
        .map(|id| id.to_vec())
        .unwrap_or_default()
}

/// Encrypts CoAP's datagrams into records, sends every record, then
/// releases waiters of `Respond`.
async fn flush(
    node: &Node,
    socket: &UdpSocket,
    dtls: &mut DtlsServer,
    exchanges: &mut Exchanges<SessionId>,
    forwarding: Option<&Forwarding>,
    now: Instant,
) {
    while let Some(t) = exchanges.endpoint.poll_transmit() {
        if let Err(e) = dtls.send_application_data(now, t.peer, &t.bytes) {
            // The session closed; CoAP retransmits then times out.
            tracing::debug!(session = ?t.peer, error = %e, "cannot send over dtls");
        }
    }
    while let Some(t) = dtls.poll_transmit() {
        // A device heard through another node is answered through it.
        if let Some((f, via)) = forwarding.and_then(|f| Some((f, f.via(t.destination)?))) {
            if f.relay(via, t.destination, &t.bytes).await {
                Counters::inc(&node.counters.datagrams_sent);
            } else {
                Counters::inc(&node.counters.send_errors);
            }
            continue;
        }
        match socket.send_to(&t.bytes, t.destination).await {
            Ok(_) => Counters::inc(&node.counters.datagrams_sent),
            Err(e) => {
                Counters::inc(&node.counters.send_errors);
                tracing::debug!(peer = %t.destination, error = %e, "dtls udp send error");
            }
        }
    }
    exchanges.release_flushed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_keeps_only_its_last_previous_address() {
        let mut s = Sessions::default();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:2".parse().unwrap();
        s.moved(SessionId(1), a);
        s.moved(SessionId(1), b);
        assert_eq!(s.previous.get(&a), None);
        assert_eq!(s.previous.get(&b), Some(&SessionId(1)));
        s.closed(SessionId(1));
        assert!(s.previous.is_empty() && s.previous_of.is_empty());
    }
}

#[cfg(test)]
mod reservation_tests {
    use super::*;
    use crate::cluster::test_sessions::{handshake, server};
    use lwm2m_session::{ClusterStore, Member, MemoryCluster};

    /// Finding 12: a session without a CID that replaces another at the
    /// same address keeps its reservation when the old one's close drops
    /// the old one's (keyed by address, both were one field).
    #[tokio::test]
    async fn a_replacing_sessions_reservation_survives_the_old_ones_close() {
        let now = Instant::now();
        let mut dtls = server(false, 64);
        let addr: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let mut events = Vec::new();
        let (old, _) = handshake(&mut dtls, addr, now, &mut events);
        let old_key = reservation_key(&dtls, old);
        let (new, _) = handshake(&mut dtls, addr, now, &mut events);
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Closed { session, .. } if *session == old
        )));
        let new_key = reservation_key(&dtls, new);
        assert!(!new_key.is_empty());
        assert_ne!(old_key, new_key);

        let store = MemoryCluster::new();
        let me = Member {
            node_id: 0,
            holder: "me".into(),
            grpc_addr: String::new(),
            forward_addr: String::new(),
            adopted: false,
        };
        assert!(store.claim(&me, 60_000, 0).await.unwrap());
        let blob = dtls.export_session(new).unwrap();
        assert!(store
            .store_dtls_reservation(0, "me", &new_key, blob.clone(), 0)
            .await
            .unwrap());
        // The old session's close lands after the new one's write.
        store
            .drop_dtls_reservation(0, "me", &old_key, 0)
            .await
            .unwrap();
        assert_eq!(store.take_dtls_reservations(0).await.unwrap(), vec![blob]);
    }
}
