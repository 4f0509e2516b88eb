// /api/v1/faults on the admin listener: the fault API (src/faults/) for tests in any language. POST arms a
// fault (the JSON body is a fault spec), GET lists the armed ones, DELETE clears all, DELETE /<id> one.
// With faults.enable off the resource does not exist (404); with an authorizer, it needs ALTER on the cluster.
import { AclOperation, canCluster } from "../api/authorize.ts";
import type { ClientConnection } from "../api/context.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { FaultSpecError } from "../faults/fault-spec.ts";
import type { AdminBrokerView } from "./broker-view.ts";
import { json } from "./json-api.ts";
import { AdminRequestError } from "./records.ts";

interface Call {
  method: string;
  /** Path segments after /api/v1/faults. */
  segments: string[];
  body: () => Promise<unknown>;
  connection: ClientConnection;
}

export async function handleFaultsApi(view: AdminBrokerView, call: Call): Promise<Response> {
  const faults = view.faults;
  if (!faults.enabled) throw new AdminRequestError(404, "no fault API: faults.enable is off on this broker");
  const check = { authorizer: view.services.authorizer, connection: call.connection, audit: view.services.audit };
  if (!canCluster(check, AclOperation.ALTER)) throw new AdminRequestError(403, "not authorized: faults need ALTER on the cluster", ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  const [id, ...rest] = call.segments;
  if (rest.length > 0) throw new AdminRequestError(404, `no ${call.method} /api/v1/faults/${call.segments.join("/")}`);
  if (id === undefined) {
    if (call.method === "GET") return json({ faults: faults.list() });
    if (call.method === "DELETE") return json({ cleared: faults.clear() });
    if (call.method === "POST") {
      const spec = await call.body();
      try {
        return json(await faults.add(spec), 201);
      } catch (error) {
        if (error instanceof FaultSpecError) throw new AdminRequestError(400, error.message);
        // A one-time fault that could not be done (move-leader to a broker out of the ISR, ...).
        throw new AdminRequestError(409, error instanceof Error ? error.message : String(error));
      }
    }
  } else if (call.method === "DELETE") {
    const number = Number(id);
    if (!Number.isSafeInteger(number)) throw new AdminRequestError(400, `fault id must be a number, got ${id}`);
    if (faults.clear(number) === 0) throw new AdminRequestError(404, `no armed fault ${number}`);
    return json({ cleared: 1 });
  }
  throw new AdminRequestError(405, `${call.method} is not allowed on /api/v1/faults${id === undefined ? "" : `/${id}`}`);
}
