import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The initial schema. Generated from the entities with `cli.js diff`, then reviewed by hand:
 * - allocations_no_overlap: invariant 1 (no NAT IP and port held twice) enforced by PostgreSQL;
 *   inet_ops so that no extension is needed.
 * - allocation_history_lookup_idx (hand-written, not expressible in entities): GiST over NAT IP,
 *   port range and validity interval, for "who held IP:port at time T".
 * - gateway_id/endpoint_id on allocations carry no foreign key: blocks outlive their holders in
 *   quarantine.
 */
export class Initial1764064800000 implements MigrationInterface {
  name = 'Initial1764064800000';

  async up(db: QueryRunner): Promise<void> {
    for (const statement of [
      `CREATE TABLE "address_pools" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "region" text NOT NULL, "cidrs" cidr array NOT NULL, CONSTRAINT "address_pools_name_key" UNIQUE ("name"), CONSTRAINT "address_pools_pkey" PRIMARY KEY ("id"))`,
      `CREATE TABLE "projects" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "projects_name_key" UNIQUE ("name"), CONSTRAINT "projects_pkey" PRIMARY KEY ("id"))`,
      `CREATE TABLE "addresses" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "project_id" uuid NOT NULL, "region" text NOT NULL, "address" inet NOT NULL, "pool_id" uuid NOT NULL, "auto_allocated" boolean NOT NULL DEFAULT false, CONSTRAINT "addresses_address_key" UNIQUE ("address"), CONSTRAINT "addresses_project_id_name_key" UNIQUE ("project_id", "name"), CONSTRAINT "addresses_pkey" PRIMARY KEY ("id"))`,
      `CREATE TABLE "allocation_history" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "nat_ip" inet NOT NULL, "port_lo" integer NOT NULL, "port_hi" integer NOT NULL, "project_id" uuid NOT NULL, "project_name" text NOT NULL, "gateway_id" uuid NOT NULL, "gateway_name" text NOT NULL, "endpoint_id" uuid NOT NULL, "endpoint_name" text NOT NULL, "host_name" text NOT NULL, "source_ip" inet NOT NULL, "rule_number" integer NOT NULL, "state" text NOT NULL, "valid_from" TIMESTAMP WITH TIME ZONE NOT NULL, "valid_to" TIMESTAMP WITH TIME ZONE, CONSTRAINT "allocation_history_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "allocation_history_gateway_id_idx" ON "allocation_history"  ("gateway_id") `,
      `CREATE INDEX "allocation_history_endpoint_id_idx" ON "allocation_history"  ("endpoint_id") `,
      `CREATE TABLE "allocations" ("nat_ip" inet NOT NULL, "port_lo" integer NOT NULL, "port_hi" integer NOT NULL, "gateway_id" uuid NOT NULL, "endpoint_id" uuid NOT NULL, "rule_number" integer NOT NULL, "state" text NOT NULL, "since" TIMESTAMP WITH TIME ZONE NOT NULL, "quarantine_sec" integer NOT NULL DEFAULT '120', "until" TIMESTAMP WITH TIME ZONE, CONSTRAINT "allocations_no_overlap" EXCLUDE USING gist ("nat_ip" inet_ops WITH =, int4range("port_lo", "port_hi", '[]') WITH &&), CONSTRAINT "allocations_pkey" PRIMARY KEY ("nat_ip", "port_lo"))`,
      `CREATE INDEX "allocations_gateway_id_idx" ON "allocations"  ("gateway_id") `,
      `CREATE INDEX "allocations_endpoint_id_idx" ON "allocations"  ("endpoint_id") `,
      `CREATE TABLE "endpoint_usage" ("endpoint_id" uuid NOT NULL, "rule_number" integer NOT NULL, "ports_in_use" integer NOT NULL, "reported_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "endpoint_usage_pkey" PRIMARY KEY ("endpoint_id", "rule_number", "reported_at"))`,
      `CREATE TABLE "hosts" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "region" text NOT NULL, "zone" text NOT NULL, "agent_url" text NOT NULL, "push_secret" text NOT NULL, "desired_generation" bigint NOT NULL DEFAULT '1', "applied_generation" bigint NOT NULL DEFAULT '0', "last_report_time" TIMESTAMP WITH TIME ZONE, "last_push_time" TIMESTAMP WITH TIME ZONE, "last_error" text, "push_failures" integer NOT NULL DEFAULT '0', CONSTRAINT "hosts_name_key" UNIQUE ("name"), CONSTRAINT "hosts_pkey" PRIMARY KEY ("id"))`,
      `CREATE TABLE "networks" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "project_id" uuid NOT NULL, CONSTRAINT "networks_project_id_name_key" UNIQUE ("project_id", "name"), CONSTRAINT "networks_pkey" PRIMARY KEY ("id"))`,
      `CREATE TABLE "subnets" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "project_id" uuid NOT NULL, "network_id" uuid NOT NULL, "region" text NOT NULL, "ip_cidr_range" cidr NOT NULL, "secondary_ip_ranges" jsonb NOT NULL DEFAULT '[]', CONSTRAINT "subnets_project_id_name_key" UNIQUE ("project_id", "name"), CONSTRAINT "subnets_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "subnets_network_id_idx" ON "subnets"  ("network_id") `,
      `CREATE TABLE "endpoints" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "project_id" uuid NOT NULL, "subnet_id" uuid NOT NULL, "network_id" uuid NOT NULL, "host_id" uuid NOT NULL, "network_ip" inet NOT NULL, "alias_ip_ranges" jsonb NOT NULL DEFAULT '[]', CONSTRAINT "endpoints_network_id_network_ip_key" UNIQUE ("network_id", "network_ip"), CONSTRAINT "endpoints_project_id_name_key" UNIQUE ("project_id", "name"), CONSTRAINT "endpoints_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "endpoints_subnet_id_idx" ON "endpoints"  ("subnet_id") `,
      `CREATE INDEX "endpoints_host_id_idx" ON "endpoints"  ("host_id") `,
      `CREATE TABLE "nat_gateways" ("id" uuid NOT NULL, "name" text COLLATE "C" NOT NULL, "description" text NOT NULL DEFAULT '', "labels" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "project_id" uuid NOT NULL, "network_id" uuid NOT NULL, "region" text NOT NULL, "spec" jsonb NOT NULL, "generation" bigint NOT NULL DEFAULT '1', "observed_generation" bigint NOT NULL DEFAULT '0', "state" text NOT NULL DEFAULT 'PROVISIONING', "status_message" text NOT NULL DEFAULT '', "nat_status" jsonb, CONSTRAINT "nat_gateways_project_id_name_key" UNIQUE ("project_id", "name"), CONSTRAINT "nat_gateways_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "nat_gateways_network_id_idx" ON "nat_gateways"  ("network_id") `,
      `CREATE TABLE "gateway_addresses" ("address_id" uuid NOT NULL, "gateway_id" uuid NOT NULL, "rule_number" integer NOT NULL, "draining" boolean NOT NULL, CONSTRAINT "gateway_addresses_pkey" PRIMARY KEY ("address_id"))`,
      `CREATE INDEX "gateway_addresses_gateway_id_idx" ON "gateway_addresses"  ("gateway_id") `,
      `CREATE TABLE "gateway_subnets" ("gateway_id" uuid NOT NULL, "subnet_id" uuid NOT NULL, CONSTRAINT "gateway_subnets_pkey" PRIMARY KEY ("gateway_id", "subnet_id"))`,
      `CREATE INDEX "gateway_subnets_subnet_id_idx" ON "gateway_subnets"  ("subnet_id") `,
      `CREATE TABLE "idempotency_keys" ("scope" text NOT NULL, "key" text NOT NULL, "request_hash" text NOT NULL, "status_code" integer NOT NULL, "response_body" text NOT NULL, "response_headers" jsonb NOT NULL DEFAULT '{}', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("scope", "key"))`,
      `CREATE TABLE "api_tokens" ("id" uuid NOT NULL, "kind" text NOT NULL, "project_id" uuid, "host_id" uuid, "token_hash" bytea NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "api_tokens_token_hash_key" UNIQUE ("token_hash"), CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id"))`,
      `CREATE INDEX "api_tokens_project_id_idx" ON "api_tokens"  ("project_id") `,
      `CREATE INDEX "api_tokens_host_id_idx" ON "api_tokens"  ("host_id") `,
      `ALTER TABLE "addresses" ADD CONSTRAINT "addresses_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "addresses" ADD CONSTRAINT "addresses_pool_id_fkey" FOREIGN KEY ("pool_id") REFERENCES "address_pools"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "networks" ADD CONSTRAINT "networks_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "subnets" ADD CONSTRAINT "subnets_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "subnets" ADD CONSTRAINT "subnets_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "networks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "endpoints" ADD CONSTRAINT "endpoints_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "endpoints" ADD CONSTRAINT "endpoints_subnet_id_fkey" FOREIGN KEY ("subnet_id") REFERENCES "subnets"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "endpoints" ADD CONSTRAINT "endpoints_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "networks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "endpoints" ADD CONSTRAINT "endpoints_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_gateways" ADD CONSTRAINT "nat_gateways_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "nat_gateways" ADD CONSTRAINT "nat_gateways_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "networks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "gateway_addresses" ADD CONSTRAINT "gateway_addresses_address_id_fkey" FOREIGN KEY ("address_id") REFERENCES "addresses"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "gateway_addresses" ADD CONSTRAINT "gateway_addresses_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "gateway_subnets" ADD CONSTRAINT "gateway_subnets_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "gateway_subnets" ADD CONSTRAINT "gateway_subnets_subnet_id_fkey" FOREIGN KEY ("subnet_id") REFERENCES "subnets"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `CREATE TABLE "gateway_hosts" ("gateway_id" uuid NOT NULL, "host_id" uuid NOT NULL, "required_generation" bigint NOT NULL, "fingerprint" text NOT NULL DEFAULT '', "wait_host_id" uuid, "wait_generation" bigint, CONSTRAINT "gateway_hosts_pkey" PRIMARY KEY ("gateway_id", "host_id"))`,
      `CREATE INDEX "gateway_hosts_host_id_idx" ON "gateway_hosts"  ("host_id") `,
      `ALTER TABLE "gateway_hosts" ADD CONSTRAINT "gateway_hosts_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `ALTER TABLE "gateway_hosts" ADD CONSTRAINT "gateway_hosts_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      `CREATE INDEX "allocation_history_lookup_idx" ON "allocation_history" USING gist ("nat_ip" inet_ops, int4range("port_lo", "port_hi", '[]'), tstzrange("valid_from", "valid_to", '[)'))`,
    ]) {
      await db.query(statement);
    }
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['gateway_hosts', 'api_tokens', 'idempotency_keys', 'gateway_subnets', 'gateway_addresses', 'nat_gateways', 'endpoints', 'subnets', 'networks', 'hosts', 'endpoint_usage', 'allocations', 'allocation_history', 'addresses', 'projects', 'address_pools']) {
      await db.query(`DROP TABLE IF EXISTS "${table}" CASCADE`);
    }
  }
}
