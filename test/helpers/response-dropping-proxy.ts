// A loopback Kafka proxy that can lose produce replies: the request reaches the broker (which appends
// it), but the response is swallowed and the client's connection closed, as when a leader dies between
// appending and answering. A client then retries the same batch, which is what idempotence must absorb.
// The broker must advertise the proxy (advertised.listeners) so that clients keep talking through it.
import type { Socket, TCPSocketListener } from "bun";

const PRODUCE_API_KEY = 0;
/** Bytes buffered per direction before the proxy gives up on a connection (bounds memory). */
const BUFFERED_BYTES_MAX = 64 * 1024 * 1024;

interface Side {
  /** The other end; null until the upstream connection is open. */
  peer: Socket<Side> | null;
  /** Bytes this socket did not take yet. */
  queue: Uint8Array[];
  /** Client side: requests that arrived before the upstream connection was open. */
  early: Uint8Array[];
  /** Incoming bytes not yet cut into frames. */
  inbound: Uint8Array;
  /** Request correlation id -> api key, shared by both sides of one proxied connection. */
  apiKeys: Map<number, number>;
  fromClient: boolean;
  closed: boolean;
}

export class ResponseDroppingProxy {
  private readonly listener: TCPSocketListener<Side>;
  private readonly sockets = new Set<Socket<Side>>();
  /** Produce responses still to swallow; each one also closes that client connection. */
  dropProduceResponses = 0;
  droppedResponses = 0;

  constructor(
    readonly port: number,
    upstreamPort: number,
  ) {
    const proxy = this;
    this.listener = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          client.data = { peer: null, queue: [], early: [], inbound: new Uint8Array(0), apiKeys: new Map(), fromClient: true, closed: false };
          proxy.sockets.add(client);
          Bun.connect<Side>({
            hostname: "127.0.0.1",
            port: upstreamPort,
            socket: {
              open(upstream) {
                upstream.data = { peer: client, queue: client.data.early, early: [], inbound: new Uint8Array(0), apiKeys: client.data.apiKeys, fromClient: false, closed: false };
                proxy.sockets.add(upstream);
                if (client.data.closed) return proxy.close(upstream);
                client.data.peer = upstream;
                // Client bytes that arrived before the upstream was open became its first queue.
                proxy.flush(upstream);
              },
              data: (upstream, chunk) => proxy.onData(upstream, chunk),
              drain: (upstream) => proxy.flush(upstream),
              close: (upstream) => proxy.close(upstream),
              error: (upstream) => proxy.close(upstream),
            },
          }).catch(() => proxy.close(client));
        },
        data: (client, chunk) => proxy.onData(client, chunk),
        drain: (client) => proxy.flush(client),
        close: (client) => proxy.close(client),
        error: (client) => proxy.close(client),
      },
    });
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Cuts `chunk` into frames: requests are noted and forwarded, produce responses may be dropped. */
  private onData(socket: Socket<Side>, chunk: Uint8Array): void {
    const side = socket.data;
    if (side.closed) return;
    const buffer = new Uint8Array(side.inbound.byteLength + chunk.byteLength);
    buffer.set(side.inbound);
    buffer.set(chunk, side.inbound.byteLength);
    if (buffer.byteLength > BUFFERED_BYTES_MAX) return this.close(socket);
    let position = 0;
    // Bounded: each round consumes one whole frame of at least 4 bytes.
    while (buffer.byteLength - position >= 4) {
      const view = new DataView(buffer.buffer, buffer.byteOffset + position);
      const frameBytes = 4 + view.getInt32(0);
      if (frameBytes < 12 || buffer.byteLength - position < frameBytes) break;
      const frame = buffer.subarray(position, position + frameBytes);
      position += frameBytes;
      if (side.fromClient) {
        side.apiKeys.set(view.getInt32(8), view.getInt16(4));
        this.send(side.peer, frame, side);
        continue;
      }
      const correlationId = view.getInt32(4);
      const apiKey = side.apiKeys.get(correlationId);
      side.apiKeys.delete(correlationId);
      if (apiKey === PRODUCE_API_KEY && this.dropProduceResponses > 0) {
        this.dropProduceResponses--;
        this.droppedResponses++;
        return this.close(socket);
      }
      this.send(side.peer, frame, side);
    }
    side.inbound = buffer.slice(position);
  }

  /** To `target`, or into the source's queue until the upstream is open. */
  private send(target: Socket<Side> | null, bytes: Uint8Array, source: Side): void {
    if (target === null) {
      source.early.push(bytes.slice());
      return;
    }
    target.data.queue.push(bytes.slice());
    this.flush(target);
  }

  private flush(socket: Socket<Side>): void {
    const queue = socket.data.queue;
    // Bounded by the queue length; a partial write leaves the rest for the drain event.
    while (queue.length > 0) {
      const bytes = queue[0]!;
      const written = socket.write(bytes);
      if (written < 0) return;
      if (written < bytes.byteLength) {
        queue[0] = bytes.subarray(written);
        return;
      }
      queue.shift();
    }
  }

  /** Closing one side closes the other. */
  private close(socket: Socket<Side>): void {
    if (socket.data?.closed) return;
    if (socket.data) socket.data.closed = true;
    this.sockets.delete(socket);
    socket.end();
    const peer = socket.data?.peer;
    if (peer && !peer.data.closed) this.close(peer);
  }

  stop(): void {
    for (const socket of [...this.sockets]) this.close(socket);
    this.listener.stop(true);
  }
}
