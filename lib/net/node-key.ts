/**
 * A node's key: the Ed25519 key pair that binds a node name to one worker.
 * The worker keeps the private key (worker/identity.ts) and signs what the
 * master asks it to; the master pins the public key at the first join
 * (master/node-keys.ts) and checks signatures against it. Public keys and
 * signatures travel as base64url: 43 and 86 characters.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { AppError } from "../core/errors.ts";
import { isPublicKeyShape } from "../protocol/identity.ts";

/** What a worker can do with its key: say its public half and sign. */
export interface NodeKey {
  /** The raw 32-byte Ed25519 public key, base64url. */
  readonly publicKey: string;
  /** Signs `text` (UTF-8); the signature as base64url. */
  sign(text: string): string;
}

function nodeKeyOf(privateKey: KeyObject): NodeKey {
  const x = createPublicKey(privateKey).export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new AppError("E_INTERNAL", "An Ed25519 key without its public half");
  return { publicKey: x, sign: (text) => sign(null, Buffer.from(text), privateKey).toString("base64url") };
}

/** A fresh key pair, and its private key as PKCS#8 PEM for storing. */
export function generateNodeKey(): { key: NodeKey; pem: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { key: nodeKeyOf(privateKey), pem: privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
}

/** The key of a stored PKCS#8 PEM. @throws AppError E_USAGE when it is not an Ed25519 private key */
export function nodeKeyFromPem(pem: string, what: string): NodeKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new AppError("E_USAGE", `${what} is not a private key in PEM`);
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new AppError("E_USAGE", `${what} is not an Ed25519 key (it is ${privateKey.asymmetricKeyType ?? "unknown"})`);
  return nodeKeyOf(privateKey);
}

const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/**
 * Whether `signature` is `publicKey`'s signature of `text`. False for
 * anything malformed (a key or a signature of the wrong shape), never a throw.
 */
export function verifyNodeSignature(publicKey: string, text: string, signature: string): boolean {
  if (!isPublicKeyShape(publicKey) || !SIGNATURE.test(signature)) return false;
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey }, format: "jwk" });
    return verify(null, Buffer.from(text), key, Buffer.from(signature, "base64url"));
  } catch {
    return false;
  }
}
