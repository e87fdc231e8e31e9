/**
 * The gRPC services from this package's own .proto files (proto/): tfplugin6.Provider and
 * go-plugin's plugin.GRPCController. The bundle carries the files' text (rolldown's text module
 * type); they are parsed once at start, a few milliseconds.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parse } from 'protobufjs';
import controllerProto from '../../proto/grpc_controller.proto';
import tfplugin6Proto from '../../proto/tfplugin6.proto';

const OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, bytes: Buffer, defaults: false, oneofs: true };

function load(source: string): grpc.GrpcObject {
  const root = parse(source, { keepCase: true }).root;
  return grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), OPTIONS));
}

type ServiceClient = grpc.ServiceClientConstructor;

export function services(): { provider: grpc.ServiceDefinition; controller: grpc.ServiceDefinition } {
  const tf = load(tfplugin6Proto).tfplugin6 as grpc.GrpcObject;
  const plugin = load(controllerProto).plugin as grpc.GrpcObject;
  return { provider: (tf.Provider as ServiceClient).service, controller: (plugin.GRPCController as ServiceClient).service };
}
