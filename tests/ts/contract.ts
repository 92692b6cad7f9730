// What a mini-program team writes against the types generated from /openapi.json
// (`make contract`: openapi-typescript into instance/contract/api.d.ts, then `tsc --noEmit`).
// It fails to compile when the document stops saying what a client relies on: the results'
// shape, the error union, the overload contract's Retry-After and waiting-room ticket.
import type { components, operations } from "../../instance/contract/api";

type Schemas = components["schemas"];
type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;

export type ApiError = Schemas["Error"];
export type ErrorCode = Schemas["ErrorCode"];
export type Results = Json<operations["getResults"]["responses"][200]>;
export type Code = Json<operations["getCode"]["responses"][200]>;
export type Busy = Json<operations["getResults"]["responses"][503]>;
export type Throttled = Json<operations["getResults"]["responses"][429]>;
export type ProfileRefused = Json<operations["putProfile"]["responses"][409]>;
export type ProfileInvalid = Json<operations["putProfile"]["responses"][422]>;

/** The names and latest outcome the results screen shows, one line per person. */
export function resultLines(results: Results): string[] {
  return results.residents.map((resident) => {
    const latest = resident.latest;
    return latest === null ? resident.name_masked : `${resident.name_masked}: ${latest.state}`;
  });
}

/** What the code screen keeps offline. */
export function offlineCopy(code: Code): { token: string; codeId: string; expiresAt: Date } {
  return { token: code.token, codeId: code.code_id, expiresAt: new Date(code.expires_at) };
}

/** Seconds to wait: every 429 and 503 carries them, in the header and in detail. */
export function retryAfter(error: Busy | Throttled): number {
  return error.detail.retry_after;
}

/** The waiting room's ticket, to send back as X-Queue-Ticket after the estimated wait. */
export function queueTicket(error: Busy): { ticket: string; waitSeconds: number } | null {
  if (error.code !== "waiting_room" || error.detail.ticket === undefined) {
    return null;
  }
  return { ticket: error.detail.ticket, waitSeconds: error.detail.estimated_wait ?? 0 };
}

/** What works instead while the service sheds: the kinds a page can offer. */
export function alternatives(error: Busy | Throttled): Array<Schemas["Alternative"]["kind"]> {
  return error.detail.alternatives.map((alternative) => alternative.kind);
}

/** A 409 of the profile is a known code: the page can branch on it. */
export function isAlreadyLinked(error: ProfileRefused): boolean {
  return error.code === "already_linked";
}

/** A 422 always lists its problems, field by field. */
export function invalidFields(error: ProfileInvalid): string[] {
  return error.detail.map((problem) => problem.field);
}

/** Any error, by the kind of its detail. */
export function explain(error: ApiError): string {
  const detail = error.detail;
  if (detail === null) {
    return error.message;
  }
  if (Array.isArray(detail)) {
    return `${error.message} (${detail.map((p) => p.field).join(", ")})`;
  }
  if ("reason" in detail) {
    return `${error.message} (retry in ${detail.retry_after} s)`;
  }
  if ("platform" in detail && error.code === "invalid_code") {
    return `${error.message} (${String(detail.platform)})`;
  }
  return error.message;
}

const codes: ErrorCode[] = ["resident_not_found", "already_linked", "waiting_room", "not_found"];
export const known: ReadonlySet<ErrorCode> = new Set(codes);
