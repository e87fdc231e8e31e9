import { basename } from 'node:path';
import { kernelTestsUnavailable } from '../../../libs/nftables/src/testing/netns';
import { ebpfProblem } from '../../../apps/host-agent/src/ebpf/loader-client';

export type PacketBackend = 'nftables' | 'ebpf';

/**
 * A packet test's describe (skipped, saying why, where `tools` or root are missing) and the
 * backends each of its cases runs once against: nftables, and eBPF where it is built
 * (docs/ebpf-backend.md; where it is not, the test says why it is left out).
 */
export function packetTestBackends(file: string, tools: string[]): { describeKernel: jest.Describe; backends: PacketBackend[] } {
  const name = basename(file).replace(/\.ts$/, '');
  const unavailable = kernelTestsUnavailable(tools);
  if (unavailable) console.warn(`${name} skipped: ${unavailable} (it needs root and nftables to build network namespaces and program them)`);
  const noEbpf = unavailable ? undefined : ebpfProblem();
  if (noEbpf) console.warn(`${name}: the eBPF backend is not tested: ${noEbpf}`);
  return { describeKernel: unavailable ? describe.skip : describe, backends: noEbpf ? ['nftables'] : ['nftables', 'ebpf'] };
}
