//! Stored records → gRPC messages.

use lwm2m_proto::dispatch::v1 as pb;

use crate::store::OperationRecord;

pub fn operation_to_proto(record: &OperationRecord) -> pb::Operation {
    pb::Operation {
        id: record.id.clone(),
        tenant: record.device.tenant.clone(),
        endpoint: record.device.endpoint.clone(),
        method: record.method.clone(),
        params_json: record.params_json.clone(),
        state: record.state.to_proto() as i32,
        result: record.outcome.as_ref().map(|o| o.to_proto()),
        attempts: record.attempts,
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
        expires_at_ms: record.expires_at_ms,
        timeout_ms: record.timeout_ms,
        post_registration: record.post_registration,
    }
}
