// The ACL authorizer, with Kafka's rules (AclAuthorizer / StandardAuthorizer): super users may do
// everything; a DENY that matches wins over any ALLOW; an operation is allowed by an ALLOW for it, for ALL,
// or for one that implies it (READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
// DESCRIBE_CONFIGS); a resource no ACL names is open only with allow.everyone.if.no.acl.found. ACLs match a
// resource literally, through the wildcard name "*", or by prefix; principals through User:*, hosts through *.
//
// Decisions are cached per connection, keyed by the ACL version: the hot path (a produce or fetch on a
// topic the connection used before) is two map lookups.
import type { ConnectionSecurity } from "../principal.ts";
import {
  AclOperation,
  AclPermission,
  PatternType,
  WILDCARD_HOST,
  WILDCARD_PRINCIPAL,
  WILDCARD_RESOURCE,
  bindingKey,
  filterMatches,
  type AclBinding,
  type AclBindingFilter,
} from "./model.ts";

/** Who asks: the connection's principal and address. */
export interface AuthorizationSubject {
  readonly remoteIp: string;
  readonly security: ConnectionSecurity;
}

/** What handlers call; with no authorizer configured every check is true and the ACL APIs are refused. */
export interface Authorization {
  /** False when no authorizer is configured (CreateAcls/DescribeAcls/DeleteAcls answer SECURITY_DISABLED). */
  readonly enabled: boolean;
  authorize(subject: AuthorizationSubject, operation: number, resourceType: number, resourceName: string): boolean;
  /** Kafka's authorizeByResourceType: allowed on at least one resource of the type (IDEMPOTENT_WRITE from WRITE on any topic). */
  authorizeAny(subject: AuthorizationSubject, operation: number, resourceType: number): boolean;
  describeAcls(filter: AclBindingFilter): AclBinding[];
  /** Stores new bindings (already validated); resolves once they are durable and applied here. */
  createAcls(bindings: AclBinding[]): Promise<void>;
  /** Deletes every binding a filter selects; returns them per filter. */
  deleteAcls(filters: AclBindingFilter[]): Promise<AclBinding[][]>;
}

/** Where ACLs live: a file in the data dir (single node) or etcd (cluster); `onChange` delivers the full set. */
export interface AclStore {
  /** Loads the stored ACLs and starts delivering later changes (a cluster's watch) through onChange. */
  start(onChange: (bindings: AclBinding[]) => void): Promise<AclBinding[]>;
  add(bindings: AclBinding[]): Promise<void>;
  remove(bindings: AclBinding[]): Promise<void>;
  stop(): Promise<void>;
}

export interface AclAuthorizerOptions {
  /** Principals that pass every check ("User:admin"). */
  superUsers: ReadonlySet<string>;
  allowEveryoneIfNoAclFound: boolean;
}

/** super.users: Kafka's format, principals separated by semicolons. */
export function parseSuperUsers(value: string): Set<string> {
  return new Set(value.split(";").map((entry) => entry.trim()).filter(Boolean));
}

/** Everything allowed, no ACL APIs: the broker without authorizer.class.name, exactly as before. */
export const allowEverything: Authorization = {
  enabled: false,
  authorize: () => true,
  authorizeAny: () => true,
  describeAcls: () => [],
  createAcls: async () => undefined,
  deleteAcls: async (filters) => filters.map(() => []),
};

interface DecisionCache {
  version: number;
  principal: string;
  /** Indexed by resourceType * 16 + operation, then resource name. */
  byKind: Map<number, Map<string, boolean>>;
}

/** Bindings of one resource type, indexed for lookups by name. */
class ResourceAcls {
  readonly literal = new Map<string, AclBinding[]>();
  readonly prefixed: AclBinding[] = [];
  count = 0;

  add(binding: AclBinding): void {
    this.count++;
    if (binding.patternType === PatternType.PREFIXED) this.prefixed.push(binding);
    else {
      const list = this.literal.get(binding.resourceName);
      if (list) list.push(binding);
      else this.literal.set(binding.resourceName, [binding]);
    }
  }

  /** Every binding that applies to `name`: literal, wildcard, or a prefix of it. */
  matching(name: string): AclBinding[] {
    const matched: AclBinding[] = [];
    const literal = this.literal.get(name);
    if (literal) matched.push(...literal);
    if (name !== WILDCARD_RESOURCE) {
      const wildcard = this.literal.get(WILDCARD_RESOURCE);
      if (wildcard) matched.push(...wildcard);
    }
    for (const binding of this.prefixed) if (name.startsWith(binding.resourceName)) matched.push(binding);
    return matched;
  }
}

