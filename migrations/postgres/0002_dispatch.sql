-- Dispatch schema (PostgreSQL): the durable operation queue and the tenants'
-- post-registration actions. Same columns as the SQLite stream; every
-- column is TEXT or BIGINT so one SQL layer (sqlx `Any`) serves both.

-- One LwM2M command to one device. `seq` orders a device's operations by
-- creation (redelivery keeps that order); `state` is PENDING, EXECUTING,
-- SUCCESSFUL, FAILED or CANCELLED; `owner` is the dispatch replica that
-- claimed it (compare-and-set from PENDING, so only one replica sends it).
CREATE TABLE operations (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    tenant            TEXT NOT NULL COLLATE "C",
    endpoint          TEXT NOT NULL COLLATE "C",
    method            TEXT NOT NULL,
    params_json       TEXT NOT NULL,
    -- What is sent (JSON): the transport DownlinkRequest resolved at
    -- creation (keys mapped, versions checked, values typed), hex protobuf.
    action_json       TEXT NOT NULL,
    state             TEXT NOT NULL,
    owner             TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    timeout_ms        BIGINT NOT NULL,
    post_registration BIGINT NOT NULL DEFAULT 0,
    result_json       TEXT,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    expires_at_ms     BIGINT NOT NULL
);

CREATE INDEX operations_device_state ON operations (tenant, endpoint, state, seq);
CREATE INDEX operations_state_updated ON operations (state, updated_at_ms);

CREATE TABLE post_registration_actions (
    tenant        TEXT PRIMARY KEY,
    actions_json  TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
