import { credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import descriptorExtension from 'protobufjs/ext/descriptor/index.js';
import { reflect } from './ops-clients.js';

/**
 * A client that knows nothing of our protos: it asks the server's reflection
 * service for the descriptors, then calls methods with JSON, as grpcurl does.
 * If reflection served incomplete or wrong descriptors, these calls would fail.
 */
export async function reflectionJsonClient(address: string, serviceName: string) {
  const answer = await reflect(address, { file_containing_symbol: serviceName });
  const files = (answer.file_descriptor_response.file_descriptor_proto as Buffer[]).map((bytes) =>
    descriptorExtension.FileDescriptorProto.decode(bytes),
  );
  const root = (protobuf.Root as unknown as { fromDescriptor(set: object): protobuf.Root }).fromDescriptor(
    descriptorExtension.FileDescriptorSet.create({ file: files }),
  );
  const service = root.lookupService(serviceName);

  const definition = Object.fromEntries(
    Object.values(service.methods).map((method) => {
      method.resolve();
      const requestType = method.resolvedRequestType!;
      const responseType = method.resolvedResponseType!;
      return [
        method.name,
        {
          path: `/${serviceName}/${method.name}`,
          requestStream: false,
          responseStream: Boolean(method.responseStream),
          requestSerialize: (json: object) => Buffer.from(requestType.encode(requestType.fromObject(json)).finish()),
          requestDeserialize: (bytes: Buffer) => requestType.decode(bytes),
          // grpcurl prints enums by name and int64 as strings: the proto3 JSON mapping.
          responseSerialize: (value: object) => Buffer.from(responseType.encode(value).finish()),
          responseDeserialize: (bytes: Buffer) =>
            responseType.toObject(responseType.decode(bytes), { enums: String, longs: String, defaults: true }),
        },
      ];
    }),
  );
  const Constructor = makeGenericClientConstructor(definition, serviceName);
  const client = new Constructor(address, credentials.createInsecure()) as Client & Record<string, Function>;

  return {
    methods: Object.keys(service.methods),
    /** Calls a unary method with a JSON request; resolves with the JSON response. */
    call(method: string, json: object): Promise<Record<string, any>> {
      return new Promise((resolve, reject) => {
        client[method]!(json, (error: ServiceError | null, response: Record<string, any>) =>
          error ? reject(error) : resolve(response),
        );
      });
    },
    /** Calls a server-streaming method; resolves with every message. */
    /** Reads the stream to its end, or its first `maxMessages` messages and then cancels (as a person would). */
    stream(method: string, json: object, maxMessages = Infinity): Promise<Record<string, any>[]> {
      return new Promise((resolve, reject) => {
        const messages: Record<string, any>[] = [];
        const call = client[method]!(json);
        call.on('data', (message: Record<string, any>) => {
          messages.push(message);
          if (messages.length < maxMessages) return;
          resolve(messages); // the CANCELLED error that follows the cancel no longer matters
          call.cancel();
        });
        call.on('error', reject);
        call.on('end', () => resolve(messages));
      });
    },
    close: () => client.close(),
  };
}
