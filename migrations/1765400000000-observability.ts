import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Observability (docs/observability.md), generated with `cli.js diff` and reviewed by hand:
 * - nat_counter_state: the data-plane counters each host last reported per (endpoint, rule), to
 *   compute the next report's deltas;
 * - nat_counter_totals: the cumulative sums of those deltas per gateway and endpoint (the
 *   Prometheus counters; an endpoint's totals outlive it inside its gateway's sums);
 * - nat_metric_samples: the bounded time series per gateway and endpoint (1-minute buckets kept 6
 *   hours, 1-hour buckets kept 14 days);
 * - host_convergence: since when each host is behind its desired generation.
 * All additive: nothing existing changes.
 */
export class Observability1765400000000 implements MigrationInterface {
  name = 'Observability1765400000000';

  async up(db: QueryRunner): Promise<void> {
    for (const statement of [
      `CREATE TABLE "nat_counter_state" ("endpoint_id" uuid NOT NULL, "rule_number" integer NOT NULL, "host_id" uuid NOT NULL, "gateway_id" uuid NOT NULL, "since" TIMESTAMP WITH TIME ZONE NOT NULL, "read_at" TIMESTAMP WITH TIME ZONE NOT NULL, "reported_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_drop_at" TIMESTAMP WITH TIME ZONE, "new_connections" bigint, "open_connections" bigint, "sent_packets" bigint, "sent_bytes" bigint, "received_packets" bigint, "received_bytes" bigint, "dropped_out_of_resources" bigint, "dropped_endpoint_independence_conflict" bigint, "dropped_untranslatable_fragment" bigint, "dropped_untranslatable_protocol" bigint, CONSTRAINT "nat_counter_state_pkey" PRIMARY KEY ("endpoint_id", "rule_number", "host_id"))`,
      `CREATE INDEX "nat_counter_state_host_id_idx" ON "nat_counter_state"  ("host_id") `,
      `CREATE INDEX "nat_counter_state_gateway_id_idx" ON "nat_counter_state"  ("gateway_id") `,
      `CREATE TABLE "nat_counter_totals" ("gateway_id" uuid NOT NULL, "endpoint_id" uuid NOT NULL, "new_connections" bigint, "sent_packets" bigint, "sent_bytes" bigint, "received_packets" bigint, "received_bytes" bigint, "dropped_out_of_resources" bigint, "dropped_endpoint_independence_conflict" bigint, "dropped_untranslatable_fragment" bigint, "dropped_untranslatable_protocol" bigint, CONSTRAINT "nat_counter_totals_pkey" PRIMARY KEY ("gateway_id", "endpoint_id"))`,
      `CREATE TABLE "nat_metric_samples" ("gateway_id" uuid NOT NULL, "endpoint_id" uuid NOT NULL, "resolution_sec" integer NOT NULL, "bucket" TIMESTAMP WITH TIME ZONE NOT NULL, "allocated_ports" integer, "ports_in_use" integer, "endpoints_without_mapping" integer, "open_connections" bigint, "new_connections" bigint, "sent_packets" bigint, "sent_bytes" bigint, "received_packets" bigint, "received_bytes" bigint, "dropped_out_of_resources" bigint, "dropped_endpoint_independence_conflict" bigint, "dropped_untranslatable_fragment" bigint, "dropped_untranslatable_protocol" bigint, CONSTRAINT "nat_metric_samples_pkey" PRIMARY KEY ("gateway_id", "endpoint_id", "resolution_sec", "bucket"))`,
      `CREATE INDEX "nat_metric_samples_bucket_idx" ON "nat_metric_samples"  ("bucket") `,
      `CREATE TABLE "host_convergence" ("host_id" uuid NOT NULL, "behind_since" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "host_convergence_pkey" PRIMARY KEY ("host_id"))`,
      `ALTER TABLE "nat_counter_state" ADD CONSTRAINT "nat_counter_state_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "endpoints"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_counter_state" ADD CONSTRAINT "nat_counter_state_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_counter_state" ADD CONSTRAINT "nat_counter_state_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_counter_totals" ADD CONSTRAINT "nat_counter_totals_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_metric_samples" ADD CONSTRAINT "nat_metric_samples_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "host_convergence" ADD CONSTRAINT "host_convergence_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    ]) await db.query(statement);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['host_convergence', 'nat_metric_samples', 'nat_counter_totals', 'nat_counter_state']) await db.query(`DROP TABLE "${table}"`);
  }
}
