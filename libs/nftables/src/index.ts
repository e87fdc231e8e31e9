export * from './ipv4';
export * from './names';
export * from './validate';
export * from './state';
export * from './diff';
export * from './render';
export * from './blocks';
export * from './host-model';
