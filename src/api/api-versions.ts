// ApiVersions: advertise exactly the versions this broker implements (the handler table).
// librdkafka 2.0.2 enables features only when single versions lie inside these ranges, which is why
// Produce and FindCoordinator start at 0 (see docs/kafka-clients.md §4.1).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ApiVersionsResponse } from "../protocol/generated/api-versions.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const apiVersionsHandler = defineHandler(Apis.ApiVersions, {
  minVersion: 0,
  maxVersion: 3,
  handle(context): Reply<ApiVersionsResponse> {
    return { errorCode: ErrorCode.NONE, apiKeys: [...context.advertisedApis], throttleTimeMs: 0 };
  },
});
