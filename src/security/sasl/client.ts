// The client side of PLAIN and SCRAM, for Bunka's own tools (the users CLI) and, later, inter-broker
// connections: SaslHandshake v1, then SaslAuthenticate v1 with each token. `request` sends one request
// on an open connection (client/kafka-connection.ts's request fits).
import { randomBytes, createHmac, createHash, timingSafeEqual } from "node:crypto";
import { ErrorCode, errorName } from "../../protocol/errors.ts";
import { ApiKey } from "../../protocol/generated/index.ts";
import type { SaslMechanismName } from "./mechanism.ts";
import { saltPassword, type ScramMechanismName } from "./scram.ts";

export type SaslRequest = (apiKey: number, apiVersion: number, body: object) => Promise<any>;

export class SaslClientError extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function exchange(request: SaslRequest, token: Uint8Array): Promise<Uint8Array> {
  const response = await request(ApiKey.SaslAuthenticate, 1, { authBytes: token });
  if (response.errorCode !== ErrorCode.NONE) throw new SaslClientError(`SaslAuthenticate: ${errorName(response.errorCode)}: ${response.errorMessage ?? ""}`);
  return response.authBytes as Uint8Array;
}

function escapeSaslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

function hashName(mechanism: ScramMechanismName): "sha256" | "sha512" {
  return mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512";
}

async function scram(request: SaslRequest, mechanism: ScramMechanismName, user: string, password: string): Promise<void> {
  const clientNonce = randomBytes(24).toString("base64url");
  const clientFirstBare = `n=${escapeSaslName(user)},r=${clientNonce}`;
  const serverFirst = decoder.decode(await exchange(request, encoder.encode(`n,,${clientFirstBare}`)));
  const fields = new Map(serverFirst.split(",").map((part) => [part[0], part.slice(2)] as const));
  const nonce = fields.get("r") ?? "";
  const iterations = Number(fields.get("i"));
  if (!nonce.startsWith(clientNonce) || !Number.isSafeInteger(iterations) || iterations < 1) throw new SaslClientError(`malformed SCRAM server-first message`);
  const salted = saltPassword(mechanism, password, new Uint8Array(Buffer.from(fields.get("s") ?? "", "base64")), iterations);
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const clientKey = createHmac(hashName(mechanism), salted).update("Client Key").digest();
  const storedKey = createHash(hashName(mechanism)).update(clientKey).digest();
  const clientSignature = createHmac(hashName(mechanism), storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((byte, index) => byte ^ clientSignature[index]!));
  const serverFinal = decoder.decode(await exchange(request, encoder.encode(`${withoutProof},p=${proof.toString("base64")}`)));
  const serverKey = createHmac(hashName(mechanism), salted).update("Server Key").digest();
  const expected = createHmac(hashName(mechanism), serverKey).update(authMessage).digest();
  const signature = Buffer.from(serverFinal.startsWith("v=") ? serverFinal.slice(2) : "", "base64");
  // The server proves it knows the credential too: a wrong signature means the wrong server.
  if (signature.byteLength !== expected.byteLength || !timingSafeEqual(signature, expected)) throw new SaslClientError("SCRAM server signature does not verify");
}

/** Authenticates an open connection; throws SaslClientError when the broker refuses. */
export async function authenticate(request: SaslRequest, mechanism: SaslMechanismName, user: string, password: string): Promise<void> {
  const handshake = await request(ApiKey.SaslHandshake, 1, { mechanism });
  if (handshake.errorCode !== ErrorCode.NONE) throw new SaslClientError(`SaslHandshake ${mechanism}: ${errorName(handshake.errorCode)} (enabled: ${handshake.mechanisms.join(", ")})`);
  if (mechanism === "PLAIN") {
    await exchange(request, encoder.encode(`\u0000${user}\u0000${password}`));
    return;
  }
  // OAUTHBEARER: `password` is the token (RFC 7628 client message; `user` is not sent).
  if (mechanism === "OAUTHBEARER") {
    await exchange(request, encoder.encode(`n,,\x01auth=Bearer ${password}\x01\x01`));
    return;
  }
  await scram(request, mechanism, user, password);
}
