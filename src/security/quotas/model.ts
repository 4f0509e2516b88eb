// Client quotas (KIP-13, KIP-55, KIP-124, KIP-546): byte rates and request-time percentages per user
// principal and/or client id, resolved with Kafka's precedence and measured over a sliding window of samples
// (Kafka's Rate over quota.window.num samples of quota.window.size.seconds). A client over its quota is
// answered at once with the throttle time and its connection is muted for that long (KIP-219).

export const PRODUCER_BYTE_RATE = "producer_byte_rate";
export const CONSUMER_BYTE_RATE = "consumer_byte_rate";
export const REQUEST_PERCENTAGE = "request_percentage";
/** The quota keys this broker enforces; any other key is refused, never stored and silently ignored. */
export const SUPPORTED_QUOTA_KEYS: readonly string[] = [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE];

export const USER_ENTITY = "user";
export const CLIENT_ID_ENTITY = "client-id";

/**
 * Which clients a quota applies to: a component absent (undefined) is not part of the entity; null is
 * Kafka's `<default>` for that component.
 */
export interface QuotaEntity {
  user?: string | null;
  clientId?: string | null;
}

export interface QuotaEntry {
  entity: QuotaEntity;
  values: Record<string, number>;
}

export function entityKey(entity: QuotaEntity): string {
  const part = (value: string | null | undefined) => (value === undefined ? "-" : value === null ? "<default>" : `=${value}`);
  return `user${part(entity.user)}|client${part(entity.clientId)}`;
}

/** Kafka's user entity name is the principal's name without the "User:" type. */
export function userOfPrincipal(principal: string): string {
  return principal.startsWith("User:") ? principal.slice("User:".length) : principal;
}

/**
 * Kafka's precedence (DefaultQuotaCallback): user+client-id, user+default client-id, user, default user +
 * client-id, default user + default client-id, default user, client-id, default client-id.
 */
function candidates(user: string, clientId: string): QuotaEntity[] {
  return [
    { user, clientId },
    { user, clientId: null },
    { user },
    { user: null, clientId },
    { user: null, clientId: null },
    { user: null },
    { clientId },
    { clientId: null },
  ];
}

export interface ResolvedQuota {
  /** Bytes per second. */
  bound: number;
  /** The client's own sensor: the matched entity's shape with the client's actual names (Kafka's metric tags). */
  sensorKey: string;
}

/** The entries by entity key; resolves the quota of one key for one client. */
export class QuotaTable {
  private entries = new Map<string, QuotaEntry>();
  /** The quota keys some entry sets: a client is never resolved for a key no entry has (the common case). */
  private keysInUse = new Set<string>();
  /** Bumped on every change so that per-connection resolutions can be cached. */
  version = 0;

  replace(entries: QuotaEntry[]): void {
    this.entries = new Map(entries.map((entry) => [entityKey(entry.entity), entry]));
    this.keysInUse = new Set(entries.flatMap((entry) => Object.keys(entry.values)));
    this.version++;
  }

  has(key: string): boolean {
    return this.keysInUse.has(key);
  }

  list(): QuotaEntry[] {
    return [...this.entries.values()];
  }

  resolve(key: string, principal: string, clientId: string): ResolvedQuota | null {
    if (!this.keysInUse.has(key)) return null;
    const user = userOfPrincipal(principal);
    for (const candidate of candidates(user, clientId)) {
      const value = this.entries.get(entityKey(candidate))?.values[key];
      if (value === undefined) continue;
      const sensorEntity: QuotaEntity = {};
      if (candidate.user !== undefined) sensorEntity.user = user;
      if (candidate.clientId !== undefined) sensorEntity.clientId = clientId;
      return { bound: value, sensorKey: `${key}|${entityKey(sensorEntity)}` };
    }
    return null;
  }
}

export type QuotaOps = ReadonlyArray<{ key: string; value: number; remove: boolean }>;

/** One entity's values after AlterClientQuotas operations: null when no key is left (the entity goes). */
export function applyOpsToValues(current: Record<string, number> | null, ops: QuotaOps): Record<string, number> | null {
  const values = { ...(current ?? {}) };
  for (const op of ops) {
    if (op.remove) delete values[op.key];
    else values[op.key] = op.value;
  }
  return Object.keys(values).length === 0 ? null : values;
}

