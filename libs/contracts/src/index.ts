export * from './host-document';
export * from './signature';
