// DescribeUserScramCredentials v0 (KIP-554): which SCRAM mechanisms and iteration counts each user has;
// never salts or keys. No users named (null or empty): every user with a credential. A user named twice
// is DUPLICATE_RESOURCE; one without any credential is RESOURCE_NOT_FOUND (Kafka's answers).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResult } from "../protocol/generated/describe-user-scram-credentials.ts";
import type { ScramCredentialSummary } from "../security/credentials.ts";
import { SCRAM_MECHANISM_CODES } from "../security/sasl/scram.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

type UserResult = DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResult;

function describeUser(user: string, credentials: ScramCredentialSummary[]): UserResult {
  const own = credentials.filter((credential) => credential.user === user);
  if (own.length === 0) return { user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: `Attempt to describe a user credential that does not exist: ${user}`, credentialInfos: [] };
  const credentialInfos = own.map((credential) => ({ mechanism: SCRAM_MECHANISM_CODES[credential.mechanism], iterations: credential.iterations }));
  return { user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos };
}

export const describeUserScramCredentialsHandler = defineHandler(Apis.DescribeUserScramCredentials, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<DescribeUserScramCredentialsResponse>> {
    if (!canCluster(context, AclOperation.DESCRIBE)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed.", results: [] };
    const credentials = await context.scramCredentials.list();
    const named = request.users ?? [];
    if (named.length === 0) {
      const users = [...new Set(credentials.map((credential) => credential.user))].sort();
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results: users.map((user) => describeUser(user, credentials)) };
    }
    const counts = new Map<string, number>();
    for (const { name } of named) counts.set(name, (counts.get(name) ?? 0) + 1);
    const results = [...counts].map(([user, count]): UserResult =>
      count > 1 ? { user, errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: `Cannot describe SCRAM credentials for the same user twice in a single request: ${user}`, credentialInfos: [] } : describeUser(user, credentials),
    );
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results };
  },
});
