/**
 * Self-signed certificates for 127.0.0.1 and localhost, made with openssl:
 * one recipe for every test that needs TLS.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Writes `NAME.pem` and `NAME-key.pem` into `dir` and returns their paths.
 * @throws Error with openssl's stderr when it fails (or is not installed)
 */
export function selfSignedCertFiles(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  return { cert, key };
}

/** The PEM texts of a fresh certificate, in a directory removed when the test process exits. @throws as selfSignedCertFiles */
export function selfSignedCertificate(name = "test"): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "mv-cert-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const files = selfSignedCertFiles(dir, name);
  return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") };
}
