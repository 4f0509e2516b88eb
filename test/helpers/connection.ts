// One in-repo client connection to a broker on 127.0.0.1 for the length of `use`, closed afterwards whatever
// happens: for tests that send a few raw requests to one chosen broker.
import { KafkaConnection } from "../../src/client/kafka-connection.ts";

export async function withConnection<T>(port: number, use: (connection: KafkaConnection) => Promise<T>, requestTimeoutMs = 15_000): Promise<T> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, requestTimeoutMs });
  try {
    return await use(connection);
  } finally {
    connection.close();
  }
}
