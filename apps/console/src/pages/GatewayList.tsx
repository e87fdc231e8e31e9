/** The project's NAT gateways: state (text and glyph), hosts programmed, links to each page. */
import { useEffect, useState } from 'react';
import type { NatGateway } from '@natplane/sdk';
import type { Api } from '../api';
import { ErrorBanner, Loading, StateBadge } from '../ui';

export function GatewayList({ api }: { api: Api }) {
  const [items, setItems] = useState<NatGateway[] | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api.natGateways.list().then(setItems, setError);
  }, [api]);
  return (
    <>
      <h1>NAT gateways</h1>
      <p>
        <a href="#/gateways/new" className="button">
          Create a NAT gateway
        </a>
      </p>
      <ErrorBanner error={error} />
      {!items && !error && <Loading what="gateways" />}
      {items && (
        <table>
          <caption>
            {items.length} gateway{items.length === 1 ? '' : 's'}
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Network</th>
              <th scope="col">Region</th>
              <th scope="col">NAT IPs</th>
              <th scope="col">State</th>
              <th scope="col">Hosts programmed</th>
            </tr>
          </thead>
          <tbody>
            {items.map((g) => (
              <tr key={g.name} data-testid={`row-${g.name}`}>
                <td>
                  <a href={`#/gateways/${encodeURIComponent(g.name)}`}>{g.name}</a>
                </td>
                <td>{g.network}</td>
                <td>{g.region}</td>
                <td>{g.natIpAllocateOption === 'AUTO_ONLY' ? 'automatic' : g.natIps.join(', ')}</td>
                <td>
                  <StateBadge state={g.status.state} />
                </td>
                <td>
                  {g.status.hostsProgrammed} of {g.status.hostsTotal}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
