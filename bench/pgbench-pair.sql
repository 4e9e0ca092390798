-- SPDX-License-Identifier: ISC
-- The bare SQL of one pairtok issue + redeem pair, for pgbench (scripts/bench-pg):
-- an INSERT of one token row, then a DELETE ... RETURNING of the same row,
-- each statement its own transaction (autocommit), as pairtok's two calls are.
-- The hash is the SHA-256 of a random number, so that each pgbench
-- transaction addresses a row of its own.
\set r random(1, 9000000000000000000)
INSERT INTO bench_token (token_hash, principal, label, issued_at, expires_at) VALUES (encode(sha256(:r::bigint::text::bytea), 'hex'), 'user' || (:r::bigint % 997), 'bench', now(), now() + interval '600 seconds');
DELETE FROM bench_token WHERE token_hash = encode(sha256(:r::bigint::text::bytea), 'hex') AND expires_at > now() RETURNING principal;
