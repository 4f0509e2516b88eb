// The broker's client quotas: the configured entries (QuotaTable), their store, and one rate sensor per
// client the quotas apply to. Produce and Fetch record their bytes here and get back how long to throttle.
import { applyQuotaOps, QuotaTable, RateSensor, throttleTimeMs, type QuotaEntity, type QuotaEntry, type QuotaWindow } from "./model.ts";
import type { QuotaStore } from "./file-store.ts";

/** Sensors of clients that stopped sending are dropped once idle this many windows (Kafka expires them too). */
const SENSOR_IDLE_WINDOWS = 2;

export class QuotaManager {
  private readonly table = new QuotaTable();
  private readonly sensors = new Map<string, RateSensor>();
  private lastSweepMs = Date.now();
  /** AlterClientQuotas requests one at a time: each one reads, changes and persists the whole set. */
  private alterations: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: QuotaStore,
    readonly window: QuotaWindow,
  ) {}

  async start(): Promise<void> {
    this.table.replace(await this.store.start());
  }

  async stop(): Promise<void> {
    await this.store.stop();
  }

  list(): QuotaEntry[] {
    return this.table.list();
  }

  /** Applies one entity's operations (persisted before they take effect) unless validateOnly. */
  alter(entity: QuotaEntity, ops: ReadonlyArray<{ key: string; value: number; remove: boolean }>): Promise<void> {
    const next = this.alterations.then(async () => {
      const entries = applyQuotaOps(this.table.list(), entity, ops);
      await this.store.replace(entries);
      this.table.replace(entries);
    });
    this.alterations = next.catch(() => undefined);
    return next;
  }

  /**
   * Records `bytes` against the client's quota for `key` and returns the throttle time in ms (0: within it,
   * or no quota applies). With no quotas configured this is one map-size check.
   */
  record(key: string, principal: string, clientId: string | null, bytes: number, nowMs = Date.now()): number {
    const quota = this.table.resolve(key, principal, clientId ?? "");
    if (quota === null) return 0;
    let sensor = this.sensors.get(quota.sensorKey);
    if (!sensor) {
      sensor = new RateSensor(this.window, nowMs);
      this.sensors.set(quota.sensorKey, sensor);
    }
    sensor.record(bytes, nowMs);
    this.sweep(nowMs);
    return throttleTimeMs(sensor, quota.bound, nowMs, this.window);
  }

  private sweep(nowMs: number): void {
    const idleMs = SENSOR_IDLE_WINDOWS * this.window.samples * this.window.sampleMs;
    if (nowMs - this.lastSweepMs < idleMs) return;
    this.lastSweepMs = nowMs;
    for (const [key, sensor] of this.sensors) if (nowMs - sensor.lastRecordMs > idleMs) this.sensors.delete(key);
  }
}
