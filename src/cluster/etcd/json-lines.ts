// Incremental parsing of a gateway stream. grpc-gateway writes each message of a server stream as one JSON
// object followed by "\n" (its default stream delimiter); JSON escapes newlines inside strings, so a raw
// "\n" always ends a message. Chunks from `response.body` split messages anywhere, so text is kept until
// its newline arrives, with a bound on how much may be pending.
import { EtcdError } from "./errors.ts";

export async function* readJsonLines<T>(body: ReadableStream<Uint8Array>, messageBytesMax: number, endpoint: string): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let pending = "";
  // Where to resume looking for "\n" in `pending`: text before it was already scanned.
  let scanFrom = 0;
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    for (;;) {
      const newline = pending.indexOf("\n", scanFrom);
      if (newline < 0) break;
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      scanFrom = 0;
      if (line.length > 0) yield parseLine<T>(line, endpoint);
    }
    scanFrom = pending.length;
    // The gateway's messages are ASCII (base64 and digits), so characters count bytes.
    if (pending.length > messageBytesMax) {
      throw new EtcdError(`etcd stream from ${endpoint}: message larger than ${messageBytesMax} bytes`, "protocol", null, null, endpoint);
    }
  }
  const rest = (pending + decoder.decode()).trim();
  if (rest.length > 0) yield parseLine<T>(rest, endpoint);
}

function parseLine<T>(line: string, endpoint: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (cause) {
    throw new EtcdError(`etcd stream from ${endpoint}: message is not JSON: ${line.slice(0, 200)}`, "protocol", null, null, endpoint, { cause });
  }
}
