// What a test may ask a broker to do wrong, checked once when the fault is added: every fault names what it
// does and how long it lasts (a count of requests or connections, or a duration), each within a named maximum,
// so a fault can never outlive the test that armed it by more than FAULT_DURATION_MAX_MS.
import { Apis } from "../protocol/generated/index.ts";
import { ErrorCode } from "../protocol/errors.ts";

/** Most requests (or connections) one fault may take. */
export const FAULT_COUNT_MAX = 1_000_000;
/** Longest a fault stays armed. */
export const FAULT_DURATION_MAX_MS = 3_600_000;
/** Longest delay a latency fault adds to one response. */
export const FAULT_DELAY_MAX_MS = 300_000;
/** Longest wait the slow-fsync fault adds to one fsync (it blocks the worker's partitions meanwhile). */
export const FAULT_FSYNC_DELAY_MAX_MS = 10_000;
/** Faults armed on one broker at once. */
export const FAULTS_ARMED_MAX = 100;
/** How long a state fault (pause, refuse-connections, partition-offline, cut-replication, slow-fsync) lasts when the test gives no bound. */
export const FAULT_DEFAULT_DURATION_MS = 60_000;

/** Faults on requests of one API (or every API when `api` is left out). */
interface RequestFaultBounds {
  /** The API by name as Kafka spells it ("Produce", "Fetch", ...); every API when left out. */
  api?: string;
  /** Requests the fault takes (1..FAULT_COUNT_MAX); with neither count nor durationMs: 1. */
  count?: number;
  /** Milliseconds the fault stays armed (1..FAULT_DURATION_MAX_MS). */
  durationMs?: number;
}

export type FaultSpec =
  /** The next requests fail with `errorCode`: at partition level for Produce, Fetch, ListOffsets and OffsetCommit (only the partitions `topic`/`partition` match), at top level for the others. Nothing of a failed part is executed. */
  | (RequestFaultBounds & { type: "error"; api: string; errorCode: number; topic?: string; partition?: number })
  /** Responses are sent `delayMs` later. */
  | (RequestFaultBounds & { type: "latency"; delayMs: number })
  /** Requests are executed, their responses never sent. */
  | (RequestFaultBounds & { type: "drop-response" })
  /** Requests are executed, only the first `bytes` (default half) of each response is sent, then the connection closes. */
  | (RequestFaultBounds & { type: "truncate-response"; bytes?: number })
  /** Every open Kafka connection is closed now (listed for none: it happens once). */
  | { type: "close-connections" }
  /** No response is sent until the fault ends (its duration or a clear), then all are, in order (requests are executed meanwhile). */
  | { type: "pause"; durationMs?: number }
  /** New connections are closed at accept. */
  | { type: "refuse-connections"; count?: number; durationMs?: number }
  /** The partition looks leaderless: its requests here fail NOT_LEADER_OR_FOLLOWER, Metadata shows leader -1 with LEADER_NOT_AVAILABLE. */
  | { type: "partition-offline"; topic: string; partition: number; durationMs?: number }
  /** An election: `broker` (a live in-sync replica) becomes the partition's leader, epoch + 1 (happens once). */
  | { type: "move-leader"; topic: string; partition: number; broker: number }
  /** Replica fetches between the listed brokers fail, so followers fall out of the ISR until the fault ends. */
  | { type: "cut-replication"; brokers: number[]; durationMs?: number }
  /** Every fsync of the broker's logs waits `delayMs` first (a slow disk: the partition worker is blocked meanwhile). */
  | { type: "slow-fsync"; delayMs: number; durationMs?: number };

export type FaultType = FaultSpec["type"];

/** An armed fault as list() shows it. */
export interface ArmedFault {
  id: number;
  spec: FaultSpec;
  /** Requests or connections it still takes; null when bounded by time only. */
  remaining: number | null;
  /** When it ends (ms since the epoch); null when bounded by count only. */
  expiresAtMs: number | null;
}

export class FaultSpecError extends Error {}

/** faults.enable: off unless a test cluster, dev mode or the operator turns it on. */
export function faultsEnabled(config: { properties: Record<string, string> }): boolean {
  return (config.properties["faults.enable"] ?? "false").trim().toLowerCase() === "true";
}

const apiKeysByName = new Map<string, number>(Object.values(Apis).map((schema) => [schema.name, schema.apiKey]));
const knownErrorCodes = new Set<number>(Object.values(ErrorCode));

export function apiKeyOf(name: string): number {
  const key = apiKeysByName.get(name);
  if (key === undefined) throw new FaultSpecError(`unknown API "${name}" (Kafka's names: Produce, Fetch, Metadata, ...)`);
  return key;
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) throw new FaultSpecError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return value;
}

function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : integer(value, name, min, max);
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 249) throw new FaultSpecError(`${name} must be a topic name (1..249 characters)`);
  return value;
}

