import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Attribution history for a stated retention, in daily partitions (docs/attribution.md):
 *
 * - `allocation_history_open`: rows of blocks held now (small, rewritten all the time);
 * - `allocation_history_closed`: closed rows, PARTITION BY RANGE (piece_from), one partition per UTC
 *   day; a row spanning days is stored as one piece per day, each carrying the whole row's
 *   valid_from and valid_to, so a lookup at an instant reads one partition and a day ages out by
 *   dropping its partition (never a DELETE of millions of rows);
 * - `allocation_history_retention`: where kept history starts and the retention in force;
 * - `natplane_history_partition(day)`: makes one day's partition (the worker's maintenance makes
 *   them days ahead and drops those past the retention);
 * - the view `allocation_history`: whole rows, as the table was before, for people and tests.
 *
 * Existing rows are moved: open ones keep their ids, closed ones become pieces; days older than
 * the default retention (180 days) are not kept.
 */
const DEFAULT_RETENTION_DAYS = 180;
const AHEAD_DAYS = 14;
const COLUMNS = `"nat_ip" inet NOT NULL, "port_lo" integer NOT NULL, "port_hi" integer NOT NULL, "project_id" uuid NOT NULL, "project_name" text NOT NULL,
  "gateway_id" uuid NOT NULL, "gateway_name" text NOT NULL, "endpoint_id" uuid NOT NULL, "endpoint_name" text NOT NULL, "host_name" text NOT NULL,
  "source_ip" inet NOT NULL, "rule_number" integer NOT NULL, "state" text NOT NULL, "valid_from" TIMESTAMP WITH TIME ZONE NOT NULL`;
const ROW = 'nat_ip, port_lo, port_hi, project_id, project_name, gateway_id, gateway_name, endpoint_id, endpoint_name, host_name, source_ip, rule_number, state';

export class HistoryPartitions1765020000000 implements MigrationInterface {
  name = 'HistoryPartitions1765020000000';

