import { DefaultNamingStrategy, type NamingStrategyInterface, type Table, type View } from 'typeorm';

/** snake_case tables and columns, and readable PostgreSQL-style constraint names. */
export class SnakeNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override tableName(targetName: string, userSpecifiedName: string | undefined): string {
    return userSpecifiedName ?? snake(targetName);
  }
  override columnName(propertyName: string, customName: string | undefined, prefixes: string[]): string {
    return snake([...prefixes, customName ?? propertyName].join('_'));
  }
  override primaryKeyName(table: Table | string): string {
    return `${name(table)}_pkey`;
  }
  override uniqueConstraintName(table: Table | string, columns: string[]): string {
    return `${name(table)}_${columns.join('_')}_key`;
  }
  override foreignKeyName(table: Table | string, columns: string[]): string {
    return `${name(table)}_${columns.join('_')}_fkey`;
  }
  override indexName(table: Table | View | string, columns: string[]): string {
    return `${name(table)}_${columns.join('_')}_idx`;
  }
}

function name(t: Table | View | string): string {
  const n = typeof t === 'string' ? t : t.name;
  return n.includes('.') ? n.split('.').pop()! : n;
}

function snake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
