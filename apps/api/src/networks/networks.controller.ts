import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { NetworkRecord } from '@natplane/persistence';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { baseView, projectLink } from '../common/views';
import { NetworkDto, NetworkInputDto, NetworkListDto, NetworkPatchDto } from './networks.dto';
import { NetworksService } from './networks.service';

@ApiTags('networks')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/projects/:project/networks')
export class NetworksController {
  constructor(private readonly svc: NetworksService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'networks_create', summary: 'Create a network' })
  async create(@Project() p: ProjectScope, @Body() body: NetworkInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<NetworkDto> {
    const view = networkView(await this.svc.create(p, body), p, base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'networks_get', summary: 'Get a network' })
  async get(@Project() p: ProjectScope, @Param('name') name: string, @BaseUrl() base: string): Promise<NetworkDto> {
    return networkView(await this.svc.get(p, name), p, base);
  }

  @Get()
  @ApiOperation({ operationId: 'networks_list', summary: 'List networks' })
  async list(@Project() p: ProjectScope, @Query() q: ListQuery, @BaseUrl() base: string): Promise<NetworkListDto> {
    return listResponse(await this.svc.list(p, listRequest(q)), (r) => networkView(r, p, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'networks_patch', summary: 'Update a network (JSON merge patch)' })
  @ApiMergePatchBody(NetworkPatchDto, 'RFC 7396 merge patch of the network')
  @ApiIfMatch()
  async patch(
    @Project() p: ProjectScope,
    @Param('name') name: string,
    @Body() patch: Record<string, unknown>,
    @Headers('if-match') ifMatch: string | undefined,
    @BaseUrl() base: string,
  ): Promise<NetworkDto> {
    return networkView(await this.svc.patch(p, name, patch, ifMatch), p, base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'networks_delete', summary: 'Delete a network (409 while subnets or gateways use it)' })
  async delete(@Project() p: ProjectScope, @Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(p, name, ifMatch);
  }
}

export function networkView(r: NetworkRecord, p: ProjectScope, base: string): NetworkDto {
  return baseView(r, projectLink(base, p.name, 'networks', r.name));
}
