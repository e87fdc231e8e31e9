export * from './host-document';
export * from './build-host-document';
export * from './signature';
export * from './host-document-patch';
export * from './shape';
export * from './schema';
