export * from './jobs';
export * from './redis';
export * from './job-queue';
