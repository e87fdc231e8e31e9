import { Entity, Unique } from 'typeorm';
import { ResourceRow } from './base';

@Entity('projects')
@Unique(['name'])
export class ProjectRow extends ResourceRow {}
