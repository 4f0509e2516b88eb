// DescribeCluster (KIP-700): cluster id, controller and brokers, as admin clients list them.
import { ErrorCode } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const describeClusterHandler: ApiHandler = {
  apiKey: ApiKey.DescribeCluster,
  minVersion: 0,
  maxVersion: 1,
  handle(context) {
    const { broker } = context;
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: 1,
      clusterId: broker.config.clusterId,
      controllerId: broker.controllerId,
      brokers: broker.brokers().map((info) => ({ brokerId: info.nodeId, host: info.host, port: info.port, rack: info.rack })),
    };
  },
};
