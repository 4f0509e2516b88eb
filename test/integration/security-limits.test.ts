// Named caps on the security state a client can make the broker store (security/limits.ts): SCRAM users
// (sasl.scram.max.users), ACL bindings (authorizer.max.acls), client quota entities (client.quota.max.entities)
// and the length of every stored name (security.name.max.bytes). Real broker process, real requests over a
// socket (src/client/kafka-connection.ts); over a cap the API answers POLICY_VIOLATION, nothing is stored, and
// a restart brings back exactly what was accepted, still capped.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { AclOperation, AclPermission, PatternType, ResourceType } from "../../src/security/acl/model.ts";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";

const LIMITS = {
  "authorizer.class.name": "acl",
  "super.users": "User:ANONYMOUS",
  "sasl.scram.max.users": "5",
  "authorizer.max.acls": "10",
  "client.quota.max.entities": "4",
  "security.name.max.bytes": "64",
};

let dataDir: string;
let broker: BrokerProcess;
let connection: KafkaConnection;

async function connect(): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 15_000 });
}

beforeAll(async () => {
  dataDir = tempDir("security-limits");
  broker = new BrokerProcess({ dataDir, properties: LIMITS });
  await broker.start();
  connection = await connect();
}, 60_000);

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

const scramUpsert = (name: string) => ({ name, mechanism: 2, iterations: 8192, salt: new Uint8Array(16).fill(7), saltedPassword: new Uint8Array(64).fill(9) });
const alterUsers = (upsertions: object[], deletions: object[] = []) =>
  connection.request(ApiKey.AlterUserScramCredentials, 0, { deletions, upsertions }).then((answer) => answer.results.map((result: { user: string; errorCode: number }) => [result.user, result.errorCode]));
const listUsers = async (on: KafkaConnection) =>
  ((await on.request(ApiKey.DescribeUserScramCredentials, 0, { users: null })).results as { user: string }[]).map((result) => result.user).sort();

const acl = (principal: string, resourceName = "t") => ({ resourceType: ResourceType.TOPIC, resourceName, resourcePatternType: PatternType.LITERAL, principal, host: "*", operation: AclOperation.READ, permissionType: AclPermission.ALLOW });
const createAcls = (creations: object[]) => connection.request(ApiKey.CreateAcls, 2, { creations }).then((answer) => answer.results as { errorCode: number; errorMessage: string | null }[]);
const countAcls = async (on: KafkaConnection) => {
  const answer = await on.request(ApiKey.DescribeAcls, 2, { resourceTypeFilter: ResourceType.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: AclOperation.ANY, permissionType: AclPermission.ANY });
  expect(answer.errorCode).toBe(ErrorCode.NONE);
  return (answer.resources as { acls: unknown[] }[]).reduce((sum, resource) => sum + resource.acls.length, 0);
};

const quotaEntry = (clientId: string, remove = false) => ({ entity: [{ entityType: "client-id", entityName: clientId }], ops: [{ key: "producer_byte_rate", value: 1_048_576, remove }] });
const alterQuotas = (entries: object[]) => connection.request(ApiKey.AlterClientQuotas, 1, { entries, validateOnly: false }).then((answer) => (answer.entries as { errorCode: number }[]).map((entry) => entry.errorCode));
const listQuotaClients = async (on: KafkaConnection) =>
  ((await on.request(ApiKey.DescribeClientQuotas, 1, { components: [], strict: false })).entries as { entity: { entityName: string }[] }[]).map((entry) => entry.entity[0]!.entityName).sort();

test("SCRAM users: at most sasl.scram.max.users; a new one beyond is POLICY_VIOLATION and not stored; existing ones still change; names bounded in bytes", async () => {
  // Goal: AlterUserScramCredentials cannot grow the credential store past its cap. Method: 5 users in one request,
  // then a 6th (refused) next to an update of an existing one (accepted); delete one, the 6th fits; long names refused.
  expect(await alterUsers(["u1", "u2", "u3", "u4", "u5"].map(scramUpsert))).toEqual(["u1", "u2", "u3", "u4", "u5"].map((user) => [user, ErrorCode.NONE]));
  expect(await alterUsers([scramUpsert("u6"), scramUpsert("u1")])).toEqual([["u6", ErrorCode.POLICY_VIOLATION], ["u1", ErrorCode.NONE]]);
  // Another mechanism for an existing user is not a new user.
  expect(await alterUsers([{ ...scramUpsert("u2"), mechanism: 1 }])).toEqual([["u2", ErrorCode.NONE]]);
  expect(await listUsers(connection)).toEqual(["u1", "u2", "u3", "u4", "u5"]);
  expect(await alterUsers([scramUpsert("u6")], [{ name: "u5", mechanism: 2 }])).toEqual([["u5", ErrorCode.NONE], ["u6", ErrorCode.NONE]]);
  expect(await listUsers(connection)).toEqual(["u1", "u2", "u3", "u4", "u6"]);
  // 65 ASCII bytes, and 33 two-byte characters (66 bytes, fewer than 64 characters): both over 64 bytes.
  const long = "x".repeat(65);
  const wide = "é".repeat(33);
  expect(await alterUsers([scramUpsert(long), scramUpsert(wide)], [{ name: "u6", mechanism: 2 }])).toEqual([["u6", ErrorCode.NONE], [long, ErrorCode.UNACCEPTABLE_CREDENTIAL], [wide, ErrorCode.UNACCEPTABLE_CREDENTIAL]]);
  expect(await alterUsers([scramUpsert("é".repeat(32))])).toEqual([["é".repeat(32), ErrorCode.NONE]]);
  expect(await listUsers(connection)).toEqual(["u1", "u2", "u3", "u4", "é".repeat(32)].sort());
}, 60_000);

