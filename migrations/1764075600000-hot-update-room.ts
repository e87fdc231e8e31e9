import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Room for HOT updates on the rows the control loop rewrites all the time: a gateway's row
 * (generation bumped by every endpoint write, status written by every reconcile), a host's row
 * (desired and applied generations) and the gateway-host states. With free space left in each
 * page, PostgreSQL writes the new version of a row beside the old one, without new index entries,
 * and reclaims the old versions when it next reads the page, even before (or without) a vacuum.
 * Measured in the convergence benchmark (12,000 endpoint creations in 60 s, this server runs
 * without autovacuum): the 20 gateway rows had grown to 1,837 pages, which every bump's scan
 * read. Affects pages written from now on (an existing table keeps its layout until rewritten).
 * Storage parameters only: entities do not describe them, so the schema drift check is
 * unaffected.
 */
export class HotUpdateRoom1764075600000 implements MigrationInterface {
  name = 'HotUpdateRoom1764075600000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE "nat_gateways" SET (fillfactor = 20)');
    await db.query('ALTER TABLE "hosts" SET (fillfactor = 50)');
    await db.query('ALTER TABLE "gateway_hosts" SET (fillfactor = 70)');
  }

  async down(db: QueryRunner): Promise<void> {
    for (const t of ['nat_gateways', 'hosts', 'gateway_hosts']) await db.query(`ALTER TABLE "${t}" RESET (fillfactor)`);
  }
}
