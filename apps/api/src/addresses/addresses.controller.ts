import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AddressRecord } from '@natplane/persistence';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { baseView, projectLink } from '../common/views';
import { AddressDto, AddressInputDto, AddressListDto, AddressPatchDto, AddressStatus } from './addresses.dto';
import { AddressesService } from './addresses.service';

@ApiTags('addresses')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/projects/:project/addresses')
export class AddressesController {
  constructor(private readonly svc: AddressesService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'addresses_create', summary: 'Reserve a static external address' })
  async create(@Project() p: ProjectScope, @Body() body: AddressInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<AddressDto> {
    const view = addressView(await this.svc.create(p, body), p, base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'addresses_get', summary: 'Get an address' })
  async get(@Project() p: ProjectScope, @Param('name') name: string, @BaseUrl() base: string): Promise<AddressDto> {
    return addressView(await this.svc.get(p, name), p, base);
  }

  @Get()
  @ApiOperation({ operationId: 'addresses_list', summary: 'List addresses (filter fields: region, address)' })
  async list(@Project() p: ProjectScope, @Query() q: ListQuery, @BaseUrl() base: string): Promise<AddressListDto> {
    return listResponse(await this.svc.list(p, listRequest(q)), (r) => addressView(r, p, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'addresses_patch', summary: 'Update an address (JSON merge patch)' })
  @ApiMergePatchBody(AddressPatchDto, 'RFC 7396 merge patch of the address')
  @ApiIfMatch()
  async patch(
    @Project() p: ProjectScope,
    @Param('name') name: string,
    @Body() patch: Record<string, unknown>,
    @Headers('if-match') ifMatch: string | undefined,
    @BaseUrl() base: string,
  ): Promise<AddressDto> {
    return addressView(await this.svc.patch(p, name, patch, ifMatch), p, base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'addresses_delete', summary: 'Release an address (409 while a gateway uses it)' })
  async delete(@Project() p: ProjectScope, @Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(p, name, ifMatch);
  }
}

export function addressView(r: AddressRecord, p: ProjectScope, base: string): AddressDto {
  const users = r.userGateway ? [projectLink(base, p.name, 'natGateways', r.userGateway)] : [];
  return Object.assign(baseView(r, projectLink(base, p.name, 'addresses', r.name)), {
    region: r.region,
    address: r.address,
    status: users.length ? AddressStatus.IN_USE : AddressStatus.RESERVED,
    users,
    autoAllocated: r.autoAllocated,
  });
}
