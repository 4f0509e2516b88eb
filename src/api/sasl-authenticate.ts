// SaslAuthenticate v0-2 (KIP-152): one SASL token each way. v1+: the session lifetime (KIP-368,
// connections.max.reauth.ms) in the answer that completes authentication. A failure answers
// SASL_AUTHENTICATION_FAILED with the reason; the dispatcher then closes the connection.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { SaslAuthenticateResponse } from "../protocol/generated/sasl-authenticate.ts";
import { isSaslProtocol } from "../security/principal.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const saslAuthenticateHandler = defineHandler(Apis.SaslAuthenticate, {
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<SaslAuthenticateResponse>> {
    const sasl = context.sasl;
    if (!sasl || !isSaslProtocol(context.connection.security.listener.securityProtocol)) {
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, errorMessage: "this listener does not use SASL", sessionLifetimeMs: 0 };
    }
    return sasl.authenticate(context.connection, request.authBytes);
  },
});
