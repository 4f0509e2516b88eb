// Transaction helpers shared by the transaction tests: DescribeTransactions over the in-repo client, and a
// bounded wait for a transactional id to reach a state (markers are written after EndTxn answers, so tests
// poll for CompleteCommit / CompleteAbort instead of sleeping).
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;

export interface TransactionDescription {
  errorCode: number;
  transactionState: string;
  producerId: number;
  producerEpoch: number;
  topics: { topic: string; partitions: number[] }[];
}

/** DescribeTransactions v0 for one transactional id, as the broker answers it. */
export async function describeTransaction(connection: KafkaConnection, transactionalId: string): Promise<TransactionDescription> {
  const response = await connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] });
  return response.transactionStates[0];
}

/** Polls `readState` until it returns `state`, at most 300 times 100 ms; throws with the last state seen. */
export async function waitForTransactionState(readState: () => Promise<string>, transactionalId: string, state: string): Promise<void> {
  let last = "";
  for (let step = 0; step < WAIT_STEPS_MAX; step++) {
    last = await readState();
    if (last === state) return;
    await Bun.sleep(WAIT_STEP_MS);
  }
  throw new Error(`${transactionalId} stayed ${last}, never ${state}`);
}
