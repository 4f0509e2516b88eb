// Replica placement for new partitions: Kafka's rack-unaware assignment (AdminUtils.assignReplicasToBrokers).
// Leaders (first replicas) rotate over the brokers, and each partition's followers are shifted so that the
// replicas of one broker's partitions spread over all the others.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";

export function assignReplicas(
  brokerIds: readonly number[],
  numPartitions: number,
  replicationFactor: number,
  options: { startIndex?: number; shift?: number; firstPartition?: number } = {},
): number[][] {
  const brokers = [...brokerIds].sort((a, b) => a - b);
  const count = brokers.length;
  if (replicationFactor <= 0) throw new KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0.");
  if (replicationFactor > count)
    throw new KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, `Replication factor: ${replicationFactor} larger than available brokers: ${count}.`);
  const startIndex = options.startIndex ?? Math.floor(Math.random() * count);
  let shift = options.shift ?? Math.floor(Math.random() * count);
  const firstPartition = options.firstPartition ?? 0;
  const assignments: number[][] = [];
  for (let i = 0; i < numPartitions; i++) {
    const partition = firstPartition + i;
    if (partition > 0 && partition % count === 0) shift++;
    const first = (partition + startIndex) % count;
    const replicas = [brokers[first]!];
    for (let j = 0; j < replicationFactor - 1; j++) {
      const offset = 1 + ((shift + j) % (count - 1));
      replicas.push(brokers[(first + offset) % count]!);
    }
    assignments.push(replicas);
  }
  return assignments;
}
