export * from './planner';
export * from './types';
export * from './block-diff';
export * from './history';
export * from './host-sections';
export * from './decide';
export * from './commit';
