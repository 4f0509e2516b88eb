// Kafka error codes produced by the record and log layers (wire values of
// org.apache.kafka.common.protocol.Errors). Kept as plain numbers here until the protocol owner
// centralises them; they must stay equal to the entries of src/protocol/errors.ts.
export const NONE = 0;
export const OFFSET_OUT_OF_RANGE = 1;
export const CORRUPT_MESSAGE = 2;
export const MESSAGE_TOO_LARGE = 10;
export const RECORD_LIST_TOO_LARGE = 18;
export const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
export const INVALID_PRODUCER_EPOCH = 47;
export const UNSUPPORTED_COMPRESSION_TYPE = 76;
export const INVALID_RECORD = 87;

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
