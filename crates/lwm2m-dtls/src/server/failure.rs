//! Handshake failures by cause: what an operator needs to see why a device
//! cannot connect. Each failure is counted in [`Stats::handshake_failures`]
//! and raised as an [`Event::HandshakeFailed`]; logging (and its rate
//! limit) is the driver's business.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::event::{Event, HandshakeFailure, SessionId};
use crate::handshake::alert;
use crate::handshake::server::State;
use crate::stats::Stats;

/// Counts one failure and queues its event.
pub(crate) fn report(
    stats: &mut Stats,
    events: &mut VecDeque<Event>,
    session: Option<SessionId>,
    peer: SocketAddr,
    cause: HandshakeFailure,
    identity: Option<Vec<u8>>,
) {
    stats.handshake_failures.count(cause);
    events.push_back(Event::HandshakeFailed {
        session,
        peer,
        cause,
        identity,
    });
}

/// The cause behind the alert a handshake in `state` is aborted with.
pub(crate) fn cause_of_alert(desc: u8, state: Option<State>) -> HandshakeFailure {
    match (desc, state) {
        // Everything that goes wrong with the client's Certificate, and a
        // CertificateVerify that does not match its key.
        (_, Some(State::AwaitClientCertificate))
        | (alert::DECRYPT_ERROR, Some(State::AwaitCertificateVerify))
        | (
            alert::BAD_CERTIFICATE
            | alert::UNSUPPORTED_CERTIFICATE
            | alert::CERTIFICATE_REVOKED
            | alert::CERTIFICATE_EXPIRED
            | alert::CERTIFICATE_UNKNOWN
            | alert::UNKNOWN_CA,
            _,
        ) => HandshakeFailure::BadCertificate(desc),
        // The Finished MAC covers the key: a mismatch is a wrong key.
        (alert::DECRYPT_ERROR, _) => HandshakeFailure::WrongKey,
        (alert::PROTOCOL_VERSION, _) => HandshakeFailure::UnsupportedVersion,
        _ => HandshakeFailure::Protocol(desc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_map_to_causes() {
        use HandshakeFailure as F;
        assert_eq!(
            cause_of_alert(alert::DECRYPT_ERROR, Some(State::AwaitFinished)),
            F::WrongKey
        );
        assert_eq!(
            cause_of_alert(alert::DECRYPT_ERROR, Some(State::AwaitCertificateVerify)),
            F::BadCertificate(alert::DECRYPT_ERROR)
        );
        assert_eq!(
            cause_of_alert(
                alert::HANDSHAKE_FAILURE,
                Some(State::AwaitClientCertificate)
            ),
            F::BadCertificate(alert::HANDSHAKE_FAILURE)
        );
        assert_eq!(
            cause_of_alert(alert::UNKNOWN_CA, None),
            F::BadCertificate(alert::UNKNOWN_CA)
        );
        assert_eq!(
            cause_of_alert(alert::PROTOCOL_VERSION, None),
            F::UnsupportedVersion
        );
        assert_eq!(
            cause_of_alert(alert::DECODE_ERROR, Some(State::AwaitClientKeyExchange)),
            F::Protocol(alert::DECODE_ERROR)
        );
    }
}
