import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AddressPoolRecord } from '@natplane/persistence';
import { Access } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { adminLink, baseView } from '../common/views';
import { AddressPoolDto, AddressPoolInputDto, AddressPoolListDto, AddressPoolPatchDto } from './address-pools.dto';
import { AddressPoolsService } from './address-pools.service';

@ApiTags('admin')
@ApiBearerAuth()
@Access('admin')
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/admin/addressPools')
export class AddressPoolsController {
  constructor(private readonly svc: AddressPoolsService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'addressPools_create', summary: 'Create an address pool' })
  async create(@Body() body: AddressPoolInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<AddressPoolDto> {
    const view = await this.view(await this.svc.create(body), base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'addressPools_get', summary: 'Get an address pool' })
  async get(@Param('name') name: string, @BaseUrl() base: string): Promise<AddressPoolDto> {
    return this.view(await this.svc.get(name), base);
  }

  @Get()
  @ApiOperation({ operationId: 'addressPools_list', summary: 'List address pools' })
  async list(@Query() q: ListQuery, @BaseUrl() base: string): Promise<AddressPoolListDto> {
    const page = await this.svc.list(listRequest(q));
    const views = await Promise.all(page.items.map((r) => this.view(r, base)));
    return listResponse({ items: views, nextAfter: page.nextAfter }, (v) => v);
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'addressPools_patch', summary: 'Update an address pool (JSON merge patch)' })
  @ApiMergePatchBody(AddressPoolPatchDto, 'RFC 7396 merge patch of the pool')
  @ApiIfMatch()
  async patch(@Param('name') name: string, @Body() patch: Record<string, unknown>, @Headers('if-match') ifMatch: string | undefined, @BaseUrl() base: string): Promise<AddressPoolDto> {
    return this.view(await this.svc.patch(name, patch, ifMatch), base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'addressPools_delete', summary: 'Delete an address pool (409 while addresses come from it)' })
  async delete(@Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(name, ifMatch);
  }

  private async view(r: AddressPoolRecord, base: string): Promise<AddressPoolDto> {
    return Object.assign(baseView(r, adminLink(base, 'addressPools', r.name)), { region: r.region, cidrs: r.cidrs, addressesInUse: await this.svc.usage(r.id) });
  }
}
