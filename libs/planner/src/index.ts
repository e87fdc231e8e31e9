export * from './planner';
export * from './types';
export * from './block-diff';
