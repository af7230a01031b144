/**
 * The browser session: log in with an API token once (the master answers
 * with an HttpOnly cookie), ask who the page is, log out. The token passes
 * through `login` and is dropped: nothing here keeps it.
 */
import { parseWebSessionView, type WebSessionView } from "../protocol/api.ts";
import { ApiError, call, getJson, postJson } from "./api.ts";

/** @throws ApiError with the master's message (a wrong token: 401) */
export function login(token: string): Promise<WebSessionView> {
  return postJson("/api/v1/session", { token }, parseWebSessionView);
}

/** Who the page is logged in as; null when it is not. @throws ApiError for anything but a 401 */
export async function currentSession(): Promise<WebSessionView | null> {
  try {
    return await getJson("/api/v1/session", parseWebSessionView);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export async function logout(): Promise<void> {
  await call("/api/v1/session", { method: "DELETE" }, "Logging out");
}
