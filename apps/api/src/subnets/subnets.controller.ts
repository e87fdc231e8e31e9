import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { SubnetRecord } from '@natplane/persistence';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { baseView, projectLink } from '../common/views';
import { SubnetDto, SubnetInputDto, SubnetListDto, SubnetPatchDto } from './subnets.dto';
import { SubnetsService } from './subnets.service';

@ApiTags('subnets')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/projects/:project/subnets')
export class SubnetsController {
  constructor(private readonly svc: SubnetsService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'subnets_create', summary: 'Create a subnet' })
  async create(@Project() p: ProjectScope, @Body() body: SubnetInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<SubnetDto> {
    const view = subnetView(await this.svc.create(p, body), p, base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'subnets_get', summary: 'Get a subnet' })
  async get(@Project() p: ProjectScope, @Param('name') name: string, @BaseUrl() base: string): Promise<SubnetDto> {
    return subnetView(await this.svc.get(p, name), p, base);
  }

  @Get()
  @ApiOperation({ operationId: 'subnets_list', summary: 'List subnets (filter fields: network, region)' })
  async list(@Project() p: ProjectScope, @Query() q: ListQuery, @BaseUrl() base: string): Promise<SubnetListDto> {
    return listResponse(await this.svc.list(p, listRequest(q)), (r) => subnetView(r, p, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'subnets_patch', summary: 'Update a subnet (JSON merge patch)' })
  @ApiMergePatchBody(SubnetPatchDto, 'RFC 7396 merge patch of the subnet')
  @ApiIfMatch()
  async patch(
    @Project() p: ProjectScope,
    @Param('name') name: string,
    @Body() patch: Record<string, unknown>,
    @Headers('if-match') ifMatch: string | undefined,
    @BaseUrl() base: string,
  ): Promise<SubnetDto> {
    return subnetView(await this.svc.patch(p, name, patch, ifMatch), p, base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'subnets_delete', summary: 'Delete a subnet (409 while endpoints or gateways use it)' })
  async delete(@Project() p: ProjectScope, @Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(p, name, ifMatch);
  }
}

export function subnetView(r: SubnetRecord, p: ProjectScope, base: string): SubnetDto {
  return Object.assign(baseView(r, projectLink(base, p.name, 'subnets', r.name)), {
    network: r.networkName,
    region: r.region,
    ipCidrRange: r.ipCidrRange,
    secondaryIpRanges: r.secondaryIpRanges,
    purpose: r.purpose,
  });
}
