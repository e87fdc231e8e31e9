import { IsString, IsUrl, Matches } from 'class-validator';
import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';

export const REGION_PATTERN = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A hypervisor host running a programmer (agent). */
export class HostInputDto extends ResourceInputDto {
  /** @example "europe-west1" */
  @IsString()
  @Matches(REGION_PATTERN, { message: 'must be a region name like europe-west1' })
  region!: string;

  /** @example "europe-west1-b" */
  @IsString()
  @Matches(REGION_PATTERN, { message: 'must be a zone name like europe-west1-b' })
  zone!: string;

  /**
   * Where the worker pushes the host's programming (`PUT {agentUrl}/v1/programming`).
   * @example "http://10.0.0.5:8081"
   */
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true }, { message: 'must be an http(s) URL' })
  agentUrl!: string;
}

/** An RFC 7396 merge patch of a host. */
export class HostPatchDto extends ResourcePatchDto {
  /** Immutable. */
  region?: string;
  /** Immutable. */
  zone?: string;
  /** A new address: the worker pushes the whole document there again. */
  agentUrl?: string;
}

export enum HostState {
  READY = 'READY',
  STALE = 'STALE',
  UNREACHABLE = 'UNREACHABLE',
}

export class HostStatusDto {
  /** READY: applied the latest document; STALE: behind (lastError says why when its programmer refused it); UNREACHABLE: pushes get no answer. */
  state!: HostState;
  desiredGeneration!: number;
  appliedGeneration!: number;
  /** RFC 3339, null before the first report. */
  lastReportTime!: string | null;
  lastError!: string | null;
}

export class HostDto extends ResourceDto {
  region!: string;
  zone!: string;
  agentUrl!: string;
  status!: HostStatusDto;
}

export class HostCreatedDto extends HostDto {
  /** Bearer token for the host's agent routes, shown once. */
  hostToken!: string;
  /** HMAC-SHA256 key of pushes to the agent, shown once. */
  pushSecret!: string;
}

export class HostListDto {
  items!: HostDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
