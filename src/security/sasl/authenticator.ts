// The SASL state of every connection on a SASL listener, as Kafka's SaslServerAuthenticator keeps it:
// SaslHandshake picks a mechanism, SaslAuthenticate carries its tokens until it is done, and only then
// are other requests served. One attempt per connection: a failed one is answered, logged once and the
// connection closed, so a client guessing passwords pays a new connection (and its quotas) for each guess.
// KIP-368: with connections.max.reauth.ms > 0 a session has a lifetime; the client re-authenticates on
// the same connection before it ends, or the connection is closed at its next request.
import { ErrorCode } from "../../protocol/errors.ts";
import type { ScramCredentialStore } from "../credentials.ts";
import type { AuthenticationEvent } from "../audit/audit-log.ts";
import type { ConnectionSecurity } from "../principal.ts";
import { type SaslMechanismName, type SaslServerExchange, SaslAuthenticationError } from "./mechanism.ts";
import { OAuthBearerServerExchange, type OAuthBearerSettings } from "./oauthbearer.ts";
import { PlainServerExchange } from "./plain.ts";
import { ScramServerExchange } from "./scram.ts";

/** What one listener offers (its own `listener.name.<listener>.` settings, or the broker-wide ones). */
export interface ListenerSaslSettings {
  /** sasl.enabled.mechanisms, checked at start (only supported names). */
  readonly enabledMechanisms: readonly SaslMechanismName[];
  /** PLAIN users and their passwords (sasl.jaas.config / sasl.plain.users.file). */
  readonly plainUsers: ReadonlyMap<string, string>;
  readonly oauthBearer: OAuthBearerSettings;
}

export interface SaslSettings {
  /** By listener name; a listener not here offers no mechanism. */
  readonly listeners: ReadonlyMap<string, ListenerSaslSettings>;
  readonly scramCredentials: ScramCredentialStore;
  /** connections.max.reauth.ms; 0: sessions never expire. */
  readonly reauthMs: number;
  /** sasl.server.max.receive.size: the largest token a client may send before it is authenticated. */
  readonly maxReceiveBytes: number;
  /** The audit trail (security/audit/): one line per outcome, deduplicated per connection there. */
  readonly audit: (peer: SaslPeer, event: AuthenticationEvent) => void;
  readonly now?: () => number;
}

interface SaslSession {
  mechanism: SaslMechanismName | null;
  exchange: SaslServerExchange | null;
  /** SaslHandshake v0: the next frames are bare tokens without a request header (Kafka's legacy framing). */
  legacyFraming: boolean;
  /** Set once an attempt failed: the answer goes out, then the connection is closed. */
  closeAfterReply: string | null;
  /** When the session ends (KIP-368); Infinity without re-authentication. */
  expiresAtMs: number;
  failureLogged: boolean;
}

export interface HandshakeAnswer {
  errorCode: number;
  mechanisms: string[];
}

export interface AuthenticateAnswer {
  errorCode: number;
  errorMessage: string | null;
  authBytes: Uint8Array;
  sessionLifetimeMs: number;
}

/** Who is asking: the connection's security state and where it comes from (for the audit line). */
export interface SaslPeer {
  readonly security: ConnectionSecurity;
  readonly remoteIp: string;
  readonly remotePort?: number;
}

const EMPTY = new Uint8Array(0);

/** Api keys the audit lines name (SaslHandshake, SaslAuthenticate; a v0 bare token counts as the latter). */
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;

const NO_MECHANISMS: ListenerSaslSettings = { enabledMechanisms: [], plainUsers: new Map(), oauthBearer: { jwks: null, subClaimName: "sub", clockSkewMs: 0, expectedIssuer: null, expectedAudience: [] } };

export class SaslAuthenticator {
  private readonly sessions = new WeakMap<ConnectionSecurity, SaslSession>();
  private readonly now: () => number;

  constructor(readonly settings: SaslSettings) {
    this.now = settings.now ?? Date.now;
  }

  private session(security: ConnectionSecurity): SaslSession {
    let session = this.sessions.get(security);
    if (!session) {
      session = { mechanism: null, exchange: null, legacyFraming: false, closeAfterReply: null, expiresAtMs: Infinity, failureLogged: false };
      this.sessions.set(security, session);
    }
    return session;
  }

  private listenerSettings(security: ConnectionSecurity): ListenerSaslSettings {
    return this.settings.listeners.get(security.listener.name) ?? NO_MECHANISMS;
  }

