import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { ProjectRecord } from '@natplane/persistence';
import { Access } from '../common/auth';
import { ApiIdempotencyKey, ApiIfMatch, ApiMergePatchBody, ApiProblems } from '../common/problem.dto';
import { listRequest, listResponse } from '../common/crud';
import { BaseUrl } from '../common/http';
import { ListQuery } from '../common/resource.dto';
import { adminLink, baseView } from '../common/views';
import { ProjectDto, ProjectInputDto, ProjectListDto, ProjectPatchDto, ProjectTokenDto } from './projects.dto';
import { ProjectsService } from './projects.service';

@ApiTags('admin')
@ApiBearerAuth()
@Access('admin')
@ApiProblems(400, 401, 404, 409, 412, 422)
@Controller('v1/admin/projects')
export class ProjectsController {
  constructor(private readonly svc: ProjectsService) {}

  @Post()
  @ApiIdempotencyKey()
  @HttpCode(201)
  @ApiOperation({ operationId: 'projects_create', summary: 'Create a project' })
  async create(@Body() body: ProjectInputDto, @BaseUrl() base: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<ProjectDto> {
    const view = projectView(await this.svc.create(body), base);
    void reply.header('location', view.selfLink);
    return view;
  }

  @Get(':name')
  @ApiOperation({ operationId: 'projects_get', summary: 'Get a project' })
  async get(@Param('name') name: string, @BaseUrl() base: string): Promise<ProjectDto> {
    return projectView(await this.svc.get(name), base);
  }

  @Get()
  @ApiOperation({ operationId: 'projects_list', summary: 'List projects' })
  async list(@Query() q: ListQuery, @BaseUrl() base: string): Promise<ProjectListDto> {
    return listResponse(await this.svc.list(listRequest(q)), (r) => projectView(r, base));
  }

  @Patch(':name')
  @ApiOperation({ operationId: 'projects_patch', summary: 'Update a project (JSON merge patch)' })
  @ApiMergePatchBody(ProjectPatchDto, 'RFC 7396 merge patch of the project')
  @ApiIfMatch()
  async patch(@Param('name') name: string, @Body() patch: Record<string, unknown>, @Headers('if-match') ifMatch: string | undefined, @BaseUrl() base: string): Promise<ProjectDto> {
    return projectView(await this.svc.patch(name, patch, ifMatch), base);
  }

  @Delete(':name')
  @ApiIfMatch()
  @HttpCode(204)
  @ApiOperation({ operationId: 'projects_delete', summary: 'Delete a project (409 while it holds networks or addresses)' })
  async delete(@Param('name') name: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.svc.delete(name, ifMatch);
  }

  @Post(':name/tokens')
  @ApiIdempotencyKey({ secrets: ['token'] })
  @HttpCode(201)
  @ApiOperation({ operationId: 'projects_createToken', summary: 'Create a project token (shown once)' })
  async token(@Param('name') name: string): Promise<ProjectTokenDto> {
    return { token: await this.svc.issueToken(name) };
  }
}

export function projectView(r: ProjectRecord, base: string): ProjectDto {
  return baseView(r, adminLink(base, 'projects', r.name));
}
