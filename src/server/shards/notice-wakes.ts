// Listening partition workers' notices (messages.ts AppendedNotice, FetchedNotice) reach the main thread on a
// port it does not listen on: it takes them itself (receiveMessageOnPort) before every request it handles and
// on a short timer, so a worker's produce or fetch costs the main thread no wake-up (one per request was a
// sixth of a core at 5,000 records/s). Only while a long poll of the main thread's own waits (a fetch session,
// a fetch over several workers' partitions, a TLS or SASL connection's fetch) must an append wake it: the
// main thread says so in shared memory, and a worker then also posts a wake-up on a second port, at most one
// outstanding. An acks=all append in a cluster always posts one: its reply waits for the main thread.
import type { AppendedNotice, FetchedNotice } from "./messages.ts";

/** Cell: 1 while a long poll of the main thread waits (set by the main thread). */
export const MAIN_WAITING = 0;
/** Cell: 1 while a wake-up is posted and not yet taken (set by the worker, cleared by the main thread). */
export const WAKE_POSTED = 1;

export function newNoticeCell(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

/**
 * The worker's side. The notice is posted first, then the waiting flag read: a main thread that sets the flag
 * and then takes the queued notices misses none (either the worker saw the flag and wakes it, or its notice
 * was queued before the flag was set and the main thread's own take finds it).
 */
export function noticePoster(notices: MessagePort, wakes: MessagePort, cell: Int32Array): (notice: AppendedNotice | FetchedNotice) => void {
  return (notice) => {
    notices.postMessage(notice);
    // An acks=all append in a cluster waits for the main thread, which must take its notice now.
    const wanted = Atomics.load(cell, MAIN_WAITING) !== 0 || (notice.kind === "appended" && notice.commit !== undefined);
    if (wanted && Atomics.compareExchange(cell, WAKE_POSTED, 0, 1) === 0) wakes.postMessage(null);
  };
}
