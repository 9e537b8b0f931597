//! Everything a simulated client knows, without IO: configuration, object
//! tree, attributes and observations. The device task owns one and feeds it
//! requests (see `downlink.rs`) and time; this file holds the state and the
//! notification scheduling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_coap::{Response, ResponseCode, Token};
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{LwM2mPath, ModelRegistry, Value};
use rand::rngs::SmallRng;

use crate::attribute_store::AttributeStore;
use crate::config::DeviceConfig;
use crate::initial_objects::initial_tree;
use crate::notify_decision::{decide, Decision, NotifyRules};
use crate::object_tree::ObjectTree;
use crate::observations::{render, snapshot, Observations, ObservedTarget};

/// NON observers still get a CON notification this often (RFC 7641 §4.5).
pub const CON_AT_LEAST_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Observe sequence numbers are 24-bit.
const SEQ_MASK: u32 = 0x00FF_FFFF;

/// A notification to hand to the CoAP endpoint.
#[derive(Debug, Clone)]
pub struct OutgoingNotification {
    pub peer: SocketAddr,
    pub token: Token,
    pub seq: u32,
    pub response: Response,
    pub confirmable: bool,
    /// The observation ended with this (error) notification.
    pub ended: bool,
}

/// The state of one simulated LwM2M client.
#[derive(Debug)]
pub struct ClientState {
    pub config: DeviceConfig,
    pub tree: ObjectTree,
    pub attributes: AttributeStore,
    pub observations: Observations,
}

impl ClientState {
    /// A freshly booted client.
    pub fn new(
        config: DeviceConfig,
        models: Arc<ModelRegistry>,
        rng: &mut SmallRng,
        unix_now: i64,
    ) -> Self {
        let tree = initial_tree(&config, models, rng, unix_now);
        Self {
            config,
            tree,
            attributes: AttributeStore::new(),
            observations: Observations::new(),
        }
    }

    /// The lifetime in the Server object (`/1/0/1`), or the configured one.
    pub fn lifetime(&self) -> u32 {
        match self.tree.value(&server_resource(1)) {
            Some(Value::Integer(lt)) if *lt > 0 => u32::try_from(*lt).unwrap_or(u32::MAX),
            _ => self.config.lifetime,
        }
    }

