// A loopback TCP proxy that a test can cut: cut() closes every proxied connection and refuses new ones
// (accept, then close at once) until restore(). A client talking through it sees its server vanish while
// the server keeps running, so the test can change the server's state during the gap.
import type { Socket, TCPSocketListener } from "bun";

interface Pipe {
  /** The other side; null until the upstream connection is open. */
  peer: Socket<Pipe> | null;
  /** Bytes for this socket that it did not accept yet (or that arrived before the upstream opened). */
  pending: Uint8Array[];
  closed: boolean;
}

const PENDING_CHUNKS_MAX = 10_000;

export class TcpProxy {
  private readonly listener: TCPSocketListener<Pipe>;
  private readonly sockets = new Set<Socket<Pipe>>();
  private refusing = false;
  /** Connections accepted while not cut. */
  connectionCount = 0;

  constructor(private readonly upstreamPort: number) {
    const proxy = this;
    this.listener = Bun.listen<Pipe>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = { peer: null, pending: [], closed: false };
          if (proxy.refusing) return void client.end();
          proxy.connectionCount++;
          proxy.sockets.add(client);
          Bun.connect<Pipe>({
            hostname: "127.0.0.1",
            port: proxy.upstreamPort,
            data: { peer: client, pending: [], closed: false },
            socket: {
              open(upstream) {
                if (client.data.closed || proxy.refusing) return void upstream.end();
                proxy.sockets.add(upstream);
                client.data.peer = upstream;
                // Data the client sent before the upstream was open waits in the client's queue.
                const early = client.data.pending;
                client.data.pending = [];
                for (const chunk of early) send(upstream, chunk);
              },
              data(upstream, chunk) {
                send(client, chunk);
              },
              drain: flush,
              close(upstream) {
                close(upstream, proxy);
              },
              error(upstream) {
                close(upstream, proxy);
              },
            },
          }).catch(() => {
            // Upstream refused: the client sees its connection closed, as if the server were down.
            close(client, proxy);
            client.end();
          });
        },
        data(client, chunk) {
          const upstream = client.data.peer;
          if (upstream) send(upstream, chunk);
          else bounded(client.data.pending).push(new Uint8Array(chunk));
        },
        drain: flush,
        close(client) {
          close(client, proxy);
        },
        error(client) {
          close(client, proxy);
        },
      },
    });
  }

  get port(): number {
    return this.listener.port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Closes every proxied connection and refuses new ones until restore(). */
  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
  }

  restore(): void {
    this.refusing = false;
  }

  stop(): void {
    this.cut();
    this.listener.stop(true);
  }

  /** Internal: forget a closed socket. */
  forget(socket: Socket<Pipe>): void {
    this.sockets.delete(socket);
  }
}

function bounded(queue: Uint8Array[]): Uint8Array[] {
  if (queue.length >= PENDING_CHUNKS_MAX) throw new Error(`tcp proxy: more than ${PENDING_CHUNKS_MAX} chunks pending`);
  return queue;
}

/** Writes to `socket`, keeping what it did not accept for its drain. */
function send(socket: Socket<Pipe>, chunk: Uint8Array): void {
  if (socket.data.closed) return;
  if (socket.data.pending.length > 0) return void bounded(socket.data.pending).push(new Uint8Array(chunk));
  const written = socket.write(chunk);
  if (written < chunk.byteLength) bounded(socket.data.pending).push(new Uint8Array(chunk.subarray(Math.max(0, written))));
}

function flush(socket: Socket<Pipe>): void {
  // Before the upstream opens, a client's queue holds bytes *for the upstream*: they are not the client's to write.
  if (!socket.data.peer) return;
  while (socket.data.pending.length > 0) {
    const chunk = socket.data.pending[0]!;
    const written = socket.write(chunk);
    if (written < chunk.byteLength) {
      socket.data.pending[0] = chunk.subarray(Math.max(0, written));
      return;
    }
    socket.data.pending.shift();
  }
}

function close(socket: Socket<Pipe>, proxy: TcpProxy): void {
  if (socket.data.closed) return;
  socket.data.closed = true;
  proxy.forget(socket);
  socket.data.pending = [];
  const peer = socket.data.peer;
  if (peer && !peer.data.closed) peer.end();
}
