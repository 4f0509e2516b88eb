// A worker thread that runs one blocking loop of native/netbench.c for bench/limits.ts and reports
// bytes and seconds. One message in, one or two messages out.
declare const self: Worker;
import { closeSync, openSync } from "node:fs";
import { check, netbench } from "./native.ts";

export type LimitTask =
  | { op: "receive"; mode: "discard" | "file"; bufferBytes: number; filePath?: string; fileMaxBytes?: number }
  | { op: "send"; mode: "memory" | "sendfile"; port: number; chunkBytes: number; totalBytes: number; maxSeconds: number; filePath?: string; fileBytes?: number }
  | { op: "append"; filePath: string; chunkBytes: number; totalBytes: number; fileMaxBytes: number; maxSeconds: number };

export type LimitReport = { event: "listening"; port: number } | { event: "done"; bytes: number; seconds: number } | { event: "error"; message: string };

const native = netbench();
const now = () => Number(native.nb_monotonic_ns()) / 1e9;

function run(task: LimitTask): void {
  if (task.op === "receive") {
    const listener = check(native.nb_listen(0), "listen");
    self.postMessage({ event: "listening", port: check(native.nb_local_port(listener), "getsockname") } satisfies LimitReport);
    const socket = check(native.nb_accept(listener), "accept");
    native.nb_close(listener);
    const buffer = new Uint8Array(task.bufferBytes);
    const started = now();
    let bytes: number;
    if (task.mode === "discard") {
      bytes = check(native.nb_recv_discard(socket, buffer, buffer.byteLength), "recv");
    } else {
      const file = openSync(task.filePath!, "w");
      bytes = check(native.nb_recv_to_file(socket, file, buffer, buffer.byteLength, task.fileMaxBytes!), "recv to file");
      closeSync(file);
    }
    const seconds = now() - started;
    native.nb_close(socket);
    self.postMessage({ event: "done", bytes, seconds } satisfies LimitReport);
    return;
  }
  if (task.op === "send") {
    const socket = check(native.nb_connect(task.port), "connect");
    const started = now();
    let bytes: number;
    if (task.mode === "memory") {
      const buffer = new Uint8Array(task.chunkBytes);
      for (let i = 0; i < buffer.byteLength; i += 64) buffer[i] = i & 0xff;
      bytes = check(native.nb_send_repeat(socket, buffer, buffer.byteLength, task.totalBytes, task.maxSeconds * 1e9), "send");
    } else {
      const file = openSync(task.filePath!, "r");
      bytes = check(native.nb_sendfile_repeat(socket, file, task.fileBytes!, task.chunkBytes, task.totalBytes, task.maxSeconds * 1e9), "sendfile");
      closeSync(file);
    }
    const seconds = now() - started;
    native.nb_shutdown_write(socket);
    native.nb_close(socket);
    self.postMessage({ event: "done", bytes, seconds } satisfies LimitReport);
    return;
  }
  const file = openSync(task.filePath, "w");
  const buffer = new Uint8Array(task.chunkBytes);
  for (let i = 0; i < buffer.byteLength; i += 64) buffer[i] = i & 0xff;
  const started = now();
  const bytes = check(native.nb_append_repeat(file, buffer, buffer.byteLength, task.totalBytes, task.fileMaxBytes, task.maxSeconds * 1e9), "append");
  const seconds = now() - started;
  closeSync(file);
  self.postMessage({ event: "done", bytes, seconds } satisfies LimitReport);
}

self.onmessage = (event: MessageEvent<LimitTask>) => {
  try {
    run(event.data);
  } catch (error) {
    self.postMessage({ event: "error", message: error instanceof Error ? error.message : String(error) } satisfies LimitReport);
  }
};
