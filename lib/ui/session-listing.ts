/** `GET /api/v1/sessions` read with the protocol's parser. */
import { arrayOf } from "../core/parse.ts";
import { parseSessionView, type SessionView } from "../protocol/api.ts";

export function parseSessionListing(value: unknown): SessionView[] {
  return arrayOf(parseSessionView)(value, "sessions");
}
