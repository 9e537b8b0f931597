-- Registry schema (PostgreSQL). The SQLite stream in ../sqlite holds the same
-- tables; both are read by one SQL implementation through sqlx's `Any`
-- driver, which is why every column is TEXT or BIGINT (flags are BIGINT
-- 0/1, times are milliseconds, binary keys are hex inside JSON) and why
-- text keys that are paged on use the binary "C" collation: the two
-- databases must sort them the same way.

CREATE TABLE tenants (
    id                        TEXT COLLATE "C" PRIMARY KEY,
    name                      TEXT NOT NULL,
    auto_provision            BIGINT NOT NULL DEFAULT 0,
    auto_provision_profile_id TEXT,
    created_at_ms             BIGINT NOT NULL,
    updated_at_ms             BIGINT NOT NULL
);

-- tenant_id '' is the system scope: models every tenant sees. A tenant's own
-- row for the same (object_id, version) overrides the system one for it.
CREATE TABLE object_models (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    object_id     BIGINT NOT NULL,
    version_major BIGINT NOT NULL,
    version_minor BIGINT NOT NULL,
    name          TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    ddf_xml       TEXT NOT NULL,
    model_json    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, object_id, version_major, version_minor)
);
CREATE INDEX object_models_by_object ON object_models (object_id, version_major, version_minor);

CREATE TABLE device_profiles (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    name          TEXT COLLATE "C" NOT NULL,
    description   TEXT NOT NULL,
    config_json   TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX device_profiles_tenant_name_key ON device_profiles (tenant_id, name);

-- Endpoint names and PSK identities are unique across all tenants: a device
-- is found by them before its tenant is known.
CREATE TABLE devices (
    id                     TEXT COLLATE "C" PRIMARY KEY,
    tenant_id              TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    endpoint               TEXT COLLATE "C" NOT NULL,
    name                   TEXT COLLATE "C" NOT NULL,
    profile_id             TEXT COLLATE "C" REFERENCES device_profiles (id),
    security_mode          TEXT NOT NULL,
    psk_identity           TEXT COLLATE "C",
    bootstrap_psk_identity TEXT COLLATE "C",
    credentials_json       TEXT NOT NULL,
    bootstrap_json         TEXT NOT NULL,
    settings_json          TEXT NOT NULL,
    revision               BIGINT NOT NULL,
    created_at_ms          BIGINT NOT NULL,
    updated_at_ms          BIGINT NOT NULL
);
CREATE UNIQUE INDEX devices_endpoint_key ON devices (endpoint);
CREATE UNIQUE INDEX devices_psk_identity_key ON devices (psk_identity);
CREATE UNIQUE INDEX devices_bootstrap_psk_identity_key ON devices (bootstrap_psk_identity);
CREATE INDEX devices_by_tenant ON devices (tenant_id, endpoint);
CREATE INDEX devices_by_profile ON devices (profile_id, endpoint);

-- Objects devices announced at registration that had no model visible to
-- their tenant, so an operator can see what to import.
CREATE TABLE unknown_objects (
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    object_id     BIGINT NOT NULL,
    version_major BIGINT NOT NULL,
    version_minor BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    last_endpoint TEXT NOT NULL,
    seen_count    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, object_id, version_major, version_minor)
);
