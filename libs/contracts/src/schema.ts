/**
 * The JSON Schemas (draft 2020-12) of the natplane.host/v1 wire formats, for programmers written
 * in other languages and for tools. The files in ../schema are the artifact (written by hand: no
 * generator is installed); schema.spec.ts fails when they disagree with the TypeScript types of
 * this library, with the document natplane builds, or with what the API and the agent accept.
 * docs/host-protocol.md explains every field.
 */
import hostDocumentPatchSchema from '../schema/host-document-patch.schema.json';
import hostDocumentSchema from '../schema/host-document.schema.json';
import hostReportSchema from '../schema/host-report.schema.json';

export { hostDocumentPatchSchema, hostDocumentSchema, hostReportSchema };

/** Every schema, for a validator that resolves their cross-references by $id. */
export const HOST_PROTOCOL_SCHEMAS = [hostDocumentSchema, hostDocumentPatchSchema, hostReportSchema] as const;
