// One broker's armed faults (faults.enable): added, listed and cleared by tests (TypeScript, the admin
// listener's /api/v1/faults, the Node launcher), consulted by the request path only while `armed` is true,
// so that a broker with no fault pays one boolean check per request, connection and replica fetch.
import { apiKeyOf, FAULTS_ARMED_MAX, FaultSpecError, validateFaultSpec, type ArmedFault, type FaultSpec } from "./fault-spec.ts";
import { ERROR_FAULT_APIS, partitionKeyOf } from "./api-shapes.ts";

/** What a fault does to the broker itself, beyond its requests (built by server/broker.ts). */
export interface FaultActions {
  readonly nodeId: number;
  /** Closes every open Kafka connection; answers how many. */
  closeConnections(): number;
  /** Writes an election: `nodeId` leads the partition from the next epoch. */
  moveLeader(topic: string, partition: number, nodeId: number): Promise<void>;
  /** Milliseconds every fsync of the broker's logs waits first; 0: none. */
  setFsyncDelay(delayMs: number): void;
}

export class FaultsDisabledError extends Error {
  constructor() {
    super("faults are off on this broker: set faults.enable=true (test clusters and dev mode do)");
  }
}

interface Armed extends ArmedFault {
  /** The API key the fault is limited to; null: every API. */
  apiKey: number | null;
  timer: ReturnType<typeof setTimeout> | null;
}

export class FaultInjector {
  /** True while any fault is armed: the only thing the hot path reads when none is. */
  armed = false;
  /** Told whenever `armed` may have changed (listening partition workers answer produce only while none is armed). */
  onArmedChange: (() => void) | null = null;
  private readonly faults = new Map<number, Armed>();
  private nextId = 1;
  private pauseEnded = Promise.withResolvers<void>();

  constructor(
    readonly enabled: boolean,
    private readonly actions: FaultActions,
  ) {}

  /** Arms a fault (or performs a one-time one: close-connections, move-leader); throws FaultSpecError on a bad spec. */
  async add(input: FaultSpec | unknown): Promise<ArmedFault> {
    this.requireEnabled();
    const { spec, count, durationMs } = validateFaultSpec(input);
    const id = this.nextId++;
    if (spec.type === "close-connections") {
      this.actions.closeConnections();
      return { id, spec, remaining: 0, expiresAtMs: null };
    }
    if (spec.type === "move-leader") {
      await this.actions.moveLeader(spec.topic, spec.partition, spec.broker);
      return { id, spec, remaining: 0, expiresAtMs: null };
    }
    if (spec.type === "error" && !ERROR_FAULT_APIS.has(spec.api)) throw new FaultSpecError(`error faults cover ${[...ERROR_FAULT_APIS].join(", ")}; not ${spec.api}`);
    if (this.faults.size >= FAULTS_ARMED_MAX) throw new FaultSpecError(`${FAULTS_ARMED_MAX} faults are armed already (FAULTS_ARMED_MAX): clear some first`);
    const api = "api" in spec ? spec.api : undefined;
    const armed: Armed = {
      id,
      spec,
      remaining: count,
      expiresAtMs: durationMs === null ? null : Date.now() + durationMs,
      apiKey: api === undefined ? null : apiKeyOf(api),
      timer: null,
    };
    if (durationMs !== null) {
      armed.timer = setTimeout(() => this.remove(id), durationMs);
      armed.timer.unref?.();
    }
    this.faults.set(id, armed);
    this.armed = true;
    this.onArmedChange?.();
    if (spec.type === "slow-fsync") this.applyFsyncDelay();
    return publicView(armed);
  }

  list(): ArmedFault[] {
    this.requireEnabled();
    return [...this.faults.values()].map(publicView);
  }

  /** Clears one fault by id, or all; answers how many went. A paused broker answers again. */
  clear(id?: number): number {
    this.requireEnabled();
    if (id !== undefined) return this.remove(id) ? 1 : 0;
    const ids = [...this.faults.keys()];
    for (const each of ids) this.remove(each);
    return ids.length;
  }

  /** At stop: nothing stays armed, paused requests go on (to be answered or closed by the stop). */
  close(): void {
    for (const id of [...this.faults.keys()]) this.remove(id);
  }

  // --- the hooks (called only while armed) ---

  /** Resolves once no pause fault is armed. */
  async waitWhilePaused(): Promise<void> {
    while (this.has("pause")) await this.pauseEnded.promise;
  }

  /** The first armed fault of this type for this API whose filter accepts it; its count is taken. */
  take<T extends FaultSpec["type"]>(type: T, apiKey: number, accepts: (spec: Extract<FaultSpec, { type: T }>) => boolean = () => true): Extract<FaultSpec, { type: T }> | null {
    for (const armed of this.faults.values()) {
      if (armed.spec.type !== type || (armed.apiKey !== null && armed.apiKey !== apiKey)) continue;
      const spec = armed.spec as Extract<FaultSpec, { type: T }>;
      if (!accepts(spec)) continue;
      this.consume(armed);
      return spec;
    }
    return null;
  }

  /** A new connection is refused (a refuse-connections fault takes it). */
  refuseConnection(): boolean {
    for (const armed of this.faults.values()) {
      if (armed.spec.type !== "refuse-connections") continue;
      this.consume(armed);
      return true;
    }
    return false;
  }

  /** The partitions made offline here, as "topic\0partition". */
  offlinePartitions(): Set<string> | null {
    let offline: Set<string> | null = null;
    for (const { spec } of this.faults.values()) if (spec.type === "partition-offline") (offline ??= new Set()).add(partitionKeyOf(spec.topic, spec.partition));
    return offline;
  }

  /** Replication between this broker and `peer` is cut. */
  replicationCut(peer: number): boolean {
    for (const { spec } of this.faults.values()) {
      if (spec.type === "cut-replication" && spec.brokers.includes(this.actions.nodeId) && spec.brokers.includes(peer) && peer !== this.actions.nodeId) return true;
    }
    return false;
  }

  /** The longest delay of the armed slow-fsync faults, or 0, to the workers. */
  private applyFsyncDelay(): void {
    let delayMs = 0;
    for (const { spec } of this.faults.values()) if (spec.type === "slow-fsync") delayMs = Math.max(delayMs, spec.delayMs);
    this.actions.setFsyncDelay(delayMs);
  }

  private has(type: FaultSpec["type"]): boolean {
    for (const { spec } of this.faults.values()) if (spec.type === type) return true;
    return false;
  }

  private consume(armed: Armed): void {
    if (armed.remaining === null) return;
    armed.remaining--;
    if (armed.remaining <= 0) this.remove(armed.id);
  }

  private remove(id: number): boolean {
    const armed = this.faults.get(id);
    if (!armed) return false;
    if (armed.timer) clearTimeout(armed.timer);
    this.faults.delete(id);
    this.armed = this.faults.size > 0;
    this.onArmedChange?.();
    if (armed.spec.type === "slow-fsync") this.applyFsyncDelay();
    if (armed.spec.type === "pause") {
      this.pauseEnded.resolve();
      this.pauseEnded = Promise.withResolvers<void>();
    }
    return true;
  }

  private requireEnabled(): void {
    if (!this.enabled) throw new FaultsDisabledError();
  }
}

function publicView({ id, spec, remaining, expiresAtMs }: Armed): ArmedFault {
  return { id, spec, remaining, expiresAtMs };
}
