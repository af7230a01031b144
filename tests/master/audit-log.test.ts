import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sanitizeParams } from "../../lib/master/audit-sanitize.ts";
import { parseAuditEvent, parseEventsSince, type AuditEvent } from "../../lib/protocol/audit.ts";
import { createAuditLog } from "../../lib/master/audit-log.ts";
import { AppError } from "../../lib/core/errors.ts";
import { clock, done, requested, T0 } from "../support/audit-records.ts";

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "mv-audit-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));


function storageFailure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    if (error instanceof AppError) return error;
  }
  throw new Error("expected a failure");
}

describe("audit log", () => {
  test("appends records with increasing ids and lists them back in order", () => {
    const path = join(dir(), "data", "events.jsonl");
    const log = createAuditLog({ path, now: clock() });
    expect(log.list()).toEqual([]);
    const a = log.append(requested("r1"));
    const b = log.append(done("r1"));
    expect(a).toMatchObject({ id: 1, time: "2024-05-01T12:00:00.000Z", phase: "requested", params: { name: "vm1" } });
    expect(b).toMatchObject({ id: 2, time: "2024-05-01T12:01:00.000Z", result: "error", error: { code: "E_MULTIPASS", message: "boom" } });
    expect(log.list()).toEqual([a, b]);
    const lines = readFileSync(path, "utf8").split("\n");
    expect(lines).toHaveLength(3);
    expect(parseAuditEvent(JSON.parse(lines[0]!))).toEqual(a);
  });

  test("the file is 0600 in a 0700 directory", () => {
    const path = join(dir(), "data", "events.jsonl");
    createAuditLog({ path }).append(requested("r1"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
  });

  test("ids continue after reopening", () => {
    const path = join(dir(), "events.jsonl");
    const first = createAuditLog({ path, now: clock() });
    first.append(requested("r1"));
    first.append(done("r1"));
    const second = createAuditLog({ path, now: clock(T0 + 3_600_000) });
    expect(second.list().map((e) => e.id)).toEqual([1, 2]);
    expect(second.append(requested("r2")).id).toBe(3);
    expect(createAuditLog({ path }).list().map((e) => e.requestId)).toEqual(["r1", "r1", "r2"]);
  });

  test("since by time includes records at that time; since by id takes greater ids", () => {
    const log = createAuditLog({ path: join(dir(), "events.jsonl"), now: clock() });
    for (let i = 1; i <= 5; i++) log.append(requested(`r${i}`));
    expect(log.list({ since: "2024-05-01T12:02:00Z" }).map((e) => e.id)).toEqual([3, 4, 5]);
    expect(log.list({ since: "2024-05-01T14:02:00+02:00" }).map((e) => e.id)).toEqual([3, 4, 5]);
    expect(log.list({ since: "2024-05-01" }).map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(log.list({ since: "3" }).map((e) => e.id)).toEqual([4, 5]);
    expect(log.list({ since: "5" })).toEqual([]);
    expect(log.list({ since: "0" })).toHaveLength(5);
  });

  test("limit keeps the newest matches, in id order", () => {
    const log = createAuditLog({ path: join(dir(), "events.jsonl"), now: clock() });
    for (let i = 1; i <= 5; i++) log.append(requested(`r${i}`));
    expect(log.list({ limit: 2 }).map((e) => e.id)).toEqual([4, 5]);
    expect(log.list({ since: "1", limit: 3 }).map((e) => e.id)).toEqual([3, 4, 5]);
    expect(log.list({ since: "2024-05-01T12:00:00Z", limit: 1 }).map((e) => e.id)).toEqual([5]);
  });

  test("a clock that stepped back does not hide later records from a time filter", () => {
    const times = [T0, T0 + 120_000, T0 + 60_000];
    const log = createAuditLog({ path: join(dir(), "events.jsonl"), now: () => times.shift()! });
    for (let i = 1; i <= 3; i++) log.append(requested(`r${i}`));
    expect(log.list({ since: "2024-05-01T12:01:00Z" }).map((e) => e.id)).toEqual([2, 3]);
  });

  test("bad since and limit are usage errors", () => {
    const log = createAuditLog({ path: join(dir(), "events.jsonl") });
    for (const since of ["", "yesterday", "1h", "-1", "2024-05-01T12:00:00", "2024-13-45T00:00:00Z", "99999999999999999999"]) {
      expect(() => log.list({ since })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    }
    for (const limit of [0, -1, 10_001, 1.5, Number.NaN]) {
      expect(() => log.list({ limit })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    }
    expect(parseEventsSince("42")).toEqual({ kind: "id", id: 42 });
  });

  test("a torn last line and garbage lines are skipped, never renumbered", () => {
    const path = join(dir(), "events.jsonl");
    const first = createAuditLog({ path, now: clock() });
    first.append(requested("r1"));
    first.append(done("r1"));
    appendFileSync(path, "not json\n{\"id\":9}\n");
    first.append(requested("r2"));
    appendFileSync(path, '{"id":4,"time":"2024-05-01T1');
    const warnings: string[] = [];
    const second = createAuditLog({ path, now: clock(), warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([`Audit log "${path}": skipped 3 line(s) that could not be read`]);
    expect(second.list().map((e) => e.id)).toEqual([1, 2, 3]);
    const next = second.append(requested("r3"));
    expect(next.id).toBe(4);
    // The new record starts on its own line instead of being glued to the torn one.
    expect(second.list().map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(createAuditLog({ path }).list({ since: "3" })).toEqual([next]);
  });

  test("a complete last line without its newline still counts", () => {
    const path = join(dir(), "events.jsonl");
    createAuditLog({ path, now: clock() }).append(requested("r1"));
    writeFileSync(path, readFileSync(path, "utf8").trimEnd());
    const log = createAuditLog({ path, now: clock() });
    expect(log.append(requested("r2")).id).toBe(2);
    expect(createAuditLog({ path }).list().map((e) => e.id)).toEqual([1, 2]);
  });

  test("a path under a regular file fails with E_STORAGE and consumes no id", () => {
    const d = dir();
    writeFileSync(join(d, "not-a-dir"), "x");
    const log = createAuditLog({ path: join(d, "not-a-dir", "events.jsonl") });
    const e = storageFailure(() => log.append(requested("r1")));
    expect(e.code).toBe("E_STORAGE");
    expect(e.status).toBe(503);
    expect(e.message).toContain(`"${join(d, "not-a-dir", "events.jsonl")}"`);
    expect(log.list()).toEqual([]);
    const deeper = createAuditLog({ path: join(d, "not-a-dir", "sub", "events.jsonl") });
    expect(storageFailure(() => deeper.append(requested("r1"))).message).toContain("not a directory (ENOTDIR)");
  });

  test("a full disk fails with E_STORAGE, says so, and consumes no id", () => {
    const log = createAuditLog({ path: "/dev/full" });
    const e = storageFailure(() => log.append(requested("r1")));
    expect(e.code).toBe("E_STORAGE");
    expect(e.message).toBe('The master cannot write its audit log "/dev/full": the disk is full (ENOSPC)');
    expect(log.list()).toEqual([]);
    expect(statSync("/dev/full").mode & 0o777).toBe(0o666);
  });

  test("ids are not consumed by a failure: the next good write takes the same id", () => {
    const path = join(dir(), "events.jsonl");
    const log = createAuditLog({ path, now: clock() });
    log.append(requested("r1"));
    const kept = readFileSync(path);
    rmSync(path);
    mkdirSync(path);
    expect(storageFailure(() => log.append(requested("r2"))).message).toContain("it is a directory (EISDIR)");
    rmSync(path, { recursive: true });
    writeFileSync(path, kept);
    expect(log.append(requested("r2")).id).toBe(2);
    expect(createAuditLog({ path }).list().map((e) => e.id)).toEqual([1, 2]);
  });

  test("a file that cannot be read on open is E_STORAGE, not a fresh numbering", () => {
    expect(() => createAuditLog({ path: dir() })).toThrow(expect.objectContaining({ code: "E_STORAGE" }));
  });
});

describe("calls left unfinished", () => {
  test("the requested records without a done when the log is opened, in id order; not the calls of this master", () => {
    const path = join(dir(), "events.jsonl");
    const first = createAuditLog({ path, now: clock() });
    first.append(requested("ended"));
    first.append(requested("killed-1", "launch"));
    first.append(done("ended"));
    first.append(requested("killed-2", "exec"));
    expect(first.interrupted()).toEqual([]);

    const second = createAuditLog({ path, now: clock() });
    expect(second.interrupted().map((e) => [e.id, e.requestId, e.action, e.phase])).toEqual([
      [2, "killed-1", "launch", "requested"],
      [4, "killed-2", "exec", "requested"],
    ]);
    second.append(requested("new"));
    second.append(done("killed-1"));
    expect(second.interrupted().map((e) => e.requestId)).toEqual(["killed-1", "killed-2"]);
    expect(createAuditLog({ path }).interrupted().map((e) => e.requestId)).toEqual(["killed-2", "new"]);
  });
});

describe("sanitizeParams", () => {
  test("drops secret-looking keys, redacts tokens, hashes long strings", () => {
    const cloudInit = "#cloud-config\n" + "x".repeat(1000);
    const clean = sanitizeParams({
      name: "vm1",
      cpus: 2,
      token: "abc",
      apiToken: "abc",
      password: "hunter2",
      clientSecret: "s",
      sshKey: "mva_" + "a".repeat(43),
      cloudInit,
      mounts: [{ source: "/home", target: "/mnt", authorization: "x" }],
      nested: { deep: { value: null, ok: true } },
    });
    expect(clean).toEqual({
      name: "vm1",
      cpus: 2,
      sshKey: "[redacted]",
      cloudInit: { bytes: Buffer.byteLength(cloudInit), sha256: new Bun.CryptoHasher("sha256").update(cloudInit).digest("hex") },
      mounts: [{ source: "/home", target: "/mnt" }],
      nested: { deep: { value: null, ok: true } },
    });
    expect(sanitizeParams(clean)).toEqual(clean);
  });

  test("a cloud-init document is only ever its size and hash, however short; URL credentials are redacted", () => {
    const short = "#cloud-config\nchpasswd: { list: 'ubuntu:hunter2' }\n";
    const clean = sanitizeParams({ cloudInit: short, image: "https://alice:s3cret@images.example.com/noble.img", other: "https://images.example.com/x.img" });
    expect(clean).toEqual({
      cloudInit: { bytes: Buffer.byteLength(short), sha256: new Bun.CryptoHasher("sha256").update(short).digest("hex") },
      image: "https://[redacted]@images.example.com/noble.img",
      other: "https://images.example.com/x.img",
    });
    expect(JSON.stringify(clean)).not.toContain("hunter2");
    expect(JSON.stringify(clean)).not.toContain("s3cret");
    expect(sanitizeParams(clean)).toEqual(clean);
  });

  test("append sanitizes whatever it is given", () => {
    const log = createAuditLog({ path: join(dir(), "events.jsonl") });
    const event = log.append({ ...requested("r1"), params: { name: "vm1", password: "hunter2" } });
    expect(event.params).toEqual({ name: "vm1" });
    expect(readFileSync(join(dirs[0]!, "events.jsonl"), "utf8")).not.toContain("hunter2");
  });
});

describe("onAppend (the watch stream's audit events)", () => {
  test("hears every record appended after it, once written, until removed; a listener that throws fails nothing", () => {
    const log = createAuditLog({ path: join(dir(), "events.jsonl"), now: clock() });
    log.append(requested("r0"));
    const heard: AuditEvent[] = [];
    log.onAppend(() => {
      throw new Error("boom");
    });
    const off = log.onAppend((event) => heard.push(event));
    const first = log.append(requested("r1"));
    const second = log.append(done("r1"));
    expect(heard).toEqual([first, second]);
    expect(log.list().map((e) => e.id)).toEqual([1, 2, 3]);
    off();
    log.append(requested("r2"));
    expect(heard).toHaveLength(2);
  });
});
