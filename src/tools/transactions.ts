// `bun run transactions` (and `bunka transactions`): transactions from the command line, like Kafka's
// kafka-transactions.sh.
//   list                                             every transactional id each coordinator holds
//   describe --transactional-id X                    one id: state, producer, timeout, partitions
//   describe-producers --topic T --partition P       the producers a partition leader tracks (KIP-664)
//   find-hanging (--topic T [--partition P] | --broker-id B) [--max-transaction-timeout-ms N]
//       open transactions (DescribeProducers) older than the timeout whose coordinator does not have them
//       open on that partition: they hold the partition's last stable offset back for good
//   abort --topic T --partition P --start-offset O   writes an ABORT marker for the open transaction that
//       started at O (WriteTxnMarkers to the leader; needs CLUSTER_ACTION, as Kafka's tool)
// Tables for people, --json for scripts. Exit code 0 on success, 1 on an error (also a wrong combination of
// options), 2 when the command line does not parse.
import { Command, CommanderError } from "commander";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { clientOptions, collect, type CommonOptions } from "../cli/common.ts";
import { checkError, KafkaClient, type TopicMetadata } from "../cli/kafka-client.ts";
import { CliError, errorLine, printJson, table } from "../cli/output.ts";

/** FindCoordinator key type of a transactional id. */
const TRANSACTION_KEY_TYPE = 1;
const BROKER_RESOURCE = 4;
/** Kafka's default transaction.max.timeout.ms, used when the broker does not say. */
const DEFAULT_MAX_TRANSACTION_TIMEOUT_MS = 900_000;
/** Coordinator answers worth repeating (it loads, moves, or is mid-change). */
const COORDINATOR_RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS]);
const COORDINATOR_ATTEMPTS = 20;

export interface ListedTransaction {
  transactionalId: string;
  coordinatorId: number;
  producerId: number;
  state: string;
}

export interface TransactionDescription {
  coordinatorId: number;
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  state: string;
  timeoutMs: number;
  /** -1 when no transaction is open. */
  startTimeMs: number;
  /** -1 when no transaction is open. */
  durationMs: number;
  partitions: { topic: string; partition: number }[];
}

export interface ProducerState {
  topic: string;
  partition: number;
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestampMs: number;
  coordinatorEpoch: number;
  /** -1 when the producer has no open transaction on the partition. */
  currentTransactionStartOffset: number;
}

export interface HangingTransaction extends ProducerState {
  /** Since the producer's last write here: a lower bound of how long the transaction has been open. */
  durationMs: number;
  /** The coordinator's id for the producer, when one knows it (it then does not list this partition). */
  transactionalId: string | null;
  coordinatorState: string | null;
}

/** Every transactional id of every coordinator (ListTransactions goes to each broker). */
export async function listTransactions(client: KafkaClient): Promise<ListedTransaction[]> {
  const metadata = await client.metadata([]);
  const listed: ListedTransaction[] = [];
  for (const broker of metadata.brokers) {
    const response = await (await client.brokerConnection(broker.nodeId)).request(ApiKey.ListTransactions, 0, { stateFilters: [], producerIdFilters: [], durationFilter: -1 });
    checkError(response.errorCode, `ListTransactions on broker ${broker.nodeId}`);
    for (const t of response.transactionStates) listed.push({ transactionalId: t.transactionalId, coordinatorId: broker.nodeId, producerId: Number(t.producerId), state: t.transactionState });
  }
  return listed.sort((a, b) => a.transactionalId.localeCompare(b.transactionalId));
}

async function findCoordinator(client: KafkaClient, transactionalId: string): Promise<number> {
  let lastError: number = ErrorCode.NONE;
  for (let attempt = 0; attempt < COORDINATOR_ATTEMPTS; attempt++) {
    const response = await (await client.bootstrapConnection()).request(ApiKey.FindCoordinator, 3, { key: transactionalId, keyType: TRANSACTION_KEY_TYPE, coordinatorKeys: [] });
    if (response.errorCode === ErrorCode.NONE) return response.nodeId;
    lastError = response.errorCode;
    if (!COORDINATOR_RETRIABLE.has(lastError)) break;
    await Bun.sleep(250);
  }
  throw new CliError(`finding the coordinator of ${transactionalId}: ${errorName(lastError)}`);
}

