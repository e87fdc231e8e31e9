import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hosts shared by networks (docs/host-protocol.md, "Hosts shared by networks"): an endpoint may
 * name the host-side device of its NIC (`host_interface`), and two endpoints of different
 * networks may then share an address on one host. The trigger refuses what a host could not tell
 * apart: an address (or an overlapping alias range) already used on the host by an endpoint on the
 * same device or by one that names no device, and a device already named by another endpoint.
 *
 * The check runs under a per-host advisory lock held until the writing transaction ends, and its
 * queries see what was committed before the lock was granted (a trigger function's statements take
 * fresh snapshots under READ COMMITTED): two concurrent writes on one host cannot both pass. The
 * error is a unique violation of the pseudo-constraint `endpoints_host_sources`, whose detail (JSON)
 * names the endpoint in the way, for the api to explain.
 *
 * Rows written before this migration are not checked (a host may already hold such a pair): the
 * host document leaves the newer endpoint of a colliding pair out.
 */
export class HostInterfaces1765000000000 implements MigrationInterface {
  name = 'HostInterfaces1765000000000';

  async up(db: QueryRunner): Promise<void> {
    for (const statement of [
      `ALTER TABLE "endpoints" ADD "host_interface" text`,
      `CREATE INDEX "endpoints_host_id_network_ip_idx" ON "endpoints"  ("host_id", "network_ip") `,
      `CREATE INDEX "endpoints_host_id_aliased_idx" ON "endpoints"  ("host_id") WHERE "alias_ip_ranges" <> '[]'::jsonb`,
      `CREATE UNIQUE INDEX "endpoints_host_id_host_interface_key" ON "endpoints"  ("host_id", "host_interface") WHERE "host_interface" IS NOT NULL`,
      `ALTER TABLE "endpoints" ADD CONSTRAINT "endpoints_host_interface_check" CHECK ("host_interface" ~ '^[A-Za-z0-9_.@+-]{1,15}$' AND "host_interface" NOT IN ('.', '..'))`,
      `CREATE FUNCTION natplane_endpoint_host_sources() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         other uuid;
         what text;
       BEGIN
         PERFORM pg_advisory_xact_lock(hashtext('host-sources:' || NEW.host_id::text));
         IF NEW.host_interface IS NOT NULL THEN
           SELECT e.id INTO other FROM endpoints e
            WHERE e.host_id = NEW.host_id AND e.host_interface = NEW.host_interface AND e.id <> NEW.id LIMIT 1;
           IF FOUND THEN what := 'hostInterface'; END IF;
         END IF;
         IF other IS NULL THEN
           -- the same address
           SELECT e.id INTO other FROM endpoints e
            WHERE e.host_id = NEW.host_id AND e.network_ip = NEW.network_ip AND e.id <> NEW.id
              AND (NEW.host_interface IS NULL OR e.host_interface IS NULL OR e.host_interface = NEW.host_interface) LIMIT 1;
           IF FOUND THEN what := 'networkIp'; END IF;
         END IF;
         IF other IS NULL THEN
           -- an alias range of another endpoint holds this address or overlaps these ranges
           SELECT e.id INTO other FROM endpoints e, jsonb_array_elements(e.alias_ip_ranges) a
            WHERE e.host_id = NEW.host_id AND e.alias_ip_ranges <> '[]'::jsonb AND e.id <> NEW.id
              AND (NEW.host_interface IS NULL OR e.host_interface IS NULL OR e.host_interface = NEW.host_interface)
              AND ((a->>'ipCidrRange')::cidr >>= NEW.network_ip
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(NEW.alias_ip_ranges) b WHERE (b->>'ipCidrRange')::cidr && (a->>'ipCidrRange')::cidr))
            LIMIT 1;
           IF FOUND THEN what := 'aliasIpRanges'; END IF;
         END IF;
         IF other IS NULL AND NEW.alias_ip_ranges <> '[]'::jsonb THEN
           -- these ranges hold another endpoint's address
           SELECT e.id INTO other FROM endpoints e, jsonb_array_elements(NEW.alias_ip_ranges) b
            WHERE e.host_id = NEW.host_id AND e.id <> NEW.id AND (b->>'ipCidrRange')::cidr >>= e.network_ip
              AND (NEW.host_interface IS NULL OR e.host_interface IS NULL OR e.host_interface = NEW.host_interface)
            LIMIT 1;
           IF FOUND THEN what := 'aliasIpRanges'; END IF;
         END IF;
         IF other IS NOT NULL THEN
           RAISE EXCEPTION 'the endpoint''s sources collide on its host with endpoint %', other
             USING ERRCODE = 'unique_violation', CONSTRAINT = 'endpoints_host_sources',
                   DETAIL = json_build_object('field', what, 'endpoint', other)::text;
         END IF;
         RETURN NEW;
       END $$`,
      // BEFORE: it runs ahead of the unique index, so a device named twice gets the same explanation
      `CREATE TRIGGER endpoints_host_sources BEFORE INSERT OR UPDATE OF host_id, network_ip, host_interface, alias_ip_ranges ON endpoints
         FOR EACH ROW EXECUTE FUNCTION natplane_endpoint_host_sources()`,
    ]) {
      await db.query(statement);
    }
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TRIGGER IF EXISTS endpoints_host_sources ON "endpoints"');
    await db.query('DROP FUNCTION IF EXISTS natplane_endpoint_host_sources()');
    await db.query('ALTER TABLE "endpoints" DROP CONSTRAINT IF EXISTS "endpoints_host_interface_check"');
    for (const i of ['endpoints_host_id_host_interface_key', 'endpoints_host_id_aliased_idx', 'endpoints_host_id_network_ip_idx']) await db.query(`DROP INDEX IF EXISTS "${i}"`);
    await db.query('ALTER TABLE "endpoints" DROP COLUMN IF EXISTS "host_interface"');
  }
}
