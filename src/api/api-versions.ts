// ApiVersions: advertise exactly the versions this broker implements (the handler table).
// librdkafka 2.0.2 enables features only when single versions lie inside these ranges, which is why
// Produce and FindCoordinator start at 0 (see docs/kafka-clients.md §4.1).
import { ErrorCode } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const apiVersionsHandler: ApiHandler = {
  apiKey: ApiKey.ApiVersions,
  minVersion: 0,
  maxVersion: 3,
  handle(context) {
    return { errorCode: ErrorCode.NONE, apiKeys: context.broker.advertisedApis(), throttleTimeMs: 0 };
  },
};