  handshake(peer: SaslPeer, mechanism: string, version: number): HandshakeAnswer {
    const listener = this.listenerSettings(peer.security);
    const enabled = [...listener.enabledMechanisms];
    const session = this.session(peer.security);
    if (session.exchange !== null) {
      this.fail(peer, session, mechanism, "SaslHandshake while an authentication is in progress", SASL_HANDSHAKE);
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
    }
    if (!(enabled as string[]).includes(mechanism)) {
      this.fail(peer, session, mechanism, `unsupported SASL mechanism ${JSON.stringify(mechanism.slice(0, 64))} (enabled: ${enabled.join(", ")})`, SASL_HANDSHAKE);
      return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled };
    }
    // Re-authentication (KIP-368) must keep the mechanism of the first authentication.
    if (peer.security.authenticated && session.mechanism !== null && session.mechanism !== mechanism) {
      this.fail(peer, session, mechanism, `re-authentication changed the mechanism from ${session.mechanism}`, SASL_HANDSHAKE);
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
    }
    session.mechanism = mechanism as SaslMechanismName;
    session.exchange = this.exchangeFor(mechanism as SaslMechanismName, listener);
    session.legacyFraming = version === 0;
    return { errorCode: ErrorCode.NONE, mechanisms: enabled };
  }

  private exchangeFor(mechanism: SaslMechanismName, listener: ListenerSaslSettings): SaslServerExchange {
    if (mechanism === "PLAIN") return new PlainServerExchange((user) => listener.plainUsers.get(user));
    if (mechanism === "OAUTHBEARER") return new OAuthBearerServerExchange(listener.oauthBearer, this.now);
    const store = this.settings.scramCredentials;
    return new ScramServerExchange(mechanism, (user) => store.get(user, mechanism));
  }

  async authenticate(peer: SaslPeer, token: Uint8Array): Promise<AuthenticateAnswer> {
    const session = this.session(peer.security);
    const exchange = session.exchange;
    if (exchange === null) {
      const message = "SaslAuthenticate before a successful SaslHandshake";
      this.fail(peer, session, null, message, SASL_AUTHENTICATE);
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, errorMessage: message, authBytes: EMPTY, sessionLifetimeMs: 0 };
    }
    try {
      if (token.byteLength > this.settings.maxReceiveBytes) throw new SaslAuthenticationError(`SASL token of ${token.byteLength} bytes exceeds sasl.server.max.receive.size=${this.settings.maxReceiveBytes}`);
      const step = await exchange.evaluate(token);
      if (!step.done) return { errorCode: ErrorCode.NONE, errorMessage: null, authBytes: step.response, sessionLifetimeMs: 0 };
      return this.succeed(peer, session, exchange.mechanism, step.user, step.response, step.credentialExpiresAtMs ?? Infinity);
    } catch (error) {
      if (!(error instanceof SaslAuthenticationError)) throw error;
      this.fail(peer, session, exchange.mechanism, error.message, SASL_AUTHENTICATE, exchange.claimedUser);
      return { errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: error.message, authBytes: EMPTY, sessionLifetimeMs: 0 };
    }
  }

  private succeed(peer: SaslPeer, session: SaslSession, mechanism: SaslMechanismName, user: string, response: Uint8Array, credentialExpiresAtMs: number): AuthenticateAnswer {
    const principal = `User:${user}`;
    const security = peer.security;
    if (security.authenticated && security.principal !== principal) {
      const message = `re-authentication as ${principal} on a connection authenticated as ${security.principal}`;
      this.fail(peer, session, mechanism, message, SASL_AUTHENTICATE, user);
      return { errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: message, authBytes: EMPTY, sessionLifetimeMs: 0 };
    }
    security.principal = principal;
    security.authenticated = true;
    session.exchange = null;
    session.legacyFraming = false;
    // KIP-368: with re-authentication on, the session ends at connections.max.reauth.ms or when the
    // credential does (an OAUTHBEARER token's exp), whichever is first; off, sessions never end (as Kafka).
    const nowMs = this.now();
    const lifetimeMs = this.settings.reauthMs > 0 ? Math.max(0, Math.min(this.settings.reauthMs, credentialExpiresAtMs - nowMs)) : 0;
    session.expiresAtMs = lifetimeMs > 0 ? nowMs + lifetimeMs : Infinity;
    this.settings.audit(peer, { result: "success", principal, mechanism, apiKey: SASL_AUTHENTICATE });
    return { errorCode: ErrorCode.NONE, errorMessage: null, authBytes: response, sessionLifetimeMs: Math.floor(lifetimeMs) };
  }

  /** Marks the connection for closing after this reply and logs the failure, once per connection. */
  private fail(peer: SaslPeer, session: SaslSession, mechanism: string | null, reason: string, apiKey: number, claimedUser?: string): void {
    session.exchange = null;
    session.closeAfterReply = reason;
    if (session.failureLogged) return;
    session.failureLogged = true;
    // The principal the client claimed (the user its token named), so a password-guessing run names its target.
    this.settings.audit(peer, { result: "failure", principal: claimedUser === undefined ? null : `User:${claimedUser}`, mechanism, reason, apiKey });
  }

  /** Why the connection must be closed once the current reply is sent, or null. */
  closeReason(security: ConnectionSecurity): string | null {
    return this.sessions.get(security)?.closeAfterReply ?? null;
  }

  /** After SaslHandshake v0 the client sends bare tokens: the dispatcher passes the frame here. */
  expectsBareToken(security: ConnectionSecurity): boolean {
    const session = this.sessions.get(security);
    return session !== undefined && session.legacyFraming && session.exchange !== null;
  }

  /** True when a re-authenticating client let its session run out (KIP-368): the connection is closed. */
  sessionExpired(security: ConnectionSecurity): boolean {
    const session = this.sessions.get(security);
    return session !== undefined && session.exchange === null && this.now() > session.expiresAtMs;
  }
}
