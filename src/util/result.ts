// The one shape of an outcome that can fail, in every layer: record validation and conversion (records/),
// appends and reads (log/), the partition workers' answers (partition/). A Kafka error code (0 = NONE)
// and, when there is something to tell the client, why. Paths that a client's bytes reach return it;
// they do not throw.

/** An outcome that may have failed: errorCode 0 (NONE) is success. */
export interface ErrorResult {
  errorCode: number;
  errorMessage?: string;
}

/** A failure: a Kafka error code other than NONE, and the reason in words a client or operator can act on. */
export interface Failure extends ErrorResult {
  errorMessage: string;
}
