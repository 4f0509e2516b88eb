// Who is on the other end of a connection, as Kafka names it: the listener's security protocol and the
// principal ("User:<name>") that authorization decisions are made for. A plaintext listener's clients are
// User:ANONYMOUS, as in Kafka; TLS client certificates and SASL replace it once they succeed.

export type SecurityProtocol = "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";

export const SECURITY_PROTOCOLS: readonly SecurityProtocol[] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

export const ANONYMOUS_PRINCIPAL = "User:ANONYMOUS";

/** The listener a connection arrived on. */
export interface ListenerIdentity {
  readonly name: string;
  readonly securityProtocol: SecurityProtocol;
}

export const DEFAULT_LISTENER: ListenerIdentity = { name: "PLAINTEXT", securityProtocol: "PLAINTEXT" };

/** What the security layer knows about one connection; the authorizer reads `principal`. */
export interface ConnectionSecurity {
  readonly listener: ListenerIdentity;
  /** "User:ANONYMOUS" until TLS client authentication or SASL establishes who it is. */
  principal: string;
  /** False on a SASL listener until SaslAuthenticate succeeded; only ApiVersions and the SASL APIs are served before. */
  authenticated: boolean;
}

export function isSaslProtocol(protocol: SecurityProtocol): boolean {
  return protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
}

export function isTlsProtocol(protocol: SecurityProtocol): boolean {
  return protocol === "SSL" || protocol === "SASL_SSL";
}
