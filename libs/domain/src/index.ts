/** libs/domain: the pure rules shared by api and worker. No Nest, no database, no I/O. */
export * from './errors';
export * from './gateway-spec';
export * from './cidr';
export * from './rule-match';
export * from './names';
export * from './merge-patch';
export * from './gateway-rules';
export * from './list-filter';
export * from './gateway-conflicts';
export * from './scope';
export * from './host-block-row';
export * from './address-uses';
export * from './counters';
export * from './source-rules';
