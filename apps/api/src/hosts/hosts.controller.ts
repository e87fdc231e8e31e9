import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { HostRecord } from '@natplane/persistence';
import { Access } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { adminLink, baseView } from '../common/views';
import { HostCreatedDto, HostDto, HostInputDto, HostListDto, HostPatchDto, HostState } from './hosts.dto';
import { HostsService } from './hosts.service';

/** Consecutive failed pushes after which a host is UNREACHABLE. */
export const UNREACHABLE_AFTER_FAILURES = 3;

@ApiTags('admin')
@ApiBearerAuth()
@Access('admin')
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/admin/hosts')
export class HostsController {
  constructor(private readonly svc: HostsService) {}

  @Post()
  @ApiIdempotencyKey({ secrets: ['hostToken', 'pushSecret'] })
  @HttpCode(201)
  @ApiOperation({ operationId: 'hosts_create', summary: 'Register a host (returns hostToken and pushSecret once)' })
  async create(@Body() body: HostInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<HostCreatedDto> {
    const { host, hostToken, pushSecret } = await this.svc.create(body);
    const view = hostView(host, base);
    void reply.header('location', view.selfLink);
    return { ...view, hostToken, pushSecret };
  }

  @Get(':name')
  @ApiOperation({ operationId: 'hosts_get', summary: 'Get a host and its programming status' })
  async get(@Param('name') name: string, @BaseUrl() base: string): Promise<HostDto> {
    return hostView(await this.svc.get(name), base);
  }

  @Get()
  @ApiOperation({ operationId: 'hosts_list', summary: 'List hosts' })
  async list(@Query() q: ListQuery, @BaseUrl() base: string): Promise<HostListDto> {
    return listResponse(await this.svc.list(listRequest(q)), (r) => hostView(r, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'hosts_patch', summary: 'Update a host (JSON merge patch)' })
  @ApiMergePatchBody(HostPatchDto, 'RFC 7396 merge patch of the host')
  @ApiIfMatch()
  async patch(@Param('name') name: string, @Body() patch: Record<string, unknown>, @Headers('if-match') ifMatch: string | undefined, @BaseUrl() base: string): Promise<HostDto> {
    return hostView(await this.svc.patch(name, patch, ifMatch), base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'hosts_delete', summary: 'Delete a host (409 while endpoints are placed on it)' })
  async delete(@Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(name, ifMatch);
  }
}

/**
 * READY when the host applied its desired generation; UNREACHABLE after consecutive pushes that
 * got no answer (a host that answers, even with a refusal, is reachable: its refusal is in
 * lastError); STALE otherwise.
 */
export function hostState(h: HostRecord): HostState {
  if (h.pushFailures >= UNREACHABLE_AFTER_FAILURES && h.lastPushStatus === null) return HostState.UNREACHABLE;
  return h.appliedGeneration >= h.desiredGeneration ? HostState.READY : HostState.STALE;
}

export function hostView(h: HostRecord, base: string): HostDto {
  return Object.assign(baseView(h, adminLink(base, 'hosts', h.name)), {
    region: h.region,
    zone: h.zone,
    agentUrl: h.agentUrl,
    status: {
      state: hostState(h),
      desiredGeneration: h.desiredGeneration,
      appliedGeneration: h.appliedGeneration,
      lastReportTime: h.lastReportTime ? h.lastReportTime.toISOString() : null,
      lastError: h.lastError,
    },
  });
}
