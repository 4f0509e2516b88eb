// AlterUserScramCredentials v0 (KIP-554): upsert or delete one SCRAM credential per (user, mechanism).
// The client sends the salted password (never the password); the broker keeps only StoredKey and
// ServerKey derived from it. Kafka's checks, one result per user: a user named in two alterations is
// DUPLICATE_RESOURCE (same user and mechanism), an unknown mechanism UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384 or an
// empty name or salt UNACCEPTABLE_CREDENTIAL, deleting what does not exist RESOURCE_NOT_FOUND.
// Bounded (security/limits.ts): a name longer than security.name.max.bytes is UNACCEPTABLE_CREDENTIAL (as
// Kafka's empty name); a new user beyond sasl.scram.max.users is POLICY_VIOLATION (a valid request the
// broker's configured policy refuses) and is not stored; existing users can still be updated or deleted.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, AlterUserScramCredentialsResponseAlterUserScramCredentialsResult } from "../protocol/generated/alter-user-scram-credentials.ts";
import type { ScramCredentialStore } from "../security/credentials.ts";
import { credentialFromSaltedPassword, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, scramMechanismByCode } from "../security/sasl/scram.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { nameTooLongReason, oneAtATime, securityStateLimits, type SecurityStateLimits } from "../security/limits.ts";
import { AclOperation, canCluster } from "./authorize.ts";

type UserResult = AlterUserScramCredentialsResponseAlterUserScramCredentialsResult;

function failure(user: string, errorCode: number, errorMessage: string): UserResult {
  return { user, errorCode, errorMessage };
}

type Upsertion = AlterUserScramCredentialsRequest["upsertions"][number];
type Deletion = AlterUserScramCredentialsRequest["deletions"][number];

/** `users`: every user with a credential, kept current as upsertions add to it. */
async function upsert(store: ScramCredentialStore, upsertion: Upsertion, users: Set<string>, limits: SecurityStateLimits): Promise<UserResult> {
  const { name, mechanism: code, iterations, salt, saltedPassword } = upsertion;
  const mechanism = scramMechanismByCode(code);
  if (name === "") return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
  const tooLong = nameTooLongReason("Username", name, limits);
  if (tooLong !== null) return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, tooLong);
  if (!mechanism) return failure(name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, `Unknown SCRAM mechanism ${code}`);
  if (iterations < SCRAM_ITERATIONS_MIN) return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, `Too few iterations: ${iterations} (at least ${SCRAM_ITERATIONS_MIN})`);
  if (iterations > SCRAM_ITERATIONS_MAX) return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, `Too many iterations: ${iterations} (at most ${SCRAM_ITERATIONS_MAX})`);
  if (salt.byteLength === 0) return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salt must not be empty");
  if (saltedPassword.byteLength === 0) return failure(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salted password must not be empty");
  if (!users.has(name) && users.size >= limits.scramUsersMax) return failure(name, ErrorCode.POLICY_VIOLATION, `${users.size} SCRAM users exist: a new one would exceed sasl.scram.max.users=${limits.scramUsersMax}`);
  users.add(name);
  await store.upsert(name, mechanism, credentialFromSaltedPassword(mechanism, salt, iterations, saltedPassword));
  return { user: name, errorCode: ErrorCode.NONE, errorMessage: null };
}

async function remove(store: ScramCredentialStore, deletion: Deletion): Promise<UserResult> {
  const mechanism = scramMechanismByCode(deletion.mechanism);
  if (deletion.name === "") return failure(deletion.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
  if (!mechanism) return failure(deletion.name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, `Unknown SCRAM mechanism ${deletion.mechanism}`);
  if (!(await store.delete(deletion.name, mechanism))) return failure(deletion.name, ErrorCode.RESOURCE_NOT_FOUND, `Attempt to delete a user credential that does not exist: ${deletion.name} ${mechanism}`);
  return { user: deletion.name, errorCode: ErrorCode.NONE, errorMessage: null };
}

export const alterUserScramCredentialsHandler = defineHandler(Apis.AlterUserScramCredentials, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<AlterUserScramCredentialsResponse>> {
    const store = context.scramCredentials;
    // ALTER on the cluster, as Kafka: without it every user named is refused and nothing changes.
    if (!canCluster(context, AclOperation.ALTER)) {
      const users = [...new Set([...request.deletions, ...request.upsertions].map((alteration) => alteration.name))];
      return { throttleTimeMs: 0, results: users.map((user) => failure(user, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.")) };
    }
    const counts = new Map<string, number>();
    const key = (alteration: { name: string; mechanism: number }) => `${alteration.mechanism}:${alteration.name}`;
    for (const alteration of [...request.deletions, ...request.upsertions]) counts.set(key(alteration), (counts.get(key(alteration)) ?? 0) + 1);
    const results: UserResult[] = [];
    const duplicate = (alteration: { name: string; mechanism: number }) => counts.get(key(alteration))! > 1;
    const reported = new Set<string>();
    for (const alteration of [...request.deletions, ...request.upsertions]) {
      if (!duplicate(alteration) || reported.has(key(alteration))) continue;
      reported.add(key(alteration));
      results.push(failure(alteration.name, ErrorCode.DUPLICATE_RESOURCE, `A user credential cannot be altered twice in the same request: ${alteration.name}`));
    }
    const limits = securityStateLimits(context.settings.config.properties);
    // Counted and stored as one step, so two concurrent requests cannot both take the last free place.
    await oneAtATime(store, async () => {
      for (const deletion of request.deletions) if (!duplicate(deletion)) results.push(await remove(store, deletion));
      const users = new Set((await store.list()).map((credential) => credential.user));
      for (const upsertion of request.upsertions) if (!duplicate(upsertion)) results.push(await upsert(store, upsertion, users, limits));
    });
    return { throttleTimeMs: 0, results };
  },
});
