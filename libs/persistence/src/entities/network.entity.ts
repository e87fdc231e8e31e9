import { Column, Entity, ForeignKey, Unique } from 'typeorm';
import { ResourceRow } from './base';
import { ProjectRow } from './project.entity';

@Entity('networks')
@Unique(['projectId', 'name'])
export class NetworkRow extends ResourceRow {
  @Column('uuid')
  @ForeignKey(() => ProjectRow, { onDelete: 'CASCADE' })
  projectId!: string;
}
