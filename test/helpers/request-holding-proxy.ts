// A loopback Kafka proxy that can hold a request in the network: after holdNext(apiKey), the next request
// with that api key (on any connection through the proxy) is kept, and so is everything that connection
// sends after it (order is kept), until release(). Responses always pass. A test uses it to deliver a
// request late, e.g. a transactional produce after its transaction was aborted.
import type { Socket, TCPSocketListener } from "bun";

/** Bytes buffered per connection before the proxy gives up on it (bounds memory). */
const BUFFERED_BYTES_MAX = 64 * 1024 * 1024;

interface Side {
  peer: Socket<Side> | null;
  /** Bytes this socket did not take yet. */
  queue: Uint8Array[];
  /** Client side: complete request frames not forwarded (upstream not open yet, or held). */
  waiting: Uint8Array[];
  /** Client side: incoming bytes not yet cut into frames. */
  inbound: Uint8Array;
  /** Client side: this connection's requests are held until release(). */
  held: boolean;
  fromClient: boolean;
  closed: boolean;
}

export class RequestHoldingProxy {
  private readonly listener: TCPSocketListener<Side>;
  private readonly sockets = new Set<Socket<Side>>();
  private holdApiKey: number | null = null;
  private heldConnections: Socket<Side>[] = [];
  private heldWaiters: (() => void)[] = [];
  /** Requests held so far. */
  heldRequests = 0;

  constructor(upstreamPort: number) {
    const proxy = this;
    this.listener = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = newSide(true);
          proxy.sockets.add(client);
          Bun.connect<Side>({
            hostname: "127.0.0.1",
            port: upstreamPort,
            data: newSide(false),
            socket: {
              open(upstream) {
                if (client.data.closed) return void upstream.end();
                proxy.sockets.add(upstream);
                upstream.data.peer = client;
                client.data.peer = upstream;
                if (!client.data.held) forwardWaiting(client);
              },
              data(upstream, chunk) {
                send(client, new Uint8Array(chunk));
              },
              drain: flush,
              close: (upstream) => proxy.close(upstream),
              error: (upstream) => proxy.close(upstream),
            },
          }).catch(() => {
            proxy.close(client);
          });
        },
        data(client, chunk) {
          proxy.onClientData(client, new Uint8Array(chunk));
        },
        drain: flush,
        close: (client) => proxy.close(client),
        error: (client) => proxy.close(client),
      },
    });
  }

  get port(): number {
    return this.listener.port;
  }

  /** Hold the next request with this api key (and what follows it on its connection). */
  holdNext(apiKey: number): void {
    this.holdApiKey = apiKey;
  }

  /** Resolves once a request is held (bounded by the caller's test timeout). */
  whenHeld(): Promise<void> {
    if (this.heldConnections.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.heldWaiters.push(resolve));
  }

  /** Forwards everything held, in order. */
  release(): void {
    const connections = this.heldConnections;
    this.heldConnections = [];
    for (const client of connections) {
      client.data.held = false;
      if (client.data.peer) forwardWaiting(client);
    }
  }

  stop(): void {
    for (const socket of this.sockets) socket.end();
    this.listener.stop(true);
  }

  private onClientData(client: Socket<Side>, chunk: Uint8Array): void {
    const side = client.data;
    const merged = new Uint8Array(side.inbound.byteLength + chunk.byteLength);
    merged.set(side.inbound);
    merged.set(chunk, side.inbound.byteLength);
    let position = 0;
    while (merged.byteLength - position >= 4) {
      const size = new DataView(merged.buffer, merged.byteOffset + position).getInt32(0);
      if (size < 0 || size > BUFFERED_BYTES_MAX) return void this.close(client);
      if (merged.byteLength - position < 4 + size) break;
      const frame = merged.slice(position, position + 4 + size);
      position += 4 + size;
      const apiKey = size >= 2 ? new DataView(frame.buffer).getInt16(4) : -1;
      if (!side.held && this.holdApiKey !== null && apiKey === this.holdApiKey) {
        this.holdApiKey = null;
        side.held = true;
        this.heldRequests++;
        this.heldConnections.push(client);
        for (const resolve of this.heldWaiters.splice(0)) resolve();
      }
      side.waiting.push(frame);
    }
    side.inbound = merged.slice(position);
    if (!side.held && side.peer) forwardWaiting(client);
  }

  private close(socket: Socket<Side>): void {
    if (socket.data.closed) return;
    socket.data.closed = true;
    this.sockets.delete(socket);
    const peer = socket.data.peer;
    if (peer && !peer.data.closed) {
      peer.data.closed = true;
      this.sockets.delete(peer);
      peer.end();
    }
    socket.end();
  }
}

function newSide(fromClient: boolean): Side {
  return { peer: null, queue: [], waiting: [], inbound: new Uint8Array(0), held: false, fromClient, closed: false };
}

function forwardWaiting(client: Socket<Side>): void {
  const frames = client.data.waiting;
  client.data.waiting = [];
  for (const frame of frames) send(client.data.peer!, frame);
}

function send(socket: Socket<Side>, bytes: Uint8Array): void {
  if (socket.data.closed) return;
  if (socket.data.queue.length > 0) {
    socket.data.queue.push(bytes);
    return;
  }
  const written = socket.write(bytes);
  if (written < bytes.byteLength) socket.data.queue.push(bytes.subarray(written));
}

function flush(socket: Socket<Side>): void {
  const queue = socket.data.queue;
  while (queue.length > 0) {
    const head = queue[0]!;
    const written = socket.write(head);
    if (written < head.byteLength) {
      queue[0] = head.subarray(written);
      return;
    }
    queue.shift();
  }
}
