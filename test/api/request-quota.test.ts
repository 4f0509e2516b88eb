// request_percentage (KIP-124) spares followers' fetches, as Kafka does, whether the follower names itself in
// replica_id (Fetch before v15) or in replica_state (v15+, KIP-903); a consumer's fetch is recorded and throttled.
// The quota manager is a stand-in that puts every request over the quota.
import { expect, test } from "bun:test";
import type { RequestContext } from "../../src/api/context.ts";
import { applyRequestQuota } from "../../src/api/request-quota.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

const OVER_QUOTA_MS = 250;

function fetchContext(apiVersion: number) {
  const muted: number[] = [];
  const timer = { startedMs: performance.now(), syncMs: 1, exempt: false };
  const context = {
    apiKey: ApiKey.Fetch,
    apiVersion,
    requestTimer: timer,
    quotas: { recordRequestTime: () => OVER_QUOTA_MS },
    clientId: "c",
    connection: { security: { principal: "User:ANONYMOUS" }, mute: (ms: number) => muted.push(ms) },
  } as unknown as RequestContext;
  return { context, timer, muted };
}

test("a follower's Fetch is exempt at every version; a consumer's is throttled", () => {
  for (const [apiVersion, request] of [
    [11, { replicaId: 2 }],
    [17, { replicaId: -1, replicaState: { replicaId: 2, replicaEpoch: -1 } }],
  ] as const) {
    const { context, timer, muted } = fetchContext(apiVersion);
    expect(applyRequestQuota(context, request, { throttleTimeMs: 0 })).toEqual({ throttleTimeMs: 0 });
    expect(timer.exempt).toBe(true);
    expect(muted).toEqual([]);
  }
  const { context, timer, muted } = fetchContext(17);
  expect(applyRequestQuota(context, { replicaId: -1, replicaState: { replicaId: -1, replicaEpoch: -1 } }, { throttleTimeMs: 0 })).toEqual({ throttleTimeMs: OVER_QUOTA_MS });
  expect(timer.exempt).toBe(false);
  expect(muted).toEqual([OVER_QUOTA_MS]);
});
