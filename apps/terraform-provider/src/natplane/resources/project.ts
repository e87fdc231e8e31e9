import { adminResource } from '../kit';

/** natplane_project (operator): a tenant project. */
export const project = adminResource({
  typeName: 'natplane_project',
  kind: 'project',
  collection: 'projects',
  description: 'A tenant project (operator; needs the admin token).',
  schema: {},
});
