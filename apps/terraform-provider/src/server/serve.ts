/**
 * Serving as a go-plugin plugin: check that Terraform started us, make a TLS certificate, serve
 * tfplugin6.Provider and plugin.GRPCController on a loopback port with mutual TLS (the client
 * must present exactly PLUGIN_CLIENT_CERT), and print the handshake line
 * `1|6|tcp|127.0.0.1:PORT|grpc|CERT` as the first line on stdout. Logs go to stderr, which
 * Terraform shows with TF_LOG. GRPCController.Shutdown ends the process.
 */
import * as grpc from '@grpc/grpc-js';
import { makeServerCertificate } from './certificate';
import { services } from './protocol';
import { ProviderServer, diagnosticsMessage, type ProviderDef } from '../framework/provider';
import { error } from '../framework/diagnostics';

export const MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
export const MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';
const CORE_PROTOCOL_VERSION = 1;
const APP_PROTOCOL_VERSION = 6;

const log = (msg: string) => process.stderr.write(`[natplane] ${msg}\n`);

export async function serve(def: ProviderDef, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(
      'This binary is a plugin: terraform-provider-natplane. Terraform runs it; there is nothing to do by hand.\n' +
        'Install it with `npm run terraform:mirror` and use the CLI configuration it writes (see the README).\n',
    );
    process.exit(1);
  }
  const versions = (env.PLUGIN_PROTOCOL_VERSIONS ?? String(APP_PROTOCOL_VERSION)).split(',').map((v) => v.trim());
  if (!versions.includes(String(APP_PROTOCOL_VERSION))) {
    process.stderr.write(`terraform-provider-natplane speaks plugin protocol ${APP_PROTOCOL_VERSION}; this Terraform offers ${versions.join(', ')}\n`);
    process.exit(1);
  }
  const clientCert = env.PLUGIN_CLIENT_CERT;
  const cert = await makeServerCertificate();
  const credentials = clientCert
    ? grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ cert_chain: Buffer.from(cert.certPem), private_key: Buffer.from(cert.keyPem) }], true)
    : grpc.ServerCredentials.createInsecure();

  const server = new grpc.Server();
  const svc = services();
  const provider = new ProviderServer(def, log);
  server.addService(svc.provider, handlers(provider, svc.provider));
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  server.addService(svc.controller, {
    Shutdown: (_call: unknown, cb: grpc.sendUnaryData<object>) => {
      cb(null, {});
      setImmediate(shutdown);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  const line = [CORE_PROTOCOL_VERSION, APP_PROTOCOL_VERSION, 'tcp', `127.0.0.1:${port}`, 'grpc', clientCert ? cert.derBase64 : ''].join('|');
  process.stdout.write(`${line}\n`);
  process.on('SIGINT', () => provider.StopProvider());
  process.on('SIGTERM', shutdown);
}

/** Each RPC of the service calls the method of the same name; a thrown error becomes an error diagnostic. */
function handlers(provider: ProviderServer, service: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(service)) {
    const fn = (provider as unknown as Record<string, ((req: unknown) => unknown) | undefined>)[name];
    if (typeof fn !== 'function') continue;
    const hasDiagnostics = name !== 'StopProvider';
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      Promise.resolve()
        .then(() => fn.call(provider, call.request))
        .then(
          (res) => cb(null, res),
          (e: unknown) => {
            const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
            log(`${name} failed: ${msg}`);
            if (hasDiagnostics) cb(null, { diagnostics: diagnosticsMessage([error(`${name}: ${e instanceof Error ? e.message : String(e)}`)]) });
            else cb({ code: grpc.status.INTERNAL, details: msg });
          },
        );
    };
  }
  return impl;
}