export async function describeTransaction(client: KafkaClient, transactionalId: string): Promise<TransactionDescription> {
  let lastError: number = ErrorCode.NONE;
  for (let attempt = 0; attempt < COORDINATOR_ATTEMPTS; attempt++) {
    const coordinatorId = await findCoordinator(client, transactionalId);
    const response = await (await client.brokerConnection(coordinatorId)).request(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] });
    const state = response.transactionStates[0];
    if (state && state.errorCode === ErrorCode.NONE) {
      const startTimeMs = Number(state.transactionStartTimeMs);
      return {
        coordinatorId,
        transactionalId,
        producerId: Number(state.producerId),
        producerEpoch: state.producerEpoch,
        state: state.transactionState,
        timeoutMs: state.transactionTimeoutMs,
        startTimeMs,
        durationMs: startTimeMs >= 0 ? Math.max(0, Date.now() - startTimeMs) : -1,
        partitions: state.topics.flatMap((t: { topic: string; partitions: number[] }) => t.partitions.map((partition) => ({ topic: t.topic, partition }))),
      };
    }
    lastError = state?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    if (!COORDINATOR_RETRIABLE.has(lastError)) break;
    await Bun.sleep(250);
  }
  throw new CliError(`describing ${transactionalId}: ${errorName(lastError)}`);
}

/** DescribeProducers on the leaders of the given partitions of one topic. */
export async function describeProducers(client: KafkaClient, topic: TopicMetadata, partitions: number[]): Promise<ProducerState[]> {
  const byLeader = new Map<number, number[]>();
  for (const partition of partitions) {
    const leader = topic.partitions.find((p) => p.partition === partition)?.leader ?? -1;
    if (leader < 0) throw new CliError(`${topic.name}-${partition} has no leader`);
    byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
  }
  const states: ProducerState[] = [];
  for (const [leader, list] of byLeader) {
    const response = await (await client.brokerConnection(leader)).request(ApiKey.DescribeProducers, 0, { topics: [{ name: topic.name, partitionIndexes: list }] });
    for (const answer of response.topics[0]?.partitions ?? []) {
      checkError(answer.errorCode, `DescribeProducers ${topic.name}-${answer.partitionIndex}`, answer.errorMessage);
      for (const p of answer.activeProducers) {
        states.push({
          topic: topic.name,
          partition: answer.partitionIndex,
          producerId: Number(p.producerId),
          producerEpoch: p.producerEpoch,
          lastSequence: p.lastSequence,
          lastTimestampMs: Number(p.lastTimestamp),
          coordinatorEpoch: p.coordinatorEpoch,
          currentTransactionStartOffset: Number(p.currentTxnStartOffset),
        });
      }
    }
  }
  return states.sort((a, b) => a.partition - b.partition || a.producerId - b.producerId);
}

