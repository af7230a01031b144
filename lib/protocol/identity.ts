/**
 * Node keys on the wire: the shapes of public keys, nonces and signatures,
 * and the texts a node signs — to join (the join socket's challenge) and to
 * prove which node an agent server is (`GET /identity`). The keys themselves
 * are Ed25519 (net/node-key.ts); here is only what is pure.
 */
import { quoteValue } from "../core/validate.ts";
import { ParseError, string } from "../core/parse.ts";

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Whether `text` has the shape of a node's public key: 43 base64url characters (32 bytes). */
export function isPublicKeyShape(text: string): boolean {
  return text.length === 43 && BASE64URL.test(text);
}

/** Whether `text` has the shape of a nonce the master hands out: 22 to 128 base64url characters. */
export function isNonceShape(text: string): boolean {
  return text.length >= 22 && text.length <= 128 && BASE64URL.test(text);
}

function shaped(check: (text: string) => boolean, what: string) {
  return (value: unknown, path: string): string => {
    const text = string(value, path);
    if (!check(text)) throw new ParseError(path, `expected ${what}, got ${quoteValue(text)}`);
    return text;
  };
}

/** A node's public key, by its shape. @throws ParseError */
export const parsePublicKey = shaped(isPublicKeyShape, "an Ed25519 public key (43 base64url characters)");
/** A nonce, by its shape. @throws ParseError */
export const parseNonce = shaped(isNonceShape, "a nonce (22 to 128 base64url characters)");
/** A signature: 86 base64url characters (64 bytes). @throws ParseError */
export const parseSignature = shaped((t) => t.length === 86 && BASE64URL.test(t), "an Ed25519 signature (86 base64url characters)");

/**
 * What a worker signs to join: the master's nonce for this one connection,
 * the name and the key it joins with. A proof is good for that connection
 * only: a later join gets another nonce. The first line keeps it apart from
 * every other signed text (an agent's proof can never pass for a join's).
 */
export function joinProofText(nonce: string, name: string, publicKey: string): string {
  return `multiverse join proof v1\n${nonce}\n${name}\n${publicKey}`;
}

/**
 * What a worker's agent server signs when the master asks who it is
 * (`GET /identity?nonce=`): the master's nonce, the node name and its key.
 */
export function agentProofText(nonce: string, name: string, publicKey: string): string {
  return `multiverse agent proof v1\n${nonce}\n${name}\n${publicKey}`;
}
