/**
 * Before the master welcomes a node it checks that the agent address the
 * node gave is that node's: it asks the agent server there to sign a fresh
 * nonce (`GET /identity?nonce=`) and checks the signature against the key
 * the node joined with. A join-token holder who advertises another worker's
 * agent address is refused at its join, before the master ever sends that
 * agent a call under the wrong secret; an agent the master cannot reach is
 * refused with the address it tried, instead of joining and failing every
 * call later.
 */
import { randomBytes } from "node:crypto";
import { AppError, describeNetworkError, messageOf } from "../core/errors.ts";
import { parseJson } from "../core/parse.ts";
import { fetchPeer } from "../net/fetch.ts";
import { verifyNodeSignature } from "../net/node-key.ts";
import { parseAgentIdentity } from "../protocol/agent.ts";
import { agentProofText } from "../protocol/identity.ts";
import { agentEndpoint, type AgentTarget } from "./agent-client.ts";

/** What a joining node claims: its name, its key and where its agent server is. */
export type AgentClaim = Pick<AgentTarget, "name" | "address" | "agentCert"> & { publicKey: string };

/**
 * Checks that the agent server at `claim.address` holds the key of
 * `claim.publicKey` and serves node `claim.name`.
 * @throws AppError E_UNREACHABLE (cannot reach it in time), E_PROTOCOL (an
 *   answer that is not an identity), E_UNAUTHORIZED (another node's agent,
 *   or a wrong signature).
 */
export type AgentVerifier = (claim: AgentClaim) => Promise<void>;

/** How long the agent may take to prove itself; it only signs, so a healthy one answers at once. */
export const AGENT_PROOF_TIMEOUT_MS = 5_000;

/** Largest identity answer read: a name, a key and a signature fit many times over. */
const MAX_ANSWER_BYTES = 16 * 1024;

export function createAgentVerifier(options: { timeoutMs?: number; fetch?: typeof fetch } = {}): AgentVerifier {
  const timeoutMs = options.timeoutMs ?? AGENT_PROOF_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  return async (claim) => {
    const nonce = randomBytes(32).toString("base64url");
    const endpoint = agentEndpoint({ ...claim, agentToken: "" }, "http");
    const where = `the agent server of node "${claim.name}" at ${claim.address}`;
    let text: string;
    try {
      const response = await fetchPeer(doFetch, {
        url: `${endpoint.url}/identity?nonce=${nonce}&node=${encodeURIComponent(claim.name)}`,
        ...(endpoint.tls ? { tls: endpoint.tls } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await boundedText(response);
      if (!response.ok) throw new AppError("E_PROTOCOL", `HTTP ${response.status}`);
    } catch (error) {
      const why = error instanceof AppError ? error.message : describeNetworkError(error);
      throw new AppError("E_UNREACHABLE", `The master cannot check ${where}: ${why}. Is --advertise-addr an address the master can reach, and is it this worker's?`, { cause: error });
    }
    let identity;
    try {
      identity = parseAgentIdentity(parseJson(text, "identity"));
    } catch (error) {
      throw new AppError("E_PROTOCOL", `The master cannot check ${where}: its answer is not an identity (${messageOf(error)})`);
    }
    if (identity.name !== claim.name || identity.publicKey !== claim.publicKey) {
      throw new AppError("E_UNAUTHORIZED", `Refused node "${claim.name}": ${claim.address} is the agent server of another node (it proves a different key); a node must advertise its own agent address`);
    }
    if (!verifyNodeSignature(identity.publicKey, agentProofText(nonce, claim.name, claim.publicKey), identity.signature)) {
      throw new AppError("E_UNAUTHORIZED", `Refused node "${claim.name}": ${where} did not sign the master's nonce with the node's key`);
    }
  };
}

/** The body as text, at most MAX_ANSWER_BYTES of it. @throws AppError E_PROTOCOL when it is longer */
async function boundedText(response: Response): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    // Leaving the loop by a throw cancels the rest of the body.
    if (size > MAX_ANSWER_BYTES) throw new AppError("E_PROTOCOL", `an answer longer than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
