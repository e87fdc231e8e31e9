export * from './planner';
export * from './types';
