// routing-context with gRPC: the client sends the active key, the server runs the handler in it.
//
//   npx tsup && node --experimental-strip-types examples/grpc-minimal.ts   (Node >= 22.6)
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routingClientInterceptor, routingServerInterceptor } from 'routing-context/grpc';

const proto = fileURLToPath(new URL('../test/fixtures/grpc/echo.proto', import.meta.url));
const { routing } = grpc.loadPackageDefinition(protoLoader.loadSync(proto)) as any;

const server = new grpc.Server({ interceptors: [routingServerInterceptor()] });
server.addService(routing.test.Echo.service, {
  unary: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, done: grpc.sendUnaryData<unknown>) =>
    done(null, { id: call.request.id, seen: [getRoutingKey() ?? 'baseline'] }), // "pr-142"
});
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
    e ? reject(e) : resolve(p),
  ),
);

const target = `127.0.0.1:${port}`;
const client = new routing.test.Echo(target, grpc.credentials.createInsecure(), {
  interceptors: [routingClientInterceptor({ target })], // target: matched against propagateTo
});
withRoutingKey('pr-142', () =>
  client.unary({ id: '1' }, (error: Error | null, reply: unknown) => {
    console.log(error ?? reply); // { id: '1', seen: [ 'pr-142' ], ... }
    client.close();
    server.forceShutdown();
  }),
);
