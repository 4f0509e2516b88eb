// Named bounds on the security state a client can make the broker store through the admin APIs
// (AlterUserScramCredentials, CreateAcls, AlterClientQuotas): how many items and how long each name.
// Kafka has neither (a name is bounded only by the request size, a count not at all); without an
// authorizer anyone may call these APIs, so each is a setting here (config/broker-config.ts).

export interface SecurityStateLimits {
  /** sasl.scram.max.users */
  readonly scramUsersMax: number;
  /** authorizer.max.acls */
  readonly aclsMax: number;
  /** client.quota.max.entities */
  readonly quotaEntitiesMax: number;
  /** security.name.max.bytes */
  readonly nameBytesMax: number;
}

export const SECURITY_STATE_LIMIT_DEFAULTS: SecurityStateLimits = { scramUsersMax: 10_000, aclsMax: 100_000, quotaEntitiesMax: 10_000, nameBytesMax: 1024 };

/** The limits in force, from the broker's properties (parsed and bounded at start by the settings table). */
export function securityStateLimits(properties: Readonly<Record<string, string>>): SecurityStateLimits {
  const read = (name: string, fallback: number) => (properties[name] === undefined ? fallback : Number(properties[name]));
  return {
    scramUsersMax: read("sasl.scram.max.users", SECURITY_STATE_LIMIT_DEFAULTS.scramUsersMax),
    aclsMax: read("authorizer.max.acls", SECURITY_STATE_LIMIT_DEFAULTS.aclsMax),
    quotaEntitiesMax: read("client.quota.max.entities", SECURITY_STATE_LIMIT_DEFAULTS.quotaEntitiesMax),
    nameBytesMax: read("security.name.max.bytes", SECURITY_STATE_LIMIT_DEFAULTS.nameBytesMax),
  };
}

const encoder = new TextEncoder();

/** Why `name` (what it is: "ACL principal", ...) is too long to store, or null. */
export function nameTooLongReason(what: string, name: string | null | undefined, limits: SecurityStateLimits): string | null {
  if (name === null || name === undefined || name.length * 3 <= limits.nameBytesMax) return null; // UTF-8: at most 3 bytes per UTF-16 unit
  const bytes = encoder.encode(name).byteLength;
  return bytes <= limits.nameBytesMax ? null : `${what} is ${bytes} bytes, more than security.name.max.bytes=${limits.nameBytesMax}`;
}

/** Runs `work` after every earlier call for the same `owner` finished: a count check and the write it guards happen as one. */
export function oneAtATime<T>(owner: object, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(owner) ?? Promise.resolve();
  const next = previous.then(work);
  queues.set(owner, next.catch(() => undefined));
  return next;
}

const queues = new WeakMap<object, Promise<unknown>>();
