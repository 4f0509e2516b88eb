// What every SASL mechanism's server side is: a sequence of client tokens, each answered by a token,
// ending with the authenticated user name or an authentication failure.

export const SUPPORTED_SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] as const;

export type SaslMechanismName = (typeof SUPPORTED_SASL_MECHANISMS)[number];

export function isSupportedSaslMechanism(name: string): name is SaslMechanismName {
  return (SUPPORTED_SASL_MECHANISMS as readonly string[]).includes(name);
}

/** One step of an exchange: the token to send back, and once done, who the client is (and until when its credential holds: OAUTHBEARER). */
export type SaslStep = { done: false; response: Uint8Array } | { done: true; user: string; response: Uint8Array; credentialExpiresAtMs?: number };

/** The client failed to authenticate (wrong password, unknown user, malformed token): SASL_AUTHENTICATION_FAILED. */
export class SaslAuthenticationError extends Error {}

export interface SaslServerExchange {
  readonly mechanism: SaslMechanismName;
  /** Who the client says it is, once a token named a user (the audit line of a failure names it). */
  readonly claimedUser?: string;
  evaluate(token: Uint8Array): Promise<SaslStep> | SaslStep;
}
