// kafkajs 2.2.4 as a real client, with an LZ4 codec built on lz4-napi's frame API (the format Kafka uses).
import { CompressionCodecs, CompressionTypes, Kafka, logLevel, type Consumer } from "kafkajs";
import { compressFrame, decompressFrame } from "lz4-napi";

CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder: { buffer: Buffer }) => compressFrame(encoder.buffer),
  decompress: async (buffer: Buffer) => decompressFrame(buffer),
});

export function kafkaClient(bootstrap: string, clientId = "bunka-test"): Kafka {
  return new Kafka({
    clientId,
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
    connectionTimeout: 5000,
    requestTimeout: 30000,
  });
}

export async function createTopic(bootstrap: string, topic: string, numPartitions: number, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = kafkaClient(bootstrap).admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions, configEntries }], waitForLeaders: true });
    if (!created) throw new Error(`topic ${topic} was not created`);
  } finally {
    await admin.disconnect();
  }
}

export { CompressionTypes };

/** A kafkajs group consumer tailing `topic` from the beginning, and the values it has received so far. */
export interface TailingConsumer {
  consumer: Consumer;
  values: string[];
}

/** Starts a one-member group consumer on `topic` and resolves once it has joined (bounded: 60 s). */
export async function startTailingConsumer(bootstrap: string, topic: string, groupId: string, readUncommitted: boolean): Promise<TailingConsumer> {
  const consumer = kafkaClient(bootstrap, groupId).consumer({ groupId, readUncommitted, maxWaitTimeInMs: 5_000 });
  const values: string[] = [];
  const joined = Promise.withResolvers<void>();
  consumer.on(consumer.events.GROUP_JOIN, () => joined.resolve());
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
  const timeout = setTimeout(() => joined.reject(new Error(`${groupId} did not join in 60 s`)), 60_000);
  await joined.promise.finally(() => clearTimeout(timeout));
  return { consumer, values };
}