/** The broker's transaction.max.timeout.ms (DescribeConfigs), or Kafka's default when it does not answer one. */
async function maxTransactionTimeoutMs(client: KafkaClient): Promise<number> {
  const metadata = await client.metadata([]);
  const brokerId = metadata.brokers[0]?.nodeId;
  if (brokerId === undefined) return DEFAULT_MAX_TRANSACTION_TIMEOUT_MS;
  const response = await (await client.brokerConnection(brokerId)).request(ApiKey.DescribeConfigs, 1, {
    resources: [{ resourceType: BROKER_RESOURCE, resourceName: String(brokerId), configurationKeys: ["transaction.max.timeout.ms"] }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const value = response.results[0]?.configs.find((c: { name: string }) => c.name === "transaction.max.timeout.ms")?.value;
  const parsed = Number(value);
  return value !== undefined && value !== null && Number.isSafeInteger(parsed) && parsed > 0 ? parsed : DEFAULT_MAX_TRANSACTION_TIMEOUT_MS;
}

export interface FindHangingOptions {
  topic?: string;
  partition?: number;
  brokerId?: number;
  /** Only transactions open longer than this are candidates (default: the broker's transaction.max.timeout.ms). */
  maxTransactionTimeoutMs?: number;
}

/**
 * Kafka's FindHangingTransactionsCommand: the open transactions of the partitions (DescribeProducers), those
 * older than the maximum transaction timeout, and of those the ones whose coordinator does not know the
 * producer, or has it in another state or epoch, or without this partition. A coordinator aborts a
 * transaction it knows after its timeout, so what is left that long is one nobody will ever end.
 */
export async function findHangingTransactions(client: KafkaClient, options: FindHangingOptions): Promise<HangingTransaction[]> {
  const thresholdMs = options.maxTransactionTimeoutMs ?? (await maxTransactionTimeoutMs(client));
  const open: ProducerState[] = [];
  if (options.topic !== undefined) {
    const topic = await client.topic(options.topic, { attempts: 1 });
    const partitions = options.partition !== undefined ? [options.partition] : topic.partitions.map((p) => p.partition);
    for (const partition of partitions) if (!topic.partitions.some((p) => p.partition === partition)) throw new CliError(`${options.topic}-${partition} does not exist`);
    open.push(...(await describeProducers(client, topic, partitions)));
  } else if (options.brokerId !== undefined) {
    const metadata = await client.metadata(null);
    if (!metadata.brokers.some((b) => b.nodeId === options.brokerId)) throw new CliError(`broker ${options.brokerId} is not in the cluster metadata`);
    for (const topic of metadata.topics) {
      const led = topic.partitions.filter((p) => p.leader === options.brokerId).map((p) => p.partition);
      if (led.length > 0) open.push(...(await describeProducers(client, topic, led)));
    }
  } else throw new CliError("find-hanging needs --topic T [--partition P] or --broker-id B");

  const nowMs = Date.now();
  const candidates = open.filter((p) => p.currentTransactionStartOffset >= 0 && nowMs - p.lastTimestampMs > thresholdMs);
  if (candidates.length === 0) return [];
  // Which transactional ids the coordinators hold for these producers (ListTransactions filtered by producer id).
  const producerIds = [...new Set(candidates.map((c) => c.producerId))];
  const idsByProducer = new Map<number, string>();
  for (const broker of (await client.metadata([])).brokers) {
    const response = await (await client.brokerConnection(broker.nodeId)).request(ApiKey.ListTransactions, 0, { stateFilters: [], producerIdFilters: producerIds, durationFilter: -1 });
    checkError(response.errorCode, `ListTransactions on broker ${broker.nodeId}`);
    for (const t of response.transactionStates) idsByProducer.set(Number(t.producerId), t.transactionalId);
  }
  const hanging: HangingTransaction[] = [];
  for (const candidate of candidates) {
    const transactionalId = idsByProducer.get(candidate.producerId) ?? null;
    const durationMs = nowMs - candidate.lastTimestampMs;
    if (transactionalId === null) {
      hanging.push({ ...candidate, durationMs, transactionalId: null, coordinatorState: null });
      continue;
    }
    const description = await describeTransaction(client, transactionalId);
    const stillOpenHere =
      description.producerId === candidate.producerId &&
      description.producerEpoch === candidate.producerEpoch &&
      ["Ongoing", "PrepareCommit", "PrepareAbort"].includes(description.state) &&
      description.partitions.some((p) => p.topic === candidate.topic && p.partition === candidate.partition);
    if (!stillOpenHere) hanging.push({ ...candidate, durationMs, transactionalId, coordinatorState: description.state });
  }
  return hanging;
}

export interface AbortOptions {
  topic: string;
  partition: number;
  startOffset: number;
}

/**
 * Kafka's AbortTransactionCommand: the producer whose open transaction on the partition started at
 * `startOffset` (DescribeProducers), then WriteTxnMarkers ABORT with its epoch and last coordinator epoch to
 * the leader, which releases the partition's last stable offset.
 */
export async function abortTransaction(client: KafkaClient, options: AbortOptions): Promise<ProducerState> {
  const topic = await client.topic(options.topic, { attempts: 1 });
  const leader = topic.partitions.find((p) => p.partition === options.partition)?.leader;
  if (leader === undefined) throw new CliError(`${options.topic}-${options.partition} does not exist`);
  const producers = await describeProducers(client, topic, [options.partition]);
  const producer = producers.find((p) => p.currentTransactionStartOffset === options.startOffset);
  if (!producer) throw new CliError(`no open transaction starts at offset ${options.startOffset} of ${options.topic}-${options.partition} (describe-producers lists the open ones)`);
  const response = await (await client.brokerConnection(leader)).request(ApiKey.WriteTxnMarkers, 1, {
    markers: [
      {
        producerId: producer.producerId,
        producerEpoch: producer.producerEpoch,
        transactionResult: false,
        coordinatorEpoch: Math.max(0, producer.coordinatorEpoch),
        topics: [{ name: options.topic, partitionIndexes: [options.partition] }],
      },
    ],
  });
  const errorCode = response.markers[0]?.topics[0]?.partitions[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
  checkError(errorCode, `aborting the transaction of producer ${producer.producerId} on ${options.topic}-${options.partition}`);
  return producer;
}

function parseNonNegative(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new CliError(`${flag} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

function required(text: string | undefined, flag: string): number {
  const value = parseNonNegative(text, flag);
  if (value === undefined) throw new CliError(`${flag} is required`);
  return value;
}

async function withClient(command: Command, use: (client: KafkaClient, common: CommonOptions) => Promise<void>): Promise<void> {
  const common = command.optsWithGlobals() as CommonOptions;
  const client = await KafkaClient.connect(clientOptions(common));
  try {
    await use(client, common);
  } finally {
    client.close();
  }
}

const formatTime = (ms: number): string => (ms >= 0 ? new Date(ms).toISOString() : "-");

/** The subcommands on `parent` (`bunka transactions`, or the standalone program of `bun run transactions`). */
export function addTransactionCommands(parent: Command): Command {
  parent
    .command("list")
    .description("every transactional id, its coordinator, producer id and state")
    .action(async (_options: object, command: Command) =>
      withClient(command, async (client, common) => {
        const listed = await listTransactions(client);
        if (common.json) printJson(listed);
        else console.log(table(["TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"], listed.map((t) => [t.transactionalId, t.coordinatorId, t.producerId, t.state])));
      }),
    );
  parent
    .command("describe")
    .description("one transactional id: state, producer, timeout, open transaction and its partitions")
    .requiredOption("--transactional-id <id>", "the transactional.id")
    .action(async (options: { transactionalId: string }, command: Command) =>
      withClient(command, async (client, common) => {
        const d = await describeTransaction(client, options.transactionalId);
        if (common.json) printJson(d);
        else
          console.log(
            table(
              ["COORDINATOR", "TRANSACTIONAL-ID", "PRODUCER-ID", "PRODUCER-EPOCH", "STATE", "TIMEOUT-MS", "START-TIME", "DURATION-MS", "PARTITIONS"],
              [[d.coordinatorId, d.transactionalId, d.producerId, d.producerEpoch, d.state, d.timeoutMs, formatTime(d.startTimeMs), d.durationMs >= 0 ? d.durationMs : "-", d.partitions.map((p) => `${p.topic}-${p.partition}`).join(",") || "-"]],
            ),
          );
      }),
    );
  parent
    .command("describe-producers")
    .description("the producers a partition's leader tracks, with their open transaction's first offset")
    .requiredOption("--topic <topic>", "topic")
    .requiredOption("--partition <n>", "partition")
    .action(async (options: { topic: string; partition: string }, command: Command) =>
      withClient(command, async (client, common) => {
        const topic = await client.topic(options.topic, { attempts: 1 });
        const producers = await describeProducers(client, topic, [required(options.partition, "--partition")]);
        if (common.json) printJson(producers);
        else
          console.log(
            table(
              ["PRODUCER-ID", "PRODUCER-EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "COORDINATOR-EPOCH", "CURRENT-TRANSACTION-START-OFFSET"],
              producers.map((p) => [p.producerId, p.producerEpoch, p.lastSequence, formatTime(p.lastTimestampMs), p.coordinatorEpoch, p.currentTransactionStartOffset >= 0 ? p.currentTransactionStartOffset : "None"]),
            ),
          );
      }),
    );
  parent
    .command("find-hanging")
    .description("open transactions older than the maximum transaction timeout that no coordinator will end")
    .option("--topic <topic>", "look at this topic's partitions")
    .option("--partition <n>", "only this partition (with --topic)")
    .option("--broker-id <id>", "look at every partition this broker leads")
    .option("--max-transaction-timeout-ms <ms>", "older than this is a candidate (default: the broker's transaction.max.timeout.ms)")
    .action(async (options: { topic?: string; partition?: string; brokerId?: string; maxTransactionTimeoutMs?: string }, command: Command) =>
      withClient(command, async (client, common) => {
        if ((options.topic === undefined) === (options.brokerId === undefined)) throw new CliError("find-hanging needs exactly one of --topic T [--partition P] or --broker-id B");
        if (options.partition !== undefined && options.topic === undefined) throw new CliError("--partition needs --topic");
        const hanging = await findHangingTransactions(client, {
          topic: options.topic,
          partition: parseNonNegative(options.partition, "--partition"),
          brokerId: parseNonNegative(options.brokerId, "--broker-id"),
          maxTransactionTimeoutMs: parseNonNegative(options.maxTransactionTimeoutMs, "--max-transaction-timeout-ms"),
        });
        if (common.json) printJson(hanging);
        else if (hanging.length === 0) console.log("No hanging transactions found.");
        else
          console.log(
            table(
              ["TOPIC", "PARTITION", "PRODUCER-ID", "PRODUCER-EPOCH", "COORDINATOR-EPOCH", "START-OFFSET", "LAST-TIMESTAMP", "DURATION-MS", "TRANSACTIONAL-ID", "COORDINATOR-STATE"],
              hanging.map((h) => [h.topic, h.partition, h.producerId, h.producerEpoch, h.coordinatorEpoch, h.currentTransactionStartOffset, formatTime(h.lastTimestampMs), h.durationMs, h.transactionalId ?? "-", h.coordinatorState ?? "-"]),
            ),
          );
      }),
    );
  parent
    .command("abort")
    .description("abort the open transaction that started at an offset (WriteTxnMarkers ABORT to the leader; CLUSTER_ACTION)")
    .requiredOption("--topic <topic>", "topic")
    .requiredOption("--partition <n>", "partition")
    .requiredOption("--start-offset <offset>", "the open transaction's first offset (find-hanging / describe-producers show it)")
    .action(async (options: { topic: string; partition: string; startOffset: string }, command: Command) =>
      withClient(command, async (client, common) => {
        const aborted = await abortTransaction(client, { topic: options.topic, partition: required(options.partition, "--partition"), startOffset: required(options.startOffset, "--start-offset") });
        if (common.json) printJson({ aborted });
        else console.log(`Aborted the transaction of producer ${aborted.producerId} (epoch ${aborted.producerEpoch}) that started at offset ${aborted.currentTransactionStartOffset} of ${aborted.topic}-${aborted.partition}.`);
      }),
    );
  return parent;
}

/** `bunka transactions ...` */
export function registerTransactions(program: Command): void {
  addTransactionCommands(program.command("transactions").description("list, describe, find hanging and abort transactions (like kafka-transactions.sh)"));
}

async function main(argv: string[]): Promise<void> {
  const program = new Command("transactions")
    .description("Kafka transactions: list, describe, describe-producers, find-hanging, abort")
    .option("-b, --brokers <host:port,...>", "bootstrap servers", process.env.BUNKA_BROKERS ?? "127.0.0.1:9092")
    .option("--bootstrap-server <host:port,...>", "the same as --brokers (Kafka's spelling)")
    .option("--json", "machine-readable output")
    .option("--timeout-ms <ms>", "per-request timeout", "30000")
    .option("-X, --property <key=value>", "a Kafka client property (security.protocol, sasl.*, ssl.*; repeatable)", collect, [])
    .option("--command-config <file>", "Kafka client properties from a file (-X wins)")
    .showHelpAfterError();
  program.hook("preAction", (root) => {
    const options = root.opts();
    if (options.bootstrapServer) root.setOptionValue("brokers", options.bootstrapServer);
  });
  addTransactionCommands(program);
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
    console.error(`transactions: ${errorLine(error)}`);
    process.exit(1);
  }
}

if (import.meta.main) await main(process.argv.slice(2));
