import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { GatewayRecord } from '@natplane/persistence';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { baseView, projectLink } from '../common/views';
import {
  GatewayState,
  LogFilter,
  NatGatewayDto,
  NatGatewayInputDto,
  NatGatewayListDto,
  NatGatewayPatchDto,
  NatIpAllocateOption,
  SourceIpRangesToNat,
  SourceSubnetworkIpRangesToNat,
  type GatewayStatusDto,
} from './nat-gateways.dto';
import { NatGatewaysService } from './nat-gateways.service';

@ApiTags('natGateways')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/projects/:project/natGateways')
export class NatGatewaysController {
  constructor(private readonly svc: NatGatewaysService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'natGateways_create', summary: 'Create a NAT gateway' })
  async create(@Project() p: ProjectScope, @Body() body: NatGatewayInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<NatGatewayDto> {
    const view = gatewayView(await this.svc.create(p, body), p, base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'natGateways_get', summary: 'Get a NAT gateway with every default and its status' })
  async get(@Project() p: ProjectScope, @Param('name') name: string, @BaseUrl() base: string): Promise<NatGatewayDto> {
    return gatewayView(await this.svc.get(p, name), p, base);
  }

  @Get()
  @ApiOperation({ operationId: 'natGateways_list', summary: 'List NAT gateways (filter fields: network, region)' })
  async list(@Project() p: ProjectScope, @Query() q: ListQuery, @BaseUrl() base: string): Promise<NatGatewayListDto> {
    return listResponse(await this.svc.list(p, listRequest(q)), (r) => gatewayView(r, p, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'natGateways_patch', summary: 'Update a NAT gateway (JSON merge patch; lists are replaced whole)' })
  @ApiMergePatchBody(NatGatewayPatchDto, 'RFC 7396 merge patch of the gateway; null restores a default')
  @ApiIfMatch()
  async patch(
    @Project() p: ProjectScope,
    @Param('name') name: string,
    @Body() patch: Record<string, unknown>,
    @Headers('if-match') ifMatch: string | undefined,
    @BaseUrl() base: string,
  ): Promise<NatGatewayDto> {
    return gatewayView(await this.svc.patch(p, name, patch, ifMatch), p, base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'natGateways_delete', summary: 'Delete a NAT gateway' })
  async delete(@Project() p: ProjectScope, @Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(p, name, ifMatch);
  }
}

export function gatewayStatus(r: GatewayRecord): GatewayStatusDto {
  const converged = r.observedGeneration >= r.generation && r.hostsProgrammed >= r.hostsTotal;
  return {
    state: converged ? (r.state as GatewayState) : GatewayState.PROVISIONING,
    observedGeneration: r.observedGeneration,
    hostsTotal: r.hostsTotal,
    hostsProgrammed: r.hostsProgrammed,
    message: r.statusMessage,
  };
}

/** Every field in a stable order, every default echoed, references as bare names. */
export function gatewayView(r: GatewayRecord, p: ProjectScope, base: string): NatGatewayDto {
  const s = r.spec;
  return Object.assign(baseView(r, projectLink(base, p.name, 'natGateways', r.name), r.generation), {
    network: s.network,
    region: s.region,
    type: s.type,
    natIpAllocateOption: s.natIpAllocateOption as NatIpAllocateOption,
    natIps: s.natIps,
    drainNatIps: s.drainNatIps,
    maxDrainDurationSec: s.maxDrainDurationSec ?? 0,
    sourceSubnetworkIpRangesToNat: s.sourceSubnetworkIpRangesToNat as SourceSubnetworkIpRangesToNat,
    subnetworks: s.subnetworks.map((x) => ({ name: x.name, sourceIpRangesToNat: x.sourceIpRangesToNat as SourceIpRangesToNat[], secondaryIpRangeNames: x.secondaryIpRangeNames })),
    minPortsPerVm: s.minPortsPerVm,
    maxPortsPerVm: s.maxPortsPerVm,
    enableDynamicPortAllocation: s.enableDynamicPortAllocation,
    enableEndpointIndependentMapping: s.enableEndpointIndependentMapping,
    udpIdleTimeoutSec: s.udpIdleTimeoutSec,
    icmpIdleTimeoutSec: s.icmpIdleTimeoutSec,
    tcpEstablishedIdleTimeoutSec: s.tcpEstablishedIdleTimeoutSec,
    tcpTransitoryIdleTimeoutSec: s.tcpTransitoryIdleTimeoutSec,
    tcpTimeWaitTimeoutSec: s.tcpTimeWaitTimeoutSec,
    logConfig: { enable: s.logConfig.enable, filter: s.logConfig.filter as LogFilter },
    rules: s.rules.map((x) => ({
      ruleNumber: x.ruleNumber,
      description: x.description,
      match: x.match,
      action: {
        sourceNatActiveIps: x.action.sourceNatActiveIps,
        sourceNatDrainIps: x.action.sourceNatDrainIps,
        sourceNatActiveRanges: x.action.sourceNatActiveRanges ?? [],
      },
    })),
    status: gatewayStatus(r),
  });
}
