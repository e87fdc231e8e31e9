import { Body, Controller, Get, Headers, HttpCode, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { readingOf } from '@natplane/domain';
import { buildHostDocument } from '@natplane/contracts';
import { HostProgrammingRepository, HostsRepository, NatMetricsRepository } from '@natplane/persistence';
import { Access, HostScope, type HostScopeInfo } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { ApiIdempotencyKey, ApiProblems } from '../common/problem.dto';
import { HostReportAckDto, HostReportDto } from './host-agent.dto';
import { HostDocumentDto } from './host-document.dto';

/** The routes a host's agent calls with its host token (docs/host-protocol.md). */
@ApiTags('hostAgent')
@ApiBearerAuth()
@Access('host')
@ApiParam({ name: 'host', description: 'Host name' })
@ApiProblems(400, 401, 404)
@Controller('v1/hosts/:host')
export class HostAgentController {
  constructor(
    private readonly programming: HostProgrammingRepository,
    private readonly hosts: HostsRepository,
    private readonly changes: ChangeNotifier,
    private readonly natMetrics: NatMetricsRepository,
  ) {}

  @Get('programming')
  @ApiOperation({ operationId: 'hostAgent_getProgramming', summary: "The host's whole desired-state document (natplane.host/v1); ETag is its generation" })
  @ApiOkResponse({ description: 'The document (JSON Schema: libs/contracts/schema/host-document.schema.json)', type: HostDocumentDto })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'The ETag of the document held: 304 while it is current', schema: { type: 'string' } })
  @ApiResponse({ status: 304, description: 'If-None-Match names the current generation' })
  async programmingDoc(@HostScope() h: HostScopeInfo, @Headers('if-none-match') inm: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Promise<unknown> {
    const target = (await this.programming.target(h.id))!;
    const etag = `"${target.desiredGeneration}"`;
    void reply.header('etag', etag);
    if (inm !== undefined && inm.split(',').map((t) => t.trim().replace(/^W\//, '')).includes(etag)) {
      void reply.status(304);
      return undefined;
    }
    return buildHostDocument(target.name, target.desiredGeneration, await this.programming.blocks(h.id));
  }

  @Post('reports')
  @ApiIdempotencyKey()
  @HttpCode(200)
  @ApiOperation({ operationId: 'hostAgent_report', summary: 'Report the applied generation, port usage per endpoint and errors' })
  async report(@HostScope() h: HostScopeInfo, @Body() body: HostReportDto): Promise<HostReportAckDto> {
    // A generation above the desired one moves the host past it (the agent holds one this
    // control plane never gave it): its whole document is pushed again at the new generation.
    const { movedTo } = await this.hosts.recordReport(h.id, body.appliedGeneration, body.errors);
    if (movedTo !== undefined) this.changes.hostMovedPast(h.id, movedTo);
    const dynamic = await this.hosts.recordUsage(h.id, body.usage);
    // counters, totals and the time series (docs/observability.md)
    const pairs = (body.counters?.endpoints ?? []).map((c) => ({ endpoint: c.endpoint, ruleNumber: c.ruleNumber, reading: readingOf(c) }));
    await this.natMetrics.recordReport(h.id, pairs, body.usage, body.counters?.complete ?? false);
    this.changes.usageReported(dynamic);
    const target = (await this.programming.target(h.id))!;
    // (A generation the control plane never gave releases nothing that waits on this host.)
    if (movedTo === undefined) await this.changes.hostApplied(h.id, Math.min(body.appliedGeneration, target.desiredGeneration));
    return { desiredGeneration: target.desiredGeneration };
  }
}