test("ACL bindings: at most authorizer.max.acls; creations beyond are POLICY_VIOLATION together and none is stored; names bounded in bytes", async () => {
  // Goal: CreateAcls cannot grow the ACL set past its cap. Method: 9 bindings, then 2 more in one request (one would
  // fit, the request does not: both refused), an existing one again (not new: accepted), one more (fits: 10).
  expect((await createAcls(Array.from({ length: 9 }, (_, index) => acl(`User:p${index}`)))).every((result) => result.errorCode === ErrorCode.NONE)).toBe(true);
  const over = await createAcls([acl("User:q1"), acl("User:q2")]);
  expect(over.map((result) => result.errorCode)).toEqual([ErrorCode.POLICY_VIOLATION, ErrorCode.POLICY_VIOLATION]);
  expect(over[0]!.errorMessage).toContain("authorizer.max.acls=10");
  expect(await countAcls(connection)).toBe(9);
  expect((await createAcls([acl("User:p0"), acl("User:q1")])).map((result) => result.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await countAcls(connection)).toBe(10);
  expect((await createAcls([acl("User:q2")])).map((result) => result.errorCode)).toEqual([ErrorCode.POLICY_VIOLATION]);
  // Over-long principal, host or resource name: INVALID_REQUEST whatever the count.
  const tooLong = "y".repeat(65);
  const invalid = await createAcls([acl(`User:${tooLong}`), { ...acl("User:p0"), host: tooLong }, acl("User:p0", tooLong)]);
  expect(invalid.map((result) => result.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
  expect(invalid.every((result) => result.errorMessage?.includes("security.name.max.bytes=64"))).toBe(true);
  expect(await countAcls(connection)).toBe(10);
}, 60_000);

test("client quota entities: at most client.quota.max.entities; a new one beyond is POLICY_VIOLATION and not stored; names bounded in bytes", async () => {
  // Goal: AlterClientQuotas cannot grow the quota table past its cap. Method: 4 entities, a 5th (refused) next to a
  // change of an existing one (accepted); removing one entity's only key frees its place.
  expect(await alterQuotas(["c1", "c2", "c3", "c4"].map((clientId) => quotaEntry(clientId)))).toEqual([0, 0, 0, 0]);
  expect(await alterQuotas([quotaEntry("c5"), quotaEntry("c1")])).toEqual([ErrorCode.POLICY_VIOLATION, ErrorCode.NONE]);
  expect(await listQuotaClients(connection)).toEqual(["c1", "c2", "c3", "c4"]);
  expect(await alterQuotas([quotaEntry("c4", true), quotaEntry("c5")])).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await listQuotaClients(connection)).toEqual(["c1", "c2", "c3", "c5"]);
  expect(await alterQuotas([quotaEntry("z".repeat(65))])).toEqual([ErrorCode.INVALID_REQUEST]);
  expect(await listQuotaClients(connection)).toEqual(["c1", "c2", "c3", "c5"]);
}, 60_000);

test("after a restart the accepted state is back, exactly, and the caps still hold", async () => {
  // Goal: nothing refused was stored anywhere, and a broker at its caps restarts. Method: SIGTERM, start on the same
  // data dir, compare the three sets, try one more of each.
  connection.close();
  expect(await broker.stop()).toBe(0);
  await broker.start();
  connection = await connect();
  expect(await listUsers(connection)).toEqual(["u1", "u2", "u3", "u4", "é".repeat(32)].sort());
  expect(await countAcls(connection)).toBe(10);
  expect(await listQuotaClients(connection)).toEqual(["c1", "c2", "c3", "c5"]);
  expect(await alterUsers([scramUpsert("u7")])).toEqual([["u7", ErrorCode.POLICY_VIOLATION]]);
  expect((await createAcls([acl("User:q3")])).map((result) => result.errorCode)).toEqual([ErrorCode.POLICY_VIOLATION]);
  expect(await alterQuotas([quotaEntry("c6")])).toEqual([ErrorCode.POLICY_VIOLATION]);
}, 90_000);
