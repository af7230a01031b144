/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with openssl
 * in a directory removed when the test process exits.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** @throws Error with openssl's stderr when it fails (or is not installed) */
export function selfSignedCertificate(name = "test"): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "mv-cert-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}