    fn server_default(&self, resource: u16) -> Option<u32> {
        match self.tree.value(&server_resource(resource)) {
            Some(Value::Integer(v)) => u32::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The notification rules of an observation: the attributes attached
    /// to its path, under those its Observe request gave (LwM2M 1.2).
    pub fn rules(&self, target: &ObservedTarget, own: &LwM2mAttributes) -> NotifyRules {
        let attrs = match target {
            ObservedTarget::Single(path) => self.attributes.effective_with(path, own),
            ObservedTarget::Composite(_) => own.clone(),
        };
        NotifyRules::from_attributes(&attrs, self.server_default(2), self.server_default(3))
    }

    /// Evaluates every observation at `now`: returns the notifications due
    /// and the next instant at which one may become due.
    pub fn due_notifications(
        &mut self,
        now: Instant,
    ) -> (Vec<OutgoingNotification>, Option<Instant>) {
        let mut out = Vec::new();
        let mut next: Option<Instant> = None;
        let mut ended = Vec::new();
        for (peer, token) in self.observations.keys() {
            let Some(obs) = self
                .observations
                .iter()
                .find(|o| o.peer == peer && o.token == token)
            else {
                continue;
            };
            let target = obs.target.clone();
            let rules = self.rules(&target, &obs.attributes);
            let current = match snapshot(&self.tree, &target) {
                Ok(s) => s,
                Err(e) => {
                    // The observed node is gone: an error notification ends it.
                    out.push(OutgoingNotification {
                        peer,
                        token,
                        seq: (obs.seq + 1) & SEQ_MASK,
                        response: Response::new(e.response_code()),
                        confirmable: self.config.confirmable_notifications,
                        ended: true,
                    });
                    ended.push((peer, token));
                    continue;
                }
            };
            match decide(&rules, &obs.last_sent, obs.last_sent_at, &current, now) {
                Decision::Notify => {}
                Decision::WaitUntil(t) => {
                    next = Some(next.map_or(t, |n| n.min(t)));
                    continue;
                }
                Decision::Idle => continue,
            }
            let format = obs.format;
            let rendered = match render(&self.tree, &target, format) {
                Ok(r) => r,
                Err(e) => {
                    out.push(OutgoingNotification {
                        peer,
                        token,
                        seq: (obs.seq + 1) & SEQ_MASK,
                        response: Response::new(ResponseCode::INTERNAL_SERVER_ERROR)
                            .with_payload(e.to_string().into_bytes()),
                        confirmable: self.config.confirmable_notifications,
                        ended: true,
                    });
                    ended.push((peer, token));
                    continue;
                }
            };
            let Some(obs) = self.observations.get_mut(peer, token) else {
                continue;
            };
            let confirmable = self.config.confirmable_notifications
                || now.saturating_duration_since(obs.last_con_at) >= CON_AT_LEAST_EVERY;
            obs.seq = (obs.seq + 1) & SEQ_MASK;
            obs.last_sent = rendered.snapshot;
            obs.last_sent_at = now;
            if confirmable {
                obs.last_con_at = now;
            }
            obs.notifications_sent += 1;
            // Re-evaluate after pmin/pmax from this send.
            if let Decision::WaitUntil(t) = decide(&rules, &obs.last_sent, now, &obs.last_sent, now)
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            out.push(OutgoingNotification {
                peer,
                token,
                seq: obs.seq,
                response: Response::content(format.code(), rendered.payload),
                confirmable,
                ended: false,
            });
        }
        for (peer, token) in ended {
            self.observations.remove(peer, token);
        }
        (out, next)
    }
}

fn server_resource(resource: u16) -> LwM2mPath {
    LwM2mPath::resource(1, 0, resource).unwrap_or(LwM2mPath::ROOT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observations::Observation;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::ContentFormat;
    use rand::SeedableRng;

    fn state(con: bool) -> ClientState {
        let config = DeviceConfig {
            confirmable_notifications: con,
            ..DeviceConfig::default()
        };
        ClientState::new(
            config,
            Arc::new(sim_registry()),
            &mut SmallRng::seed_from_u64(1),
            0,
        )
    }

    fn observe(s: &mut ClientState, path: &str, now: Instant) -> Token {
        let token = Token::new(&[7]).unwrap();
        let target = ObservedTarget::Single(path.parse().unwrap());
        let snap = snapshot(&s.tree, &target).unwrap();
        s.observations.insert(Observation {
            peer: "127.0.0.1:5683".parse().unwrap(),
            token,
            target,
            format: ContentFormat::Text,
            last_sent: snap,
            last_sent_at: now,
            last_con_at: now,
            seq: 0,
            notifications_sent: 0,
            attributes: LwM2mAttributes::default(),
        });
        token
    }

    #[test]
    fn notifies_changes_after_pmin_only() {
        let mut s = state(false);
        let t0 = Instant::now();
        let path: LwM2mPath = "/3303/0/5700".parse().unwrap();
        s.attributes.write_query(&path, &["pmin=2"]).unwrap();
        observe(&mut s, "/3303/0/5700", t0);
        assert!(s.due_notifications(t0).0.is_empty(), "no change yet");
        s.tree.set_value(&path, Value::Float(99.5)).unwrap();
        let (now, next) = s.due_notifications(t0 + Duration::from_secs(1));
        assert!(now.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_secs(2)));
        let (due, _) = s.due_notifications(t0 + Duration::from_secs(2));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].seq, 1);
        assert_eq!(due[0].response.payload, b"99.5");
        assert!(!due[0].confirmable, "NON configured");
        assert!(
            s.due_notifications(t0 + Duration::from_secs(3))
                .0
                .is_empty(),
            "sent already"
        );
    }

    #[test]
    fn pmax_and_the_daily_con() {
        let mut s = state(false);
        let t0 = Instant::now();
        let path: LwM2mPath = "/3/0/9".parse().unwrap();
        s.attributes.write_query(&path, &["pmax=5"]).unwrap();
        observe(&mut s, "/3/0/9", t0);
        let (due, next) = s.due_notifications(t0 + Duration::from_secs(1));
        assert!(due.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_secs(5)));
        let (due, _) = s.due_notifications(t0 + CON_AT_LEAST_EVERY);
        assert!(due[0].confirmable, "a day after the last CON");
    }

    #[test]
    fn deleted_node_ends_the_observation_with_an_error() {
        let mut s = state(true);
        let t0 = Instant::now();
        observe(&mut s, "/3303/0", t0);
        s.tree.delete(&"/3303/0".parse().unwrap()).unwrap();
        let (due, _) = s.due_notifications(t0);
        assert_eq!(due[0].response.code, ResponseCode::NOT_FOUND);
        assert!(due[0].ended);
        assert!(s.observations.is_empty());
    }

    #[test]
    fn lifetime_follows_the_server_object() {
        let mut s = state(true);
        assert_eq!(s.lifetime(), 300);
        s.tree
            .set_value(&server_resource(1), Value::Integer(42))
            .unwrap();
        assert_eq!(s.lifetime(), 42);
    }
}