  async up(db: QueryRunner): Promise<void> {
    for (const statement of [
      `CREATE TABLE "allocation_history_retention" ("id" boolean NOT NULL DEFAULT true, "kept_from" TIMESTAMP WITH TIME ZONE NOT NULL, "retention_days" integer NOT NULL,
         CONSTRAINT "allocation_history_retention_pkey" PRIMARY KEY ("id"))`,
      `INSERT INTO "allocation_history_retention" (id, kept_from, retention_days)
         VALUES (true, date_trunc('day', now() - interval '${DEFAULT_RETENTION_DAYS} days', 'UTC'), ${DEFAULT_RETENTION_DAYS})`,
      `CREATE TABLE "allocation_history_open" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, ${COLUMNS}, CONSTRAINT "allocation_history_open_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "allocation_history_open_gateway_id_idx" ON "allocation_history_open"  ("gateway_id") `,
      `CREATE INDEX "allocation_history_open_lookup_idx" ON "allocation_history_open" USING gist ("nat_ip" inet_ops, int4range("port_lo", "port_hi", '[]'), tstzrange("valid_from", NULL, '[)'))`,
      `CREATE TABLE "allocation_history_closed" ("id" bigint NOT NULL, ${COLUMNS}, "valid_to" TIMESTAMP WITH TIME ZONE NOT NULL,
         "piece_from" TIMESTAMP WITH TIME ZONE NOT NULL, "piece_to" TIMESTAMP WITH TIME ZONE NOT NULL) PARTITION BY RANGE ("piece_from")`,
      `CREATE INDEX "allocation_history_closed_lookup_idx" ON "allocation_history_closed" USING gist ("nat_ip" inet_ops, int4range("port_lo", "port_hi", '[]'), tstzrange("piece_from", "piece_to", '[)'))`,
      `CREATE FUNCTION natplane_history_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
       DECLARE
         name text := 'allocation_history_closed_p' || to_char(day, 'YYYYMMDD');
         lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
         hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
       BEGIN
         IF to_regclass(name) IS NOT NULL THEN RETURN false; END IF;
         -- made apart and attached (SHARE UPDATE EXCLUSIVE on the parent, lookups and inserts go on);
         -- the check constraint spares ATTACH its scan
         EXECUTE format('CREATE TABLE %I (LIKE allocation_history_closed INCLUDING DEFAULTS)', name);
         EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (piece_from >= %L AND piece_from < %L)', name, name || '_day', lo, hi);
         EXECUTE format('ALTER TABLE allocation_history_closed ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
         RETURN true;
       END $$`,
      // a partition for every kept day that has history, and the days ahead
      `SELECT natplane_history_partition(d::date)
         FROM generate_series(
           date_trunc('day', greatest((SELECT kept_from FROM allocation_history_retention), coalesce((SELECT min(valid_from) FROM allocation_history), now())), 'UTC') AT TIME ZONE 'UTC',
           (now() + interval '${AHEAD_DAYS} days') AT TIME ZONE 'UTC', interval '1 day') d`,
      // kept history starts with the first partition
      `UPDATE "allocation_history_retention" SET kept_from = (SELECT min(to_date(substring(c.relname from '_p(\\d{8})$'), 'YYYYMMDD'))::timestamp AT TIME ZONE 'UTC'
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'allocation_history_closed'::regclass)`,
      `INSERT INTO "allocation_history_open" (id, ${ROW}, valid_from) OVERRIDING SYSTEM VALUE
         SELECT id, ${ROW}, valid_from FROM "allocation_history" WHERE valid_to IS NULL`,
      `INSERT INTO "allocation_history_closed" (id, ${ROW}, valid_from, valid_to, piece_from, piece_to)
         SELECT r.id, ${ROW.split(', ')
           .map((c) => `r.${c}`)
           .join(', ')}, r.valid_from, r.valid_to, greatest(r.valid_from, d), least(r.valid_to, d + interval '24 hours')
         FROM "allocation_history" r, LATERAL generate_series(date_trunc('day', r.valid_from, 'UTC'), r.valid_to, interval '24 hours') d
         WHERE r.valid_to IS NOT NULL AND greatest(r.valid_from, d) < least(r.valid_to, d + interval '24 hours')
           AND d >= (SELECT kept_from FROM allocation_history_retention)`,
      `SELECT setval(pg_get_serial_sequence('allocation_history_open', 'id'), greatest(1, (SELECT coalesce(max(id), 0) FROM allocation_history)))`,
      `DROP TABLE "allocation_history"`,
      `CREATE VIEW "allocation_history" AS
         SELECT id, ${ROW}, valid_from, NULL::timestamptz AS valid_to FROM allocation_history_open
         UNION ALL
         SELECT DISTINCT ON (id) id, ${ROW}, valid_from, valid_to FROM allocation_history_closed`,
    ]) {
      await db.query(statement);
    }
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE "allocation_history_whole" AS SELECT * FROM "allocation_history"`);
    await db.query('DROP VIEW "allocation_history"');
    await db.query('DROP TABLE "allocation_history_closed"');
    await db.query('DROP TABLE "allocation_history_open"');
    await db.query('DROP TABLE "allocation_history_retention"');
    await db.query('DROP FUNCTION natplane_history_partition(date)');
    await db.query(`CREATE TABLE "allocation_history" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, ${COLUMNS}, "valid_to" TIMESTAMP WITH TIME ZONE, CONSTRAINT "allocation_history_pkey" PRIMARY KEY ("id"))`);
    await db.query(`INSERT INTO "allocation_history" (id, ${ROW}, valid_from, valid_to) OVERRIDING SYSTEM VALUE SELECT id, ${ROW}, valid_from, valid_to FROM "allocation_history_whole"`);
    await db.query('DROP TABLE "allocation_history_whole"');
    await db.query(`CREATE INDEX "allocation_history_gateway_id_idx" ON "allocation_history" ("gateway_id")`);
    await db.query(`CREATE INDEX "allocation_history_endpoint_id_idx" ON "allocation_history" ("endpoint_id")`);
    await db.query(
      `CREATE INDEX "allocation_history_lookup_idx" ON "allocation_history" USING gist ("nat_ip" inet_ops, int4range("port_lo", "port_hi", '[]'), tstzrange("valid_from", "valid_to", '[)'))`,
    );
  }
}