const REQUEST_FAULTS = new Set<FaultType>(["error", "latency", "drop-response", "truncate-response"]);

/** Checks a spec from TypeScript or JSON and returns it with its bounds filled in; throws FaultSpecError. */
export function validateFaultSpec(input: unknown): { spec: FaultSpec; count: number | null; durationMs: number | null } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw new FaultSpecError("a fault is an object with a type");
  const raw = input as Record<string, unknown>;
  const type = raw.type as FaultType;
  const count = optionalInteger(raw.count, "count", 1, FAULT_COUNT_MAX);
  const durationMs = optionalInteger(raw.durationMs, "durationMs", 1, FAULT_DURATION_MAX_MS);
  const api = raw.api === undefined ? undefined : (apiKeyOf(String(raw.api)), String(raw.api));
  if (REQUEST_FAULTS.has(type)) {
    const bounds = { count: count ?? (durationMs === undefined ? 1 : null), durationMs: durationMs ?? null };
    const base = { ...(api !== undefined ? { api } : {}), ...(count !== undefined ? { count } : {}), ...(durationMs !== undefined ? { durationMs } : {}) };
    switch (type) {
      case "error": {
        if (api === undefined) throw new FaultSpecError("an error fault names its api");
        const errorCode = integer(raw.errorCode, "errorCode", -1, 32767);
        if (!knownErrorCodes.has(errorCode) || errorCode === ErrorCode.NONE) throw new FaultSpecError(`errorCode ${errorCode} is not a Kafka error code`);
        const topic = raw.topic === undefined ? undefined : nonEmptyString(raw.topic, "topic");
        const partition = optionalInteger(raw.partition, "partition", 0, 2 ** 31 - 1);
        if (partition !== undefined && topic === undefined) throw new FaultSpecError("partition needs a topic");
        return { spec: { ...base, type, api, errorCode, ...(topic !== undefined ? { topic } : {}), ...(partition !== undefined ? { partition } : {}) }, ...bounds };
      }
      case "latency":
        return { spec: { ...base, type, delayMs: integer(raw.delayMs, "delayMs", 0, FAULT_DELAY_MAX_MS) }, ...bounds };
      case "drop-response":
        return { spec: { ...base, type }, ...bounds };
      case "truncate-response": {
        const bytes = optionalInteger(raw.bytes, "bytes", 0, 2 ** 31 - 1);
        return { spec: { ...base, type, ...(bytes !== undefined ? { bytes } : {}) }, ...bounds };
      }
    }
  }
  const stateBounds = { count: null, durationMs: durationMs ?? FAULT_DEFAULT_DURATION_MS };
  switch (type) {
    case "close-connections":
      return { spec: { type }, count: 1, durationMs: null };
    case "pause":
      return { spec: { type, durationMs: stateBounds.durationMs }, ...stateBounds };
    case "refuse-connections": {
      const bounds = { count: count ?? null, durationMs: count === undefined ? stateBounds.durationMs : (durationMs ?? null) };
      return { spec: { type, ...(count !== undefined ? { count } : {}), ...(bounds.durationMs !== null ? { durationMs: bounds.durationMs } : {}) }, ...bounds };
    }
    case "partition-offline":
      return { spec: { type, topic: nonEmptyString(raw.topic, "topic"), partition: integer(raw.partition, "partition", 0, 2 ** 31 - 1), durationMs: stateBounds.durationMs }, ...stateBounds };
    case "move-leader":
      return { spec: { type, topic: nonEmptyString(raw.topic, "topic"), partition: integer(raw.partition, "partition", 0, 2 ** 31 - 1), broker: integer(raw.broker, "broker", 0, 2 ** 31 - 1) }, count: 1, durationMs: null };
    case "cut-replication": {
      const brokers = raw.brokers;
      if (!Array.isArray(brokers) || brokers.length < 2 || brokers.length > 1000) throw new FaultSpecError("cut-replication names at least two brokers");
      const ids = [...new Set(brokers.map((id, index) => integer(id, `brokers[${index}]`, 0, 2 ** 31 - 1)))];
      if (ids.length < 2) throw new FaultSpecError("cut-replication names at least two different brokers");
      return { spec: { type, brokers: ids, durationMs: stateBounds.durationMs }, ...stateBounds };
    }
    case "slow-fsync":
      return { spec: { type, delayMs: integer(raw.delayMs, "delayMs", 1, FAULT_FSYNC_DELAY_MAX_MS), durationMs: stateBounds.durationMs }, ...stateBounds };
    default:
      throw new FaultSpecError(`unknown fault type ${JSON.stringify(raw.type)} (error, latency, drop-response, truncate-response, close-connections, pause, refuse-connections, partition-offline, move-leader, cut-replication, slow-fsync)`);
  }
}
