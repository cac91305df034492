-- The event log: the truth of every room. Append-only.

CREATE TABLE sessions (
    session_id   uuid PRIMARY KEY,
    room_id      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    -- Set once, when the session-ended event is durable: a cache of the log's
    -- last event, for listing; the log itself stays the truth.
    ended_at     timestamptz,
    state_digest text
);
CREATE INDEX sessions_room_open ON sessions (room_id) WHERE ended_at IS NULL;

CREATE TABLE events (
    session_id     uuid     NOT NULL REFERENCES sessions (session_id),
    seq            bigint   NOT NULL CHECK (seq > 0),
    room_id        text     NOT NULL,
    ts_ms          bigint   NOT NULL,
    event_type     text     NOT NULL,
    schema_version smallint NOT NULL,
    causation_seq  bigint,
    payload        jsonb    NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX events_room_ts ON events (room_id, ts_ms);

-- No UPDATE or DELETE of events, ever.
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events refused', TG_OP;
END;
$$;
CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Room ownership: a node holds a room while its lease is fresh; another node
-- takes the room over (by replaying its log) once the lease has expired.
CREATE TABLE room_leases (
    room_id    text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
