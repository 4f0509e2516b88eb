// The audit trail's settings, read at start from the broker's properties (declared, parsed and bounded in
// config/broker-config.ts): which listeners, where the lines go, and the two bounds.
import { type Audit, AUDIT_ALL_LISTENERS, AuditLog, disabledAudit, parseAuditListeners } from "./audit-log.ts";
import { FileAuditSink, logStreamSink, type AuditSink } from "./sinks.ts";

export const AUDIT_DEFAULTS = {
  listeners: "*",
  file: "",
  connectionEventsMax: 16,
  bufferMaxBytes: 4 * 1024 * 1024,
} as const;

export interface ConfiguredAudit {
  readonly audit: Audit;
  /** null when nothing is audited; closed by the broker at shutdown. */
  readonly sink: AuditSink | null;
}

/**
 * Builds the audit trail. It fails closed: a listener name that is not one of `listenerNames` (a typo would
 * silently audit nothing) or an audit.log.file that cannot be opened stops the start.
 */
export function configuredAudit(properties: Readonly<Record<string, string>>, listenerNames: readonly string[], log: (message: string) => void): ConfiguredAudit {
  const listeners = parseAuditListeners(properties["audit.log.listeners"] ?? AUDIT_DEFAULTS.listeners);
  for (const name of listeners) {
    if (name !== AUDIT_ALL_LISTENERS && !listenerNames.includes(name)) throw new Error(`config: audit.log.listeners names ${name}, which is not a listener (listeners: ${listenerNames.join(", ")})`);
  }
  if (listeners.size === 0) return { audit: disabledAudit, sink: null };
  const file = properties["audit.log.file"] ?? AUDIT_DEFAULTS.file;
  const bufferMaxBytes = Number(properties["audit.log.buffer.max.bytes"] ?? AUDIT_DEFAULTS.bufferMaxBytes);
  const sink = file === "" ? logStreamSink(log) : new FileAuditSink(file, bufferMaxBytes, log);
  const connectionEventsMax = Number(properties["audit.log.connection.events.max"] ?? AUDIT_DEFAULTS.connectionEventsMax);
  return { audit: new AuditLog({ listeners, connectionEventsMax }, sink), sink };
}
