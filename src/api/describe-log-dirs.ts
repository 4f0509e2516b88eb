// DescribeLogDirs: the broker's log directories and the partition replicas in them, with their size on
// disk (what consoles and kafka-log-dirs.sh show as topic sizes). Bunka has one log directory, the data
// dir, so there is one result; there are no future logs (no AlterReplicaLogDirs), so isFuture is false and
// the offset lag is 0 (Kafka's lag of a current log: max(0, high watermark - log end) is always 0).
// v1 is v0 with throttling (v0 is gone from Kafka 4.0, KIP-896); v2 is flexible; v3 adds the top-level
// error code; v4 the volume's total and usable bytes (statfs). DESCRIBE on CLUSTER, as in Kafka.
import { resolve } from "node:path";
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeLogDirsResponse, DescribeLogDirsResponseDescribeLogDirsTopic } from "../protocol/generated/describe-log-dirs.ts";
import { volumeSpace } from "../log/file-system.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const describeLogDirsHandler = defineHandler(Apis.DescribeLogDirs, {
  minVersion: 1,
  maxVersion: 4,
  async handle(context, request): Promise<Reply<DescribeLogDirsResponse>> {
    if (!canCluster(context, AclOperation.DESCRIBE)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, results: [] };
    // null asks for every partition; otherwise only the asked ones this broker holds are listed.
    const wanted = request.topics === null ? null : new Map(request.topics.map((topic) => [topic.topic, new Set(topic.partitions)]));
    const byTopic = new Map<string, DescribeLogDirsResponseDescribeLogDirsTopic>();
    for (const log of await context.partitions.logMetrics()) {
      if (wanted !== null && !wanted.get(log.topic)?.has(log.partition)) continue;
      let topic = byTopic.get(log.topic);
      if (!topic) byTopic.set(log.topic, (topic = { name: log.topic, partitions: [] }));
      topic.partitions.push({ partitionIndex: log.partition, partitionSize: log.sizeBytes, offsetLag: 0, isFutureKey: false });
    }
    const topics = [...byTopic.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const topic of topics) topic.partitions.sort((a, b) => a.partitionIndex - b.partitionIndex);
    const logDir = resolve(context.settings.config.dataDir);
    const space = volumeSpace(logDir);
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [{ errorCode: ErrorCode.NONE, logDir, topics, totalBytes: space?.totalBytes ?? -1, usableBytes: space?.usableBytes ?? -1 }],
    };
  },
});
