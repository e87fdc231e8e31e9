import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';

/** A tenant. */
export class ProjectInputDto extends ResourceInputDto {}

/** An RFC 7396 merge patch of a project. */
export class ProjectPatchDto extends ResourcePatchDto {}

export class ProjectDto extends ResourceDto {}

export class ProjectListDto {
  items!: ProjectDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}

export class ProjectTokenDto {
  /** The bearer token, shown once. Store it now: only its hash is kept. */
  token!: string;
}
