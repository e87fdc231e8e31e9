import { Initial1764064800000 } from './1764064800000-initial';
import { EndpointChanges1764072000000 } from './1764072000000-endpoint-changes';

/** Every migration, in order. A new one is added here by hand after review. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const MIGRATIONS: Function[] = [Initial1764064800000, EndpointChanges1764072000000];
