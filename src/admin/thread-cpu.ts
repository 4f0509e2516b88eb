// CPU time per thread of this process, from /proc/self/task (Linux): the socket thread and each worker
// thread. Its rate is a thread's utilisation (Bun's performance.eventLoopUtilization reports zeros, measured).
// Elsewhere (no /proc) nothing is reported.
import { readdirSync, readFileSync } from "node:fs";

/** Linux's USER_HZ: /proc/<pid>/task/<tid>/stat counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

export interface ThreadCpu {
  /** "socket" for the main thread, "worker" for Bun Worker threads (the partition workers). */
  thread: string;
  tid: string;
  cpuSeconds: number;
}

export function threadCpuTimes(): ThreadCpu[] {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return [];
  }
  const mainTid = String(process.pid);
  const threads: ThreadCpu[] = [];
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      // "tid (comm) state ...": comm may hold spaces, so fields are counted after the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after "state" (index 0 here).
      const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
      if (tid === mainTid) threads.push({ thread: "socket", tid, cpuSeconds });
      else if (comm === "Worker") threads.push({ thread: "worker", tid, cpuSeconds });
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return threads;
}
