// Admission of new connections: max.connections, max.connections.per.ip and its overrides (Kafka's
// ConnectionQuotas). A connection above a limit is closed as soon as it is accepted; the refusals are
// logged once per interval with their count, never one line per connection (a flood must not flood the log).
//
// Room for the broker's own traffic: Kafka counts the inter-broker listener apart and, at the broker-wide
// limit, closes another listener's least recently used connection to make room. Bunka has one listener,
// so it keeps a reserve: a connection from the address of another live broker (replica fetchers connect
// from there; the addresses come from cluster metadata) may use max.connections.inter.broker.reserve
// slots above both limits. Its only cost is that a client on a broker's host can use the reserve too.
export interface ConnectionQuotaLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxConnectionsPerIpOverrides: Readonly<Record<string, number>>;
  interBrokerReserve: number;
}

export type Admission = { admitted: true; interBroker: boolean } | { admitted: false; reason: string };

/** How often refusals are summarised in the log. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class ConnectionQuotas {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private refusedSinceLog = 0;
  private lastRefusalReason = "";
  private lastRefusalLogMs = 0;
  readonly stats = { admitted: 0, refused: 0, reserveAdmitted: 0 };

  constructor(
    readonly limits: ConnectionQuotaLimits,
    /** Addresses of the other live brokers (asked only when a limit is reached). */
    private readonly brokerAddresses: () => ReadonlySet<string>,
    private readonly log: (message: string) => void,
  ) {}

  get connections(): number {
    return this.total;
  }

  /** Counts the connection in when a limit allows it; the caller closes it otherwise. */
  admit(remoteAddress: string, nowMs = Date.now()): Admission {
    const ip = normalizeAddress(remoteAddress);
    const fromIp = this.perIp.get(ip) ?? 0;
    const ipLimit = this.limits.maxConnectionsPerIpOverrides[ip] ?? this.limits.maxConnectionsPerIp;
    let interBroker = false;
    if (this.total >= this.limits.maxConnections || fromIp >= ipLimit) {
      interBroker = this.limits.interBrokerReserve > 0 && this.brokerAddresses().has(ip);
      const reserve = interBroker ? this.limits.interBrokerReserve : 0;
      const reason =
        this.total >= this.limits.maxConnections + reserve
          ? `max.connections=${this.limits.maxConnections} reached`
          : fromIp >= ipLimit + reserve
            ? `max.connections.per.ip=${ipLimit} reached for ${ip}`
            : null;
      if (reason) {
        this.refuse(reason, nowMs);
        return { admitted: false, reason };
      }
      this.noteReserveAdmission(ip, nowMs);
    }
    this.total++;
    this.perIp.set(ip, fromIp + 1);
    this.stats.admitted++;
    return { admitted: true, interBroker };
  }

  release(remoteAddress: string): void {
    const ip = normalizeAddress(remoteAddress);
    const fromIp = this.perIp.get(ip) ?? 0;
    if (fromIp <= 0) throw new Error(`connection quota released for ${ip} without a connection counted`);
    if (fromIp === 1) this.perIp.delete(ip);
    else this.perIp.set(ip, fromIp - 1);
    this.total--;
  }

  private lastReserveLogMs = 0;

  private noteReserveAdmission(ip: string, nowMs: number): void {
    this.stats.reserveAdmitted++;
    if (nowMs - this.lastReserveLogMs < REFUSAL_LOG_INTERVAL_MS) return;
    this.lastReserveLogMs = nowMs;
    this.log(`admitted a connection from broker address ${ip} into the inter-broker reserve (${this.total} connections, max.connections=${this.limits.maxConnections})`);
  }

  private refuse(reason: string, nowMs: number): void {
    this.stats.refused++;
    this.refusedSinceLog++;
    this.lastRefusalReason = reason;
    if (nowMs - this.lastRefusalLogMs < REFUSAL_LOG_INTERVAL_MS) return;
    this.log(`refused ${this.refusedSinceLog} new connection(s) in the last ${REFUSAL_LOG_INTERVAL_MS / 1000} s (latest: ${this.lastRefusalReason})`);
    this.refusedSinceLog = 0;
    this.lastRefusalLogMs = nowMs;
  }
}

/** "::ffff:1.2.3.4" (an IPv4 client on a dual-stack socket) counts as "1.2.3.4". */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** The addresses a broker host name stands for; names other than localhost are taken literally (no DNS on accept). */
export function hostAddresses(host: string): string[] {
  if (host === "localhost") return ["127.0.0.1", "::1"];
  return [normalizeAddress(host.replace(/^\[(.*)\]$/, "$1"))];
}
