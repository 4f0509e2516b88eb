// The load generator's entry point on the main thread: each task (a producer or consumer connection)
// runs in its own worker thread (loadgen-worker.ts), all at once; the reports come back in task order.
import type { LoadReport, LoadTask } from "./loadgen-worker.ts";

export type { ConsumeTask, LoadReport, LoadTask, ProduceTask } from "./loadgen-worker.ts";

const TASK_GRACE_MS = 60_000;

export function runLoad(tasks: LoadTask[]): Promise<LoadReport[]> {
  return Promise.all(
    tasks.map(
      (task) =>
        new Promise<LoadReport>((resolve, reject) => {
          const worker = new Worker(new URL("./loadgen-worker.ts", import.meta.url).href);
          const timer = setTimeout(() => {
            worker.terminate();
            reject(new Error(`load task ${task.op} on ${task.topic} did not finish within ${task.maxSeconds} s + ${TASK_GRACE_MS} ms`));
          }, task.maxSeconds * 1000 + TASK_GRACE_MS);
          worker.onmessage = (event: MessageEvent<{ ok: true; report: LoadReport } | { ok: false; error: string }>) => {
            clearTimeout(timer);
            worker.terminate();
            if (event.data.ok) resolve(event.data.report);
            else reject(new Error(event.data.error));
          };
          worker.onerror = (event) => {
            clearTimeout(timer);
            worker.terminate();
            reject(new Error(event.message));
          };
          worker.postMessage(task);
        }),
    ),
  );
}

/** Sums reports of tasks that ran at the same time: rates add up over the longest duration. */
export function combine(reports: LoadReport[]): LoadReport {
  return {
    records: reports.reduce((sum, report) => sum + report.records, 0),
    bytes: reports.reduce((sum, report) => sum + report.bytes, 0),
    requests: reports.reduce((sum, report) => sum + report.requests, 0),
    errors: reports.reduce((sum, report) => sum + report.errors, 0),
    seconds: Math.max(...reports.map((report) => report.seconds)),
  };
}
