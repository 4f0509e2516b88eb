// Keeps one lease alive: grant, renew every ttl/3, and report the lease lost exactly once, either because
// etcd says it is gone or because nothing renewed it for a whole TTL. Leader election and broker
// registration hang their keys on such a lease; onLost is the moment to stop acting as leader.
//
// "Lost" is judged from the send time of the last keepalive etcd confirmed: etcd received it later than
// we sent it, so its own expiry is never earlier than ours. The keeper gives up no later than etcd does.
import type { MetadataKv } from "./kv.ts";
import { EtcdError } from "./errors.ts";

export interface LeaseKeeperOptions {
  ttlSeconds: number;
  /** Called once, when the lease expired or must be assumed expired. Not called after stop(). */
  onLost(error: EtcdError): void;
  /** Keepalive attempts per renewal round before waiting for the next round. */
  keepAliveAttemptsMax?: number;
  /** Pause between attempts in one round. */
  retryDelayMs?: number;
  log?: (line: string) => void;
}

export const LEASE_KEEPER_DEFAULTS = { keepAliveAttemptsMax: 3, retryDelayMs: 200 } as const;

export class LeaseKeeper {
  private leaseId: string | null = null;
  private grantedTtlSeconds = 0;
  /** performance.now() when the last keepalive etcd confirmed was sent (or the grant). */
  private renewedAtMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private lostError: EtcdError | null = null;
  private readonly attemptsMax: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly client: MetadataKv,
    private readonly options: LeaseKeeperOptions,
  ) {
    this.attemptsMax = options.keepAliveAttemptsMax ?? LEASE_KEEPER_DEFAULTS.keepAliveAttemptsMax;
    this.retryDelayMs = options.retryDelayMs ?? LEASE_KEEPER_DEFAULTS.retryDelayMs;
    if (!(this.attemptsMax >= 1)) throw new RangeError(`keepAliveAttemptsMax must be >= 1, got ${this.attemptsMax}`);
  }

  /** Grants the lease and starts renewing it. */
  async start(): Promise<{ id: string; ttlSeconds: number }> {
    if (this.leaseId !== null || this.stopped) throw new Error("LeaseKeeper.start() called twice");
    const sentAtMs = performance.now();
    const lease = await this.client.grantLease(this.options.ttlSeconds);
    this.leaseId = lease.id;
    this.grantedTtlSeconds = lease.ttlSeconds;
    this.renewedAtMs = sentAtMs;
    if (this.stopped) return lease;
    this.schedule();
    return lease;
  }

  get id(): string {
    if (this.leaseId === null) throw new Error("LeaseKeeper not started");
    return this.leaseId;
  }

  /** The TTL etcd granted (it may raise the requested one to its minimum). */
  get ttlSeconds(): number {
    return this.grantedTtlSeconds;
  }

  /** Why the lease was lost, or null while it is held. */
  get lost(): EtcdError | null {
    return this.lostError;
  }

  /** Stops renewing and revokes the lease (deleting its keys). Best effort: if etcd cannot be reached the lease expires on its own. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round;
    if (this.leaseId === null) return;
    try {
      await this.client.revokeLease(this.leaseId);
    } catch (error) {
      this.options.log?.(`etcd lease ${this.leaseId}: revoke on stop failed (${(error as Error).message}); it expires within ${this.grantedTtlSeconds} s`);
    }
  }

  private get ttlMs(): number {
    return this.grantedTtlSeconds * 1000;
  }

  private schedule(): void {
    if (this.stopped || this.lostError) return;
    const intervalMs = this.ttlMs / 3;
    const untilExpiryMs = this.renewedAtMs + this.ttlMs - performance.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.round = this.renew().finally(() => {
        this.round = null;
        this.schedule();
      });
    }, Math.max(0, Math.min(intervalMs, untilExpiryMs)));
  }

  private async renew(): Promise<void> {
    const id = this.leaseId!;
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= this.attemptsMax; attempt++) {
      if (this.stopped) return;
      const sentAtMs = performance.now();
      const remainingMs = this.renewedAtMs + this.ttlMs - sentAtMs;
      if (remainingMs <= 0) break;
      try {
        // An answer after the TTL is useless: bound the call by what is left of it.
        const ttlSeconds = await this.client.keepAliveOnce(id, { timeoutMs: Math.max(1, Math.min(this.client.requestTimeoutMs, remainingMs)) });
        if (this.stopped) return;
        if (ttlSeconds <= 0) return this.lose(new EtcdError(`etcd lease ${id} expired (keepalive answered TTL ${ttlSeconds})`, "lease-lost"));
        this.renewedAtMs = sentAtMs;
        return;
      } catch (error) {
        lastError = error;
        if (this.stopped) return;
        if (error instanceof EtcdError && error.isLeaseNotFound) return this.lose(new EtcdError(`etcd lease ${id} not found`, "lease-lost", null, null, error.endpoint, { cause: error }));
        this.options.log?.(`etcd lease ${id}: keepalive attempt ${attempt} of ${this.attemptsMax} failed: ${(error as Error).message}`);
        if (attempt < this.attemptsMax) await Bun.sleep(Math.min(this.retryDelayMs, Math.max(0, this.renewedAtMs + this.ttlMs - performance.now())));
      }
    }
    if (performance.now() >= this.renewedAtMs + this.ttlMs) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : "";
      this.lose(new EtcdError(`etcd lease ${id}: not renewed for its TTL of ${this.grantedTtlSeconds} s${detail}`, "lease-lost", null, null, null, { cause: lastError }));
    }
  }

  private lose(error: EtcdError): void {
    if (this.lostError || this.stopped) return;
    this.lostError = error;
    this.options.log?.(error.message);
    try {
      this.options.onLost(error);
    } catch (callbackError) {
      this.options.log?.(`etcd lease ${this.leaseId}: onLost threw: ${(callbackError as Error).message}`);
    }
  }
}
