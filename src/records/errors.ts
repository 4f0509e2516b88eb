// The Kafka error codes the record and log layers return, taken from the one table in
// src/protocol/errors.ts (named here so that log code reads `CORRUPT_MESSAGE`, not `ErrorCode.…`).
import { ErrorCode } from "../protocol/errors.ts";

export const NONE = ErrorCode.NONE;
export const OFFSET_OUT_OF_RANGE = ErrorCode.OFFSET_OUT_OF_RANGE;
export const CORRUPT_MESSAGE = ErrorCode.CORRUPT_MESSAGE;
export const MESSAGE_TOO_LARGE = ErrorCode.MESSAGE_TOO_LARGE;
export const RECORD_LIST_TOO_LARGE = ErrorCode.RECORD_LIST_TOO_LARGE;
export const OUT_OF_ORDER_SEQUENCE_NUMBER = ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER;
export const INVALID_PRODUCER_EPOCH = ErrorCode.INVALID_PRODUCER_EPOCH;
export const UNSUPPORTED_COMPRESSION_TYPE = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
export const INVALID_RECORD = ErrorCode.INVALID_RECORD;
export const INVALID_TIMESTAMP = ErrorCode.INVALID_TIMESTAMP;
export const INVALID_TXN_STATE = ErrorCode.INVALID_TXN_STATE;
export const TRANSACTION_COORDINATOR_FENCED = ErrorCode.TRANSACTION_COORDINATOR_FENCED;
export const KAFKA_STORAGE_ERROR = ErrorCode.KAFKA_STORAGE_ERROR;

/** A Kafka error code carried by an exception (thrown by the async codec paths). */
export class RecordsError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
    this.name = "RecordsError";
  }
}
