/**
 * What a resource or data source is to the provider: its schema and its operations on the API,
 * in terms of state objects. natplane/kit.ts builds these from a short declarative description
 * (the collection's path and the schema); the provider (provider.ts) does everything else.
 */
import type { NatplaneClient } from '@natplane/sdk';
import type { Diagnostic } from './diagnostics';
import type { Schema } from './schema';
import type { TfObject } from './values';

export type ApiObject = Record<string, unknown>;

export interface Context {
  client: NatplaneClient;
  /** The provider's default project (NATPLANE_PROJECT), if any. */
  project?: string;
  /** Aborted when Terraform asks the provider to stop (StopProvider, Ctrl-C). */
  signal: AbortSignal;
  log(msg: string): void;
}

export interface ResourceDef {
  typeName: string;
  description: string;
  schema: Schema;
  /** Creates the object described by the planned state; returns it as the API answered. */
  create(ctx: Context, planned: TfObject): Promise<ApiObject>;
  /** The object, or null when it no longer exists. */
  read(ctx: Context, state: TfObject): Promise<ApiObject | null>;
  /** Updates in place (a merge patch with If-Match); returns the object as the API answered. */
  update(ctx: Context, prior: TfObject, planned: TfObject): Promise<ApiObject>;
  delete(ctx: Context, state: TfObject): Promise<void>;
  /** The state an import ID stands for (the identifying attributes; ReadResource fills the rest). */
  importState(ctx: Context, id: string): TfObject;
  /** Extra checks on a configuration (each attribute's own `validate` runs anyway). */
  validate?(config: TfObject): Diagnostic[];
}

export interface DataSourceDef {
  typeName: string;
  description: string;
  schema: Schema;
  read(ctx: Context, config: TfObject): Promise<TfObject>;
}
