// The broker's client quotas: the configured entries (QuotaTable), their store, and one rate sensor per
// client the quotas apply to. Produce and Fetch record their bytes here, the dispatcher every request's
// handling time (request_percentage), and each gets back how long to throttle.
import { applyOpsToValues, QuotaTable, RateSensor, REQUEST_PERCENTAGE, throttleTimeMs, withEntity, type QuotaEntity, type QuotaEntry, type QuotaOps, type QuotaWindow } from "./model.ts";
import type { QuotaStore } from "./file-store.ts";

/** Sensors of clients that stopped sending are dropped once idle this many windows (Kafka expires them too). */
const SENSOR_IDLE_WINDOWS = 2;

/**
 * request_percentage is a share of one thread's time: 100 is one thread busy all the time, so a millisecond
 * of handling records 0.1 percent-seconds (Kafka's nanosToPercentage).
 */
const PERCENT_PER_MS = 100 / 1000;

export class QuotaManager {
  private readonly table = new QuotaTable();
  private readonly sensors = new Map<string, RateSensor>();
  private lastSweepMs = Date.now();
  /** AlterClientQuotas requests one at a time: each one reads, changes and persists an entity. */
  private alterations: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: QuotaStore,
    readonly window: QuotaWindow,
  ) {}

  async start(): Promise<void> {
    this.replaceTable(await this.store.start((entries) => this.replaceTable(entries)));
  }

  async stop(): Promise<void> {
    await this.store.stop();
  }

  /** Told after every change of the quotas (listening partition workers answer produce only while none applies to it). */
  onChange: (() => void) | null = null;

  private replaceTable(entries: QuotaEntry[]): void {
    this.table.replace(entries);
    this.onChange?.();
  }

  list(): QuotaEntry[] {
    return this.table.list();
  }

  /** True when some entity has a request_percentage quota: only then is request handling timed. */
  get requestQuotasInForce(): boolean {
    return this.table.has(REQUEST_PERCENTAGE);
  }

  /** True when some entity has a quota for `key` (a network shard answers produce itself only while none does). */
  inForce(key: string): boolean {
    return this.table.has(key);
  }

  /** Applies one entity's operations (persisted before they take effect here). */
  alter(entity: QuotaEntity, ops: QuotaOps): Promise<void> {
    const next = this.alterations.then(async () => {
      const stored = await this.store.update(entity, (values) => applyOpsToValues(values, ops));
      this.replaceTable(withEntity(this.table.list(), entity, stored));
    });
    this.alterations = next.catch(() => undefined);
    return next;
  }

  /**
   * Records `bytes` against the client's quota for `key` and returns the throttle time in ms (0: within it,
   * or no quota applies). When no entity sets `key` this is one set lookup.
   */
  record(key: string, principal: string, clientId: string | null, bytes: number, nowMs = Date.now()): number {
    return this.recordValue(key, principal, clientId, bytes, nowMs, this.window.samples * this.window.sampleMs);
  }

  /**
   * Records `ms` of request handling against the client's request_percentage and returns the throttle time,
   * at most one sample (Kafka's ClientRequestQuotaManager.maxThrottleTimeMs).
   */
  recordRequestTime(principal: string, clientId: string | null, ms: number, nowMs = Date.now()): number {
    return this.recordValue(REQUEST_PERCENTAGE, principal, clientId, ms * PERCENT_PER_MS, nowMs, this.window.sampleMs);
  }

  private recordValue(key: string, principal: string, clientId: string | null, value: number, nowMs: number, maxThrottleMs: number): number {
    const quota = this.table.resolve(key, principal, clientId ?? "");
    if (quota === null) return 0;
    let sensor = this.sensors.get(quota.sensorKey);
    if (!sensor) {
      sensor = new RateSensor(this.window, nowMs);
      this.sensors.set(quota.sensorKey, sensor);
    }
    sensor.record(value, nowMs);
    this.sweep(nowMs);
    return throttleTimeMs(sensor, quota.bound, nowMs, this.window, maxThrottleMs);
  }

  private sweep(nowMs: number): void {
    const idleMs = SENSOR_IDLE_WINDOWS * this.window.samples * this.window.sampleMs;
    if (nowMs - this.lastSweepMs < idleMs) return;
    this.lastSweepMs = nowMs;
    for (const [key, sensor] of this.sensors) if (nowMs - sensor.lastRecordMs > idleMs) this.sensors.delete(key);
  }
}
