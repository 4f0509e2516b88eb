// SaslHandshake v0-1: the client names its mechanism (security/sasl/authenticator.ts).
// v0: the tokens that follow are bare frames without a request header (Kafka's legacy framing).
// v1: the tokens follow in SaslAuthenticate requests (KIP-152). On a listener without SASL the answer is
// ILLEGAL_SASL_STATE, as Kafka's KafkaApis gives once a connection is past authentication.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { SaslHandshakeResponse } from "../protocol/generated/sasl-handshake.ts";
import { isSaslProtocol } from "../security/principal.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const saslHandshakeHandler = defineHandler(Apis.SaslHandshake, {
  minVersion: 0,
  maxVersion: 1,
  handle(context, request): Reply<SaslHandshakeResponse> {
    const sasl = context.sasl;
    if (!sasl || !isSaslProtocol(context.connection.security.listener.securityProtocol)) return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: [] };
    return sasl.handshake(context.connection, request.mechanism, context.apiVersion);
  },
});
