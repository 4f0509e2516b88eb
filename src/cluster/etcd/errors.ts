// The one error type the etcd client throws. `kind` says where it failed, so callers can tell "etcd said
// no" (server: grpcCode from the gateway's {"error","message","code"} body) from "etcd was not reached"
// (unreachable), "no answer in time" (timeout), "the gateway sent something we cannot read" (protocol) and
// "etcd refused our user name and password" (auth).

/** gRPC status codes as the gateway reports them in `code` (google.golang.org/grpc/codes). */
export const GrpcCode = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type EtcdErrorKind = "server" | "unreachable" | "timeout" | "protocol" | "compacted" | "canceled" | "lease-lost" | "auth";

export class EtcdError extends Error {
  override readonly name = "EtcdError";

  constructor(
    message: string,
    readonly kind: EtcdErrorKind,
    /** The gateway's gRPC code (`kind` "server"), else null. */
    readonly grpcCode: number | null = null,
    /** The HTTP status of the gateway's answer, when there was one. */
    readonly httpStatus: number | null = null,
    /** The endpoint that produced the error (the last one tried). */
    readonly endpoint: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** etcd answered, but the lease does not exist (expired or revoked). */
  get isLeaseNotFound(): boolean {
    return this.kind === "server" && this.grpcCode === GrpcCode.NOT_FOUND && this.message.includes("lease not found");
  }

  /** etcd no longer accepts our auth token (it expired, etcd restarted, or the auth store changed): log in again. */
  get isStaleToken(): boolean {
    return this.kind === "server" && isStaleTokenReason(this.message);
  }
}

/** etcd's reasons for refusing a token that a fresh login fixes (ErrInvalidAuthToken, ErrAuthOldRevision). */
export function isStaleTokenReason(reason: string): boolean {
  return reason.includes("invalid auth token") || reason.includes("revision of auth store is old");
}
