/**
 * The JSON Schemas (draft 2020-12) of the natplane.host/v1 wire formats, for programmers written
 * in other languages and for tools, and the source of record: the agent's shape check is compiled
 * from them (shape.ts). The files in ../schema are written by hand; schema.spec.ts fails when they
 * disagree with the TypeScript types of this library, with the API's OpenAPI classes, with the
 * document natplane builds, or with what the API and the agent accept.
 * docs/host-protocol.md explains every field.
 */
import hostDocumentPatchSchema from '../schema/host-document-patch.schema.json';
import hostDocumentSchema from '../schema/host-document.schema.json';
import hostReportSchema from '../schema/host-report.schema.json';

export { hostDocumentPatchSchema, hostDocumentSchema, hostReportSchema };

/** Every schema, for a validator that resolves their cross-references by $id. */
export const HOST_PROTOCOL_SCHEMAS = [hostDocumentSchema, hostDocumentPatchSchema, hostReportSchema] as const;