/** The entries with one entity's values replaced (null: the entity removed). */
export function withEntity(entries: QuotaEntry[], entity: QuotaEntity, values: Record<string, number> | null): QuotaEntry[] {
  const key = entityKey(entity);
  const others = entries.filter((entry) => entityKey(entry.entity) !== key);
  return values === null ? others : [...others, { entity, values }];
}

/** Applies AlterClientQuotas operations to a copy of the entries: set or remove keys, dropping emptied entities. */
export function applyQuotaOps(entries: QuotaEntry[], entity: QuotaEntity, ops: QuotaOps): QuotaEntry[] {
  const key = entityKey(entity);
  const existing = entries.find((entry) => entityKey(entry.entity) === key);
  return withEntity(entries, entity, applyOpsToValues(existing?.values ?? null, ops));
}

export interface QuotaWindow {
  /** quota.window.num */
  samples: number;
  /** quota.window.size.seconds, in ms */
  sampleMs: number;
}

/** Kafka's SampledStat Rate: values in `samples` windows of `sampleMs`; the oldest expires as time moves on. */
export class RateSensor {
  private readonly starts: number[];
  private readonly values: number[];
  private current = 0;
  lastRecordMs: number;

  constructor(private readonly window: QuotaWindow, nowMs: number) {
    this.starts = new Array(window.samples).fill(nowMs);
    this.values = new Array(window.samples).fill(0);
    this.lastRecordMs = nowMs;
  }

  record(value: number, nowMs: number): void {
    this.advance(nowMs);
    this.values[this.current]! += value;
    this.lastRecordMs = nowMs;
  }

  /** Value per second over the window and that window; like Kafka, the elapsed time counts at least samples-1 whole windows. */
  measure(nowMs: number): { rate: number; windowMs: number } {
    this.advance(nowMs);
    const horizon = nowMs - this.window.samples * this.window.sampleMs;
    let total = 0;
    let oldest = nowMs;
    for (let i = 0; i < this.values.length; i++) {
      if (this.starts[i]! + this.window.sampleMs <= horizon) continue;
      total += this.values[i]!;
      oldest = Math.min(oldest, this.starts[i]!);
    }
    const windowMs = this.windowMs(nowMs, oldest);
    return { rate: total / (windowMs / 1000), windowMs };
  }

  /** Kafka's Rate.windowSize. */
  windowMs(nowMs: number, oldestStartMs: number): number {
    const elapsed = nowMs - oldestStartMs;
    const fullWindows = Math.floor(elapsed / this.window.sampleMs);
    const minFullWindows = this.window.samples - 1;
    return Math.max(1, elapsed + Math.max(0, minFullWindows - fullWindows) * this.window.sampleMs);
  }

  private advance(nowMs: number): void {
    const start = this.starts[this.current]!;
    if (nowMs < start + this.window.sampleMs) return;
    // Move to a new sample aligned to its window; a long pause resets every expired one on the way.
    const steps = Math.min(this.window.samples, Math.floor((nowMs - start) / this.window.sampleMs));
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % this.window.samples;
      this.starts[this.current] = start + (i + 1) * this.window.sampleMs;
      this.values[this.current] = 0;
    }
    if (steps === this.window.samples) this.starts[this.current] = nowMs;
  }
}

/**
 * Kafka's ClientQuotaManager.throttleTime: how long until the measured rate is back under the bound,
 * ((rate - bound) / bound) * window, at most the whole window (byte rates) or `maxMs` (request time: Kafka's
 * ClientRequestQuotaManager caps it at one sample).
 */
export function throttleTimeMs(sensor: RateSensor, bound: number, nowMs: number, window: QuotaWindow, maxMs = window.samples * window.sampleMs): number {
  const { rate, windowMs } = sensor.measure(nowMs);
  if (rate <= bound) return 0;
  if (bound <= 0) return maxMs;
  return Math.min(maxMs, Math.ceil(((rate - bound) / bound) * windowMs));
}