export class AclAuthorizer implements Authorization {
  readonly enabled = true;
  private bindings: AclBinding[] = [];
  private byType = new Map<number, ResourceAcls>();
  /** Bumped on every change of the ACL set: cached decisions of an older version are dropped. */
  private version = 0;
  private readonly caches = new WeakMap<object, DecisionCache>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: AclAuthorizerOptions,
    private readonly store: AclStore,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.replace(await this.store.start((bindings) => this.replace(bindings)));
    this.log(`ACL authorizer: ${this.bindings.length} ACL(s), super.users [${[...this.options.superUsers].join(";")}], allow.everyone.if.no.acl.found=${this.options.allowEveryoneIfNoAclFound}`);
  }

  stop(): Promise<void> {
    return this.store.stop();
  }

  get aclVersion(): number {
    return this.version;
  }

  /** Installs a whole new ACL set (from the store or a watch). */
  replace(given: AclBinding[]): void {
    // A cluster's watch may deliver this broker's own write before the write returns: the same binding
    // arrives twice, and is kept once.
    const bindings = [...new Map(given.map((binding) => [bindingKey(binding), binding])).values()];
    const byType = new Map<number, ResourceAcls>();
    for (const binding of bindings) {
      let acls = byType.get(binding.resourceType);
      if (!acls) byType.set(binding.resourceType, (acls = new ResourceAcls()));
      acls.add(binding);
    }
    this.bindings = bindings;
    this.byType = byType;
    this.version++;
  }

  authorize(subject: AuthorizationSubject, operation: number, resourceType: number, resourceName: string): boolean {
    const principal = subject.security.principal;
    let cache = this.caches.get(subject);
    if (!cache || cache.version !== this.version || cache.principal !== principal) {
      // A principal can change on a connection (SASL re-authentication): its decisions start over.
      cache = { version: this.version, principal, byKind: new Map() };
      this.caches.set(subject, cache);
    }
    const kind = resourceType * 16 + operation;
    let decisions = cache.byKind.get(kind);
    if (!decisions) cache.byKind.set(kind, (decisions = new Map()));
    const cached = decisions.get(resourceName);
    if (cached !== undefined) return cached;
    const decision = this.decide(principal, subject.remoteIp, operation, resourceType, resourceName);
    decisions.set(resourceName, decision);
    return decision;
  }

  /** The decision without any cache (what authorize caches; the micro-benchmark measures both). */
  decide(principal: string, host: string, operation: number, resourceType: number, resourceName: string): boolean {
    if (this.options.superUsers.has(principal)) return true;
    const acls = this.byType.get(resourceType)?.matching(resourceName) ?? [];
    if (acls.length === 0) return this.options.allowEveryoneIfNoAclFound;
    for (const acl of acls) {
      if (acl.permission === AclPermission.DENY && appliesTo(acl, principal, host) && (acl.operation === operation || acl.operation === AclOperation.ALL)) return false;
    }
    for (const acl of acls) {
      if (acl.permission === AclPermission.ALLOW && appliesTo(acl, principal, host) && allows(acl.operation, operation)) return true;
    }
    return false;
  }

  authorizeAny(subject: AuthorizationSubject, operation: number, resourceType: number): boolean {
    const principal = subject.security.principal;
    if (this.options.superUsers.has(principal)) return true;
    const acls = this.byType.get(resourceType);
    if (!acls || acls.count === 0) return this.options.allowEveryoneIfNoAclFound;
    const host = subject.remoteIp;
    const all = [...acls.literal.values()].flat().concat(acls.prefixed);
    const denied = (candidate: AclBinding) =>
      all.some((acl) => acl.permission === AclPermission.DENY && appliesTo(acl, principal, host) && (acl.operation === operation || acl.operation === AclOperation.ALL) && covers(acl, candidate));
    return all.some((acl) => acl.permission === AclPermission.ALLOW && appliesTo(acl, principal, host) && (acl.operation === operation || acl.operation === AclOperation.ALL) && !denied(acl));
  }

  describeAcls(filter: AclBindingFilter): AclBinding[] {
    return this.bindings.filter((binding) => filterMatches(filter, binding));
  }

  createAcls(bindings: AclBinding[]): Promise<void> {
    return this.serialize(async () => {
      const known = new Set(this.bindings.map(bindingKey));
      const fresh = new Map<string, AclBinding>();
      for (const binding of bindings) if (!known.has(bindingKey(binding))) fresh.set(bindingKey(binding), binding);
      if (fresh.size === 0) return;
      await this.store.add([...fresh.values()]);
      this.replace([...this.bindings, ...fresh.values()]);
    });
  }

  deleteAcls(filters: AclBindingFilter[]): Promise<AclBinding[][]> {
    return this.serialize(async () => {
      const perFilter = filters.map((filter) => this.bindings.filter((binding) => filterMatches(filter, binding)));
      const doomed = new Set(perFilter.flat().map(bindingKey));
      if (doomed.size === 0) return perFilter;
      await this.store.remove(this.bindings.filter((binding) => doomed.has(bindingKey(binding))));
      this.replace(this.bindings.filter((binding) => !doomed.has(bindingKey(binding))));
      return perFilter;
    });
  }

  /** Changes apply one at a time, so two concurrent requests never rewrite the set from the same old copy. */
  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.writes.then(work);
    this.writes = next.catch(() => undefined);
    return next;
  }
}

function appliesTo(acl: AclBinding, principal: string, host: string): boolean {
  return (acl.principal === principal || acl.principal === WILDCARD_PRINCIPAL) && (acl.host === host || acl.host === WILDCARD_HOST);
}

/** An ALLOW for `granted` permits `requested`: the same, ALL, or an operation that implies it. */
function allows(granted: number, requested: number): boolean {
  if (granted === requested || granted === AclOperation.ALL) return true;
  if (requested === AclOperation.DESCRIBE) return granted === AclOperation.READ || granted === AclOperation.WRITE || granted === AclOperation.DELETE || granted === AclOperation.ALTER;
  if (requested === AclOperation.DESCRIBE_CONFIGS) return granted === AclOperation.ALTER_CONFIGS;
  return false;
}

/** A DENY binding covers every resource an ALLOW binding names (wildcard, or a prefix of its name). */
function covers(deny: AclBinding, allow: AclBinding): boolean {
  if (deny.patternType === PatternType.LITERAL) return deny.resourceName === WILDCARD_RESOURCE || (allow.patternType === PatternType.LITERAL && deny.resourceName === allow.resourceName);
  return allow.resourceName.startsWith(deny.resourceName);
}

