/**
 * TLS material from files, checked up front so a typo in a path is a clear
 * error at start-up rather than a handshake failure later.
 *
 * - Servers (master listeners, a worker's agent server) take `--tls-cert`
 *   and `--tls-key` (PEM).
 * - Clients of the master (the client, workers) take `--ca`: a PEM of the
 *   CA that signed the master's certificate, or of a self-signed master
 *   certificate itself, which then acts as a pin.
 * - The master pins each worker's agent certificate: the worker sends it in
 *   its hello, over the join socket the master has already authenticated.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { AppError, messageOf } from "../core/errors.ts";

export interface ServerTls {
  cert: string;
  key: string;
}

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AppError("E_USAGE", `Cannot read the ${what} "${path}": ${messageOf(error)}`);
  }
  if (!text.includes("-----BEGIN ")) throw new AppError("E_USAGE", `The ${what} "${path}" is not a PEM file`);
  return text;
}

/** Reads a certificate PEM and checks that it parses. @throws AppError E_USAGE */
export function readCertificate(path: string, what = "certificate"): string {
  const pem = readPem(path, what);
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new AppError("E_USAGE", `The ${what} "${path}" is not a valid certificate: ${messageOf(error)}`);
  }
  return pem;
}

/**
 * `--tls-cert` and `--tls-key` together, or neither.
 * @throws AppError E_USAGE when only one is given or a file is unusable.
 */
export function serverTls(certPath: string | undefined, keyPath: string | undefined): ServerTls | null {
  if (certPath === undefined && keyPath === undefined) return null;
  if (certPath === undefined || keyPath === undefined) throw new AppError("E_USAGE", "--tls-cert and --tls-key go together");
  return { cert: readCertificate(certPath, "TLS certificate"), key: readPem(keyPath, "TLS key") };
}

/** SHA-256 fingerprint of a certificate, as `AA:BB:…` (what `openssl x509 -fingerprint -sha256` prints). */
export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Fetch/WebSocket TLS options that trust exactly one pinned certificate (a
 * worker's self-signed agent certificate), whatever address it is reached at.
 */
export function pinnedTls(certPem: string): { ca: string; checkServerIdentity: () => undefined } {
  // The chain must verify against the pin; the host name does not matter because
  // the pin came over the authenticated join socket, not from the network.
  return { ca: certPem, checkServerIdentity: () => undefined };
}
