import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access, Project, type ProjectScope } from '../common/auth';
import { ApiIdempotencyKey, ApiMergePatchBody, ApiProblems, ApiProjectParam } from '../common/problem.dto';
import { AttributionDto, AttributionQuery, NatGatewayPreviewDto, NatMappingListDto, NatStatusDto, PagingQuery, TimeSeriesDto, TimeSeriesQuery } from './insights.dto';
import { GatewayInsightsService } from './insights.service';
import { NatGatewayInputDto, NatGatewayPatchDto } from './nat-gateways.dto';

@ApiTags('natGateways')
@ApiBearerAuth()
@Access('project')
@ApiProjectParam()
@ApiProblems(400, 401, 404, 409)
@Controller('v1/projects/:project')
export class GatewayInsightsController {
  constructor(private readonly svc: GatewayInsightsService) {}

  @Get('natGateways/:name/mappings')
  @ApiOperation({ operationId: 'natGateways_getMappings', summary: 'NAT IP and port ranges of every VM interface (Cloud NAT getNatMappingInfo)' })
  mappings(@Project() p: ProjectScope, @Param('name') name: string, @Query() q: PagingQuery): Promise<NatMappingListDto> {
    return this.svc.mappings(p, name, q);
  }

  @Get('natGateways/:name/status')
  @ApiOperation({ operationId: 'natGateways_getStatus', summary: 'natStatus: IPs, endpoints with and without mappings, minExtraNatIpsNeeded, rule status, port utilization' })
  status(@Project() p: ProjectScope, @Param('name') name: string): Promise<NatStatusDto> {
    return this.svc.status(p, name);
  }

  @Get('natGateways/:name/timeSeries')
  @ApiOperation({
    operationId: 'natGateways_getTimeSeries',
    summary: 'Ports in use against allocated, open and new connections, drops by reason, traffic: per minute (6 hours) or hour (14 days), for the gateway or one endpoint',
  })
  timeSeries(@Project() p: ProjectScope, @Param('name') name: string, @Query() q: TimeSeriesQuery): Promise<TimeSeriesDto> {
    return this.svc.timeSeries(p, name, q);
  }

  @Post('natGateways/:name/preview')
  @HttpCode(200)
  @ApiOperation({ operationId: 'natGateways_preview', summary: 'What a change would do (status, endpoints moved, connections broken); nothing is saved' })
  @ApiMergePatchBody(NatGatewayPatchDto, 'RFC 7396 merge patch of the gateway, as for PATCH')
  @ApiIdempotencyKey()
  preview(@Project() p: ProjectScope, @Param('name') name: string, @Body() body: Record<string, unknown>): Promise<NatGatewayPreviewDto> {
    return this.svc.preview(p, name, body);
  }

  @Post('natGateways::preview')
  @HttpCode(200)
  @ApiOperation({ operationId: 'natGateways_previewCreate', summary: 'What creating this gateway would do; nothing is saved' })
  @ApiBody({ type: NatGatewayInputDto })
  @ApiIdempotencyKey()
  previewCreate(@Project() p: ProjectScope, @Body() body: Record<string, unknown>): Promise<NatGatewayPreviewDto> {
    return this.svc.preview(p, undefined, body);
  }

  @Get('attributions')
  @ApiOperation({ operationId: 'attributions_lookup', summary: "Who in this project held a NAT IP and port at an instant (404 if nobody)" })
  attribution(@Project() p: ProjectScope, @Query() q: AttributionQuery): Promise<AttributionDto> {
    return this.svc.attribution(q, p);
  }
}

@ApiTags('admin')
@ApiBearerAuth()
@Access('admin')
@ApiProblems(400, 401, 404)
@Controller('v1/admin/attributions')
export class AdminAttributionsController {
  constructor(private readonly svc: GatewayInsightsService) {}

  @Get()
  @ApiOperation({ operationId: 'admin_attributions_lookup', summary: 'Who held a NAT IP and port at an instant, across projects (404 if nobody)' })
  attribution(@Query() q: AttributionQuery): Promise<AttributionDto> {
    return this.svc.attribution(q, undefined);
  }
}
