import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { EndpointRecord } from '@natplane/persistence';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { baseView, projectLink } from '../common/views';
import { EndpointDto, EndpointInputDto, EndpointListDto, EndpointPatchDto } from './endpoints.dto';
import { EndpointsService } from './endpoints.service';

@ApiTags('endpoints')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/projects/:project/endpoints')
export class EndpointsController {
  constructor(private readonly svc: EndpointsService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'endpoints_create', summary: 'Create an endpoint (a VM network interface)' })
  async create(@Project() p: ProjectScope, @Body() body: EndpointInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<EndpointDto> {
    const view = endpointView(await this.svc.create(p, body), p, base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'endpoints_get', summary: 'Get an endpoint' })
  async get(@Project() p: ProjectScope, @Param('name') name: string, @BaseUrl() base: string): Promise<EndpointDto> {
    return endpointView(await this.svc.get(p, name), p, base);
  }

  @Get()
  @ApiOperation({ operationId: 'endpoints_list', summary: 'List endpoints (filter fields: subnet, host, networkIp)' })
  async list(@Project() p: ProjectScope, @Query() q: ListQuery, @BaseUrl() base: string): Promise<EndpointListDto> {
    return listResponse(await this.svc.list(p, listRequest(q)), (r) => endpointView(r, p, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'endpoints_patch', summary: 'Update an endpoint (JSON merge patch); PATCH host moves the VM' })
  @ApiMergePatchBody(EndpointPatchDto, 'RFC 7396 merge patch of the endpoint')
  @ApiIfMatch()
  async patch(
    @Project() p: ProjectScope,
    @Param('name') name: string,
    @Body() patch: Record<string, unknown>,
    @Headers('if-match') ifMatch: string | undefined,
    @BaseUrl() base: string,
  ): Promise<EndpointDto> {
    return endpointView(await this.svc.patch(p, name, patch, ifMatch), p, base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'endpoints_delete', summary: 'Delete an endpoint' })
  async delete(@Project() p: ProjectScope, @Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(p, name, ifMatch);
  }
}

export function endpointView(r: EndpointRecord, p: ProjectScope, base: string): EndpointDto {
  return Object.assign(baseView(r, projectLink(base, p.name, 'endpoints', r.name)), {
    subnet: r.subnetName,
    host: r.hostName,
    hostInterface: r.hostInterface,
    networkIp: r.networkIp,
    aliasIpRanges: r.aliasIpRanges,
    canIpForward: r.canIpForward,
    forwardedIpRanges: r.forwardedIpRanges,
  });
}
