import { str } from '../../framework/schema';
import { adminResource } from '../kit';

/** natplane_host (operator): a hypervisor host whose agent programs NAT for its VMs. */
export const host = adminResource({
  typeName: 'natplane_host',
  kind: 'host',
  collection: 'hosts',
  description: 'A hypervisor host whose agent programs NAT for its VMs (operator; admin token). Its agent\'s credentials are returned once, at creation.',
  schema: {
    region: str('The region. Changing it replaces the host.', { required: true, forceNew: true }),
    zone: str('The zone. Changing it replaces the host.', { required: true, forceNew: true }),
    agent_url: str('Where the worker pushes the host\'s document (the agent\'s AGENT_LISTEN).', { required: true }),
    state: str('READY, STALE or UNREACHABLE, as last reported.', { computed: true, read: (o) => (o.status as { state?: string } | undefined)?.state }),
    host_token: str('The agent\'s bearer token (NATPLANE_HOST_TOKEN); known only to the Terraform run that created the host.', { computed: true, sensitive: true, writeOnce: true }),
    push_secret: str('The secret that signs pushes to the agent (NATPLANE_PUSH_SECRET); known only to the run that created the host.', { computed: true, sensitive: true, writeOnce: true }),
  },
});
