-- Fencing tokens for room leases: every taking of a lease (a new owner, or a
-- new instance of the room on the same node) draws a new epoch from this
-- sequence, so an epoch is never reused. A room appends under its epoch, and
-- the log writer writes only rows whose room's lease still has that epoch:
-- an old owner's late appends are refused once another node took the room.
CREATE SEQUENCE room_lease_epochs;
ALTER TABLE room_leases ADD COLUMN epoch bigint NOT NULL DEFAULT nextval('room_lease_epochs');
