import { Column, Entity, Unique } from 'typeorm';
import { ResourceRow } from './base';

/** Public IPv4 blocks the provider owns in a region. */
@Entity('address_pools')
@Unique(['name'])
export class AddressPoolRow extends ResourceRow {
  @Column('text')
  region!: string;

  @Column('cidr', { array: true })
  cidrs!: string[];
}
