// SCRAM-SHA-256 and SCRAM-SHA-512, the server side (RFC 5802, RFC 7677; Kafka's ScramSaslServer and
// ScramFormatter). Three messages: the client's first (user name and nonce), our first (the combined
// nonce, the salt and the iteration count), the client's final (the proof), answered by our final (the
// server signature). Only the salted keys are stored (StoredKey, ServerKey), never the password.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { assert } from "../../util/assert.ts";
import { type SaslServerExchange, type SaslStep, SaslAuthenticationError } from "./mechanism.ts";

export type ScramMechanismName = "SCRAM-SHA-256" | "SCRAM-SHA-512";

/** Kafka's ScramMechanism type codes (DescribeUserScramCredentials / AlterUserScramCredentials). */
export const SCRAM_MECHANISM_CODES: Readonly<Record<ScramMechanismName, number>> = { "SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2 };

export const SCRAM_MECHANISMS: readonly ScramMechanismName[] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

/** Kafka's bounds on a credential's iterations (ScramMechanism.minIterations, AlterUserScramCredentials' maximum). */
export const SCRAM_ITERATIONS_MIN = 4096;
export const SCRAM_ITERATIONS_MAX = 16384;

export function scramMechanismByCode(code: number): ScramMechanismName | null {
  for (const name of SCRAM_MECHANISMS) if (SCRAM_MECHANISM_CODES[name] === code) return name;
  return null;
}

/** What is stored per user and mechanism: enough to verify a proof and sign, not to log in. */
export interface ScramCredential {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

function hashName(mechanism: ScramMechanismName): "sha256" | "sha512" {
  return mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512";
}

function hmac(mechanism: ScramMechanismName, key: Uint8Array, text: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(hashName(mechanism), key).update(text).digest());
}

function hash(mechanism: ScramMechanismName, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(hashName(mechanism)).update(bytes).digest());
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2 with the mechanism's HMAC. */
export function saltPassword(mechanism: ScramMechanismName, password: string, salt: Uint8Array, iterations: number): Uint8Array {
  const keyBytes = mechanism === "SCRAM-SHA-256" ? 32 : 64;
  return new Uint8Array(pbkdf2Sync(password.normalize("NFKC"), salt, iterations, keyBytes, hashName(mechanism)));
}

/** The stored keys from a salted password (what AlterUserScramCredentials sends). */
export function credentialFromSaltedPassword(mechanism: ScramMechanismName, salt: Uint8Array, iterations: number, saltedPassword: Uint8Array): ScramCredential {
  assert(iterations >= 1, "SCRAM iterations must be positive");
  assert(saltedPassword.byteLength > 0, "SCRAM salted password must not be empty");
  const clientKey = hmac(mechanism, saltedPassword, "Client Key");
  return { salt: new Uint8Array(salt), iterations, storedKey: hash(mechanism, clientKey), serverKey: hmac(mechanism, saltedPassword, "Server Key") };
}

/** RFC 5802 §5.1 saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed. */
function decodeSaslName(value: string): string {
  if (/=(?!2C|3D)/.test(value)) throw new SaslAuthenticationError("malformed user name in SCRAM client-first message");
  return value.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

/** Attributes `k=v` of a SCRAM message, in order; values may contain "=" but not ",". */
function attributes(text: string): Map<string, string> {
  const parsed = new Map<string, string>();
  for (const part of text.split(",")) {
    if (part.length < 2 || part[1] !== "=") throw new SaslAuthenticationError("malformed SCRAM message");
    parsed.set(part[0]!, part.slice(2));
  }
  return parsed;
}

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/; // RFC 5802: printable ASCII except ","

const textDecoder = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch {
    throw new SaslAuthenticationError("SCRAM message is not UTF-8");
  }
}

/**
 * One SCRAM exchange on one connection. `lookup` finds the user's credential for this mechanism (null:
 * unknown user, which fails like a wrong password, after the same steps).
 */
export class ScramServerExchange implements SaslServerExchange {
  private state: "first" | "final" | "done" = "first";
  private userName = "";

  get claimedUser(): string | undefined {
    return this.userName === "" ? undefined : this.userName;
  }
  private credential: ScramCredential | null = null;
  private clientFirstBare = "";
  private serverFirst = "";
  private nonce = "";
  private gs2Header = "";

  constructor(
    readonly mechanism: ScramMechanismName,
    private readonly lookup: (user: string) => Promise<ScramCredential | null>,
  ) {}

  async evaluate(token: Uint8Array): Promise<SaslStep> {
    if (this.state === "first") return this.onClientFirst(decodeUtf8(token));
    if (this.state === "final") return this.onClientFinal(decodeUtf8(token));
    throw new SaslAuthenticationError("SCRAM exchange already complete");
  }

  private async onClientFirst(message: string): Promise<SaslStep> {
    // gs2-header: "n,," or "y,," (no channel binding; "p=" needs TLS channel binding, which Kafka refuses too), then an optional authzid.
    const match = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(message);
    if (!match) throw new SaslAuthenticationError("malformed SCRAM client-first message (channel binding is not supported)");
    this.gs2Header = message.slice(0, message.length - match[3]!.length);
    this.clientFirstBare = match[3]!;
    const fields = attributes(this.clientFirstBare);
    const user = fields.get("n");
    const clientNonce = fields.get("r");
    if (user === undefined || clientNonce === undefined || !PRINTABLE_NONCE.test(clientNonce)) throw new SaslAuthenticationError("malformed SCRAM client-first message");
    if (fields.has("m")) throw new SaslAuthenticationError("SCRAM mandatory extensions are not supported");
    this.userName = decodeSaslName(user);
    const authzid = match[2] ? decodeSaslName(match[2].slice(2)) : "";
    if (authzid !== "" && authzid !== this.userName) throw new SaslAuthenticationError("SCRAM authorization id differs from the user name");
    this.credential = await this.lookup(this.userName);
    // An unknown user gets a plausible salt so the exchange looks the same; the proof then fails.
    const salt = this.credential?.salt ?? randomBytes(32);
    const iterations = this.credential?.iterations ?? SCRAM_ITERATIONS_MIN;
    this.nonce = clientNonce + randomBytes(24).toString("base64url");
    this.serverFirst = `r=${this.nonce},s=${Buffer.from(salt).toString("base64")},i=${iterations}`;
    this.state = "final";
    return { done: false, response: new TextEncoder().encode(this.serverFirst) };
  }

  private onClientFinal(message: string): SaslStep {
    this.state = "done";
    const proofAt = message.lastIndexOf(",p=");
    if (proofAt < 0) throw new SaslAuthenticationError("malformed SCRAM client-final message");
    const withoutProof = message.slice(0, proofAt);
    const fields = attributes(withoutProof);
    if (fields.get("c") !== Buffer.from(this.gs2Header).toString("base64")) throw new SaslAuthenticationError("SCRAM channel binding does not match");
    // Kafka's ScramSaslServer checks endsWith, not equality: librdkafka before 2.2 sends the client nonce
    // in front of the combined nonce again (kcat 2.0.2 does), and the proof covers what it sent.
    if (!(fields.get("r") ?? "").endsWith(this.nonce)) throw new SaslAuthenticationError("SCRAM nonce does not match");
    const proof = new Uint8Array(Buffer.from(message.slice(proofAt + 3), "base64"));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const credential = this.credential;
    if (!credential || proof.byteLength !== credential.storedKey.byteLength || !this.verifyProof(credential, proof, authMessage)) {
      throw new SaslAuthenticationError(`Authentication failed during authentication due to invalid credentials with SASL mechanism ${this.mechanism}`);
    }
    const serverSignature = hmac(this.mechanism, credential.serverKey, authMessage);
    return { done: true, user: this.userName, response: new TextEncoder().encode(`v=${Buffer.from(serverSignature).toString("base64")}`) };
  }

  /** ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must be StoredKey (compared in constant time). */
  private verifyProof(credential: ScramCredential, proof: Uint8Array, authMessage: string): boolean {
    const clientSignature = hmac(this.mechanism, credential.storedKey, authMessage);
    assert(clientSignature.byteLength === proof.byteLength, "SCRAM proof length checked before");
    const clientKey = new Uint8Array(proof.byteLength);
    for (let index = 0; index < proof.byteLength; index++) clientKey[index] = proof[index]! ^ clientSignature[index]!;
    return timingSafeEqual(hash(this.mechanism, clientKey), credential.storedKey);
  }
}
