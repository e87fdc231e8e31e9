/**
 * One NAT gateway: its state and hosts programmed (the resource's status), its NAT status
 * (GET .../status: minExtraNatIpsNeeded, endpoints with and without mappings, rules), the port
 * space of each NAT IP, its traffic (ports in use against allocated, drops by reason: charts of the
 * time series), and the mappings with a search by endpoint. Refreshed every 2 s.
 */
import { useCallback, useEffect, useState } from 'react';
import type { NatGateway, NatMapping, NatStatus, TimeSeries } from '@natplane/sdk';
import type { Api } from '../api';
import { navigate } from '../App';
import { ErrorBanner, Loading, StateBadge } from '../ui';
import { PortSpace } from './PortSpace';
import { TrafficCharts } from './TrafficCharts';

const REFRESH_MS = 2000;

export function GatewayPage({ api, name }: { api: Api; name: string }) {
  const [gw, setGw] = useState<NatGateway | undefined>();
  const [status, setStatus] = useState<NatStatus | undefined>();
  const [mappings, setMappings] = useState<NatMapping[] | undefined>();
  const [series, setSeries] = useState<TimeSeries | undefined>();
  const [error, setError] = useState<unknown>();
  const [search, setSearch] = useState('');
  const [confirming, setConfirming] = useState(false);

  const load = useCallback(async () => {
    try {
      const [g, s, m, ts] = await Promise.all([api.natGateways.get(name), api.gatewayStatus(name), api.gatewayMappings(name), api.gatewayTimeSeries(name, 6)]);
      setGw(g);
      setSeries(ts);
      setStatus(s);
      setMappings(m);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }, [api, name]);

  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(t);
  }, [load]);

  const remove = async () => {
    if (!gw) return;
    try {
      await api.natGateways.remove(gw.name, gw.etag);
      navigate('/gateways');
    } catch (e) {
      setError(e);
    }
  };

  if (!gw || !status || !mappings) {
    return error ? <ErrorBanner error={error} /> : <Loading what={`gateway ${name}`} />;
  }
  const st = gw.status;
  const q = search.trim().toLowerCase();
  const shown = q ? mappings.filter((m) => m.endpoint.toLowerCase().includes(q)) : mappings;
  const ips = (label: string, list: string[]) =>
    list.length > 0 && (
      <>
        <dt>{label}</dt>
        <dd>{list.join(', ')}</dd>
      </>
    );

  return (
    <>
      <h1>
        NAT gateway {gw.name} <StateBadge state={st.state} />
      </h1>
      <ErrorBanner error={error} />
      <p className="buttons">
        <a className="button" href={`#/gateways/${encodeURIComponent(gw.name)}/edit`}>
          Edit
        </a>
        {confirming ? (
          <>
            <button type="button" className="danger" onClick={() => void remove()}>
              Confirm delete of {gw.name}
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Delete
          </button>
        )}
      </p>

      <section aria-labelledby="state-title" className="card">
        <h2 id="state-title">State</h2>
        <dl className="grid" data-testid="gateway-state">
          <dt>State</dt>
          <dd data-testid="gateway-state-value">{st.state}</dd>
          <dt>Hosts programmed</dt>
          <dd data-testid="hosts-programmed">
            {st.hostsProgrammed} of {st.hostsTotal}
          </dd>
          <dt>Generation</dt>
          <dd>
            {gw.generation} (computed: {st.observedGeneration})
          </dd>
          {st.message && (
            <>
              <dt>Message</dt>
              <dd>{st.message}</dd>
            </>
          )}
          <dt>Extra NAT IPs needed</dt>
          <dd data-testid="min-extra">{status.minExtraNatIpsNeeded}</dd>
          <dt>Endpoints with mappings</dt>
          <dd>{status.numVmEndpointsWithNatMappings}</dd>
          <dt>Endpoints without mappings</dt>
          <dd>{status.numVmEndpointsWithoutNatMappings}</dd>
          {ips('NAT IPs (yours)', status.userAllocatedNatIps)}
          {ips('NAT IPs (automatic)', status.autoAllocatedNatIps)}
          {ips('Draining (yours)', status.drainUserAllocatedNatIps)}
          {ips('Draining (automatic)', status.drainAutoAllocatedNatIps)}
        </dl>
        {status.ruleStatus.length > 0 && (
          <table>
            <caption>Rules</caption>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Active NAT IPs</th>
                <th scope="col">Draining NAT IPs</th>
                <th scope="col">NAT ranges</th>
                <th scope="col">Extra IPs needed</th>
              </tr>
            </thead>
            <tbody>
              {status.ruleStatus.map((r) => (
                <tr key={r.ruleNumber}>
                  <td>{r.ruleNumber}</td>
                  <td>{r.activeNatIps.join(', ')}</td>
                  <td>{r.drainNatIps.join(', ')}</td>
                  <td data-testid={`rule-ranges-${r.ruleNumber}`}>{(gw.rules.find((x) => x.ruleNumber === r.ruleNumber)?.action.sourceNatActiveRanges ?? []).join(', ')}</td>
                  <td>{r.minExtraIpsNeeded}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {status.drains.length > 0 && (
          <table data-testid="drains">
            <caption>Drains</caption>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">NAT IP</th>
                <th scope="col">Rule</th>
                <th scope="col">Draining since</th>
                <th scope="col">Ends by itself at</th>
              </tr>
            </thead>
            <tbody>
              {status.drains.map((d) => (
                <tr key={`${d.ruleNumber}/${d.address}`}>
                  <td>{d.address}</td>
                  <td>{d.natIp}</td>
                  <td>{d.ruleNumber === -1 ? 'default' : d.ruleNumber}</td>
                  <td>{new Date(d.drainStartTime).toLocaleString()}</td>
                  <td>{d.drainDeadline ? new Date(d.drainDeadline).toLocaleString() : 'no deadline (maxDrainDurationSec 0)'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="ports-title" className="card">
        <h2 id="ports-title">Port space of each NAT IP</h2>
        <PortSpace status={status} mappings={mappings} />
      </section>

      <section aria-labelledby="traffic-title" className="card">
        <h2 id="traffic-title">Traffic and drops</h2>
        {series && <TrafficCharts series={series} traffic={status.traffic} />}
      </section>

      <section aria-labelledby="mappings-title" className="card">
        <h2 id="mappings-title">Mappings</h2>
        <label htmlFor="mapping-search">Search mappings by endpoint</label>
        <input id="mapping-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} aria-controls="mappings-table" />
        <table id="mappings-table">
          <caption>
            {shown.length} of {mappings.length} endpoints
          </caption>
          <thead>
            <tr>
              <th scope="col">Endpoint</th>
              <th scope="col">Host</th>
              <th scope="col">Source IP</th>
              <th scope="col">NAT IP and ports</th>
              <th scope="col">Ports</th>
              <th scope="col">Draining</th>
              <th scope="col">Rules</th>
              <th scope="col">In use</th>
              <th scope="col">Open</th>
              <th scope="col">Dropped</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((m) => (
              <tr key={m.endpoint} data-testid={`mapping-${m.endpoint}`}>
                <td>{m.endpoint}</td>
                <td>{m.host}</td>
                <td>
                  {m.sourceVirtualIp}
                  {m.sourceAliasIpRange ? `, ${m.sourceAliasIpRange}` : ''}
                </td>
                <td>{m.natIpPortRanges.join(', ') || 'none'}</td>
                <td>{m.numTotalNatPorts}</td>
                <td>{m.drainNatIpPortRanges.join(', ') || '—'}</td>
                <td>{m.ruleMappings.map((r) => `${r.ruleNumber}: ${r.natIpPortRanges.join(', ') || 'none'}`).join('; ') || '—'}</td>
                <td>{m.traffic.portsInUse}</td>
                <td>{m.traffic.openConnections ?? '—'}</td>
                <td>{m.traffic.droppedSentPackets.OUT_OF_RESOURCES ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="settings-title" className="card">
        <h2 id="settings-title">Settings</h2>
        <dl className="grid">
          <dt>Network / region</dt>
          <dd>
            {gw.network} / {gw.region}
          </dd>
          <dt>Type</dt>
          <dd data-testid="gateway-type">{gw.type === 'PRIVATE' ? 'PRIVATE (Private NAT: only the rules\' destinations are translated)' : 'PUBLIC'}</dd>
          <dt>NAT IP allocation</dt>
          <dd>{gw.natIpAllocateOption}</dd>
          <dt>Max drain duration</dt>
          <dd data-testid="max-drain">{gw.maxDrainDurationSec > 0 ? `${gw.maxDrainDurationSec} s` : 'no deadline'}</dd>
          <dt>Source ranges</dt>
          <dd>{gw.sourceSubnetworkIpRangesToNat}</dd>
          <dt>Ports per VM</dt>
          <dd data-testid="ports-per-vm">
            min {gw.minPortsPerVm}
            {gw.enableDynamicPortAllocation ? `, max ${gw.maxPortsPerVm} (dynamic)` : ' (static)'}
          </dd>
          <dt>Endpoint-independent mapping</dt>
          <dd>{gw.enableEndpointIndependentMapping ? 'on' : 'off'}</dd>
          <dt>Timeouts (s)</dt>
          <dd>
            UDP {gw.udpIdleTimeoutSec}, ICMP {gw.icmpIdleTimeoutSec}, TCP established {gw.tcpEstablishedIdleTimeoutSec}, transitory {gw.tcpTransitoryIdleTimeoutSec}, TIME_WAIT{' '}
            {gw.tcpTimeWaitTimeoutSec}
          </dd>
          <dt>Logging</dt>
          <dd>{gw.logConfig.enable ? `on (${gw.logConfig.filter})` : 'off'}</dd>
        </dl>
      </section>
    </>
  );
}
