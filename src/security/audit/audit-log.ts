// The audit trail (issue 10, item 7): one JSON line per authentication outcome (SASL, mTLS) and per
// authorization denial, on the listeners `audit.log.listeners` names. Allowed authorizations are not
// logged (every produce would be a line). What a hostile client can make it write is bounded twice: a
// connection logs each distinct (event, result, resource, operation) once and at most
// `audit.log.connection.events.max` lines in all, and the file sink drops (and counts) lines while more
// than `audit.log.buffer.max.bytes` wait for the disk, so a flood of bad logins costs neither memory nor
// a blocked event loop.
import { apiSchemas } from "../../protocol/generated/index.ts";
import { operationName, PatternType, patternTypeName, resourceTypeName } from "../acl/model.ts";
import type { ConnectionSecurity } from "../principal.ts";
import type { AuditSink } from "./sinks.ts";

/** `audit.log.listeners` value that audits every listener. */
export const AUDIT_ALL_LISTENERS = "*";

export interface AuditSettings {
  /** Listener names (upper case) whose connections are audited; "*" in the set: every listener. */
  readonly listeners: ReadonlySet<string>;
  /** audit.log.connection.events.max: lines one connection may cause in all. */
  readonly connectionEventsMax: number;
}

/** Who the event is about: a connection (or its parts: tests and the TLS path pass what they have). */
export interface AuditPeer {
  readonly security: ConnectionSecurity;
  readonly remoteIp: string;
  readonly remotePort?: number;
}

export interface AuthenticationEvent {
  readonly result: "success" | "failure";
  /** Who logged in, or who the client claimed to be (null: not known, e.g. a failed TLS handshake). */
  readonly principal: string | null;
  /** The SASL mechanism, or "SSL" for a client certificate. */
  readonly mechanism: string | null;
  readonly reason?: string;
  readonly apiKey?: number;
}

export interface AuthorizationDenial {
  readonly resourceType: number;
  /** null: a check over every resource of the type (Kafka's authorizeByResourceType). */
  readonly resourceName: string | null;
  readonly operation: number;
  readonly apiKey?: number;
}

/** What the rest of the broker calls; `disabledAudit` when no listener is audited. */
export interface Audit {
  enabledFor(listenerName: string): boolean;
  authentication(peer: AuditPeer, event: AuthenticationEvent): void;
  authorizationDenied(peer: AuditPeer, denial: AuthorizationDenial): void;
}

export const disabledAudit: Audit = {
  enabledFor: () => false,
  authentication: () => undefined,
  authorizationDenied: () => undefined,
};

/** audit.log.listeners: listener names, comma-separated, or "*"; names are upper-cased as Kafka does. */
export function parseAuditListeners(value: string): Set<string> {
  return new Set(value.split(",").map((name) => name.trim().toUpperCase()).filter(Boolean));
}

export class AuditLog implements Audit {
  /** Per connection: the keys already logged. Weak, so a closed connection's set goes with it. */
  private readonly logged = new WeakMap<ConnectionSecurity, Set<string>>();

  constructor(
    private readonly settings: AuditSettings,
    private readonly sink: AuditSink,
    private readonly now: () => number = Date.now,
  ) {}

  enabledFor(listenerName: string): boolean {
    return this.settings.listeners.has(AUDIT_ALL_LISTENERS) || this.settings.listeners.has(listenerName);
  }

  authentication(peer: AuditPeer, event: AuthenticationEvent): void {
    if (!this.firstTime(peer, `authentication|${event.result}|${event.mechanism}`)) return;
    // Key order is part of the format: event, result, principal, mechanism first (tests and greps rely on it).
    this.write({
      event: "authentication",
      result: event.result,
      principal: event.principal,
      mechanism: event.mechanism,
      ...this.where(peer, event.apiKey),
      ...(event.reason === undefined ? {} : { reason: truncate(event.reason) }),
    });
  }

  authorizationDenied(peer: AuditPeer, denial: AuthorizationDenial): void {
    const resourceType = resourceTypeName(denial.resourceType);
    const operation = operationName(denial.operation);
    if (!this.firstTime(peer, `authorization|${resourceType}|${denial.resourceName}|${operation}`)) return;
    this.write({
      event: "authorization",
      result: "denied",
      principal: peer.security.principal,
      resourceType,
      resourceName: denial.resourceName === null ? null : truncate(denial.resourceName),
      patternType: patternTypeName(denial.resourceName === null ? PatternType.ANY : PatternType.LITERAL),
      operation,
      ...this.where(peer, denial.apiKey),
      reason: denial.resourceName === null ? `no ACL allows ${operation} on any ${resourceType}` : `no ACL allows ${operation} on ${resourceType} ${truncate(denial.resourceName)} (or a DENY ACL matches)`,
    });
  }

  /** True when this connection may log `key`: not logged before and under its line budget. */
  private firstTime(peer: AuditPeer, key: string): boolean {
    if (!this.enabledFor(peer.security.listener.name)) return false;
    let keys = this.logged.get(peer.security);
    if (!keys) this.logged.set(peer.security, (keys = new Set()));
    if (keys.has(key) || keys.size >= this.settings.connectionEventsMax) return false;
    keys.add(key);
    return true;
  }

  private where(peer: AuditPeer, apiKey: number | undefined): Record<string, unknown> {
    return {
      listener: peer.security.listener.name,
      client: peer.remoteIp,
      clientPort: peer.remotePort ?? null,
      ...(apiKey === undefined ? {} : { apiKey, apiName: apiSchemas.get(apiKey)?.name ?? null }),
    };
  }

  private write(fields: Record<string, unknown>): void {
    this.sink.write(JSON.stringify({ ...fields, time: new Date(this.now()).toISOString() }));
  }
}

/** Names and reasons come from the client: a line stays short whatever it sent. */
const FIELD_CHARS_MAX = 512;

function truncate(text: string): string {
  return text.length <= FIELD_CHARS_MAX ? text : `${text.slice(0, FIELD_CHARS_MAX)}…(${text.length} chars)`;
}
