import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import {
  formatSize,
  parseInstanceRef,
  parseSize,
  validateCpus,
  validateImage,
  validateInstanceName,
  minimumsFor,
  MINIMUMS_1_16,
  MINIMUMS_1_17,
  validateLaunchSizes,
  validateNetworkSpec,
  validateNodeName,
  validateTimeoutSeconds,
} from "../../lib/core/validate.ts";

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** Runs `fn` and returns the AppError it throws, failing the test otherwise. */
function usageError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    if (!(error instanceof AppError)) throw error;
    expect(error.code).toBe("E_USAGE");
    return error;
  }
  throw new Error("expected an E_USAGE AppError, got none");
}

describe("validateInstanceName (CONTRACT §2.1)", () => {
  test.each(["foo", "f", "foo1", "foo-bar", "Foo", "FOO-Bar-9", "a-b-c-d", "x".repeat(63)])("accepts %p", (name) => {
    expect(validateInstanceName(name)).toBe(name);
  });

  test.each(["1foo", "1", "foo_bar", "foo!", "foo-", "", "-foo", "foo bar", "fo.o", "föo", "foo\n", " foo"])(
    "rejects %p quoting it",
    (name) => {
      const error = usageError(() => validateInstanceName(name));
      expect(error.message).toBe(
        `Invalid instance name ${JSON.stringify(name)}: names must consist of letters, numbers, or hyphens, ` +
          "must start with a letter, and must end with an alphanumeric character",
      );
    },
  );

  test("rejects names over 63 characters", () => {
    const name = "a".repeat(64);
    expect(usageError(() => validateInstanceName(name)).message).toBe(
      `Invalid instance name "${name}": names must be at most 63 characters long`,
    );
  });

  test.each([[undefined], [null], [42], [{}], [["web"]]])("rejects the non-string %p", (value: unknown) => {
    expect(usageError(() => validateInstanceName(value)).message).toMatch(/^Invalid instance name .*: expected a string$/);
  });
});

describe("validateNodeName", () => {
  test.each(["node1", "n", "1", "host.example.com", "my_host-2", "A9", "x".repeat(63)])("accepts %p", (name) => {
    expect(validateNodeName(name)).toBe(name);
  });

  test.each(["", "-node", "node-", "_node", "node.", ".node", "no de", "node@x", "nöde", "node/1", "x".repeat(64)])(
    "rejects %p",
    (name) => {
      expect(usageError(() => validateNodeName(name)).message).toStartWith(`Invalid node name ${JSON.stringify(name)}:`);
    },
  );
});

describe("parseInstanceRef", () => {
  test.each([
    ["web", { name: "web" }],
    ["web@node1", { name: "web", node: "node1" }],
    ["w-1@host.example.com", { name: "w-1", node: "host.example.com" }],
  ] as const)("%p", (text, expected) => {
    expect(parseInstanceRef(text)).toEqual(expected);
  });

  test.each([
    ["web@a@b", /at most one "@"/],
    ["@node", /both NAME and NODE/],
    ["web@", /both NAME and NODE/],
    ["@", /both NAME and NODE/],
    ["", /Invalid instance name ""/],
    ["1web@node", /Invalid instance name "1web"/],
    ["web@-node", /Invalid node name "-node"/],
  ] as const)("rejects %p", (text, message) => {
    expect(usageError(() => parseInstanceRef(text)).message).toMatch(message);
  });
});

describe("parseSize (CONTRACT §3.1)", () => {
  test.each([
    ["1024", 1024],
    ["1234B", 1234],
    ["512M", 512 * MiB],
    ["512m", 512 * MiB],
    ["512MB", 512 * MiB],
    ["512MiB", 512 * MiB],
    ["512mib", 512 * MiB],
    ["1G", GiB],
    ["1.5G", 1536 * MiB],
    ["0.5G", 512 * MiB],
    ["2g", 2 * GiB],
    ["42mb", 42 * MiB],
    ["3.14K", 3215],
    ["1k", KiB],
    ["1KiB", KiB],
    ["0", 0],
    ["7b", 7],
    ["  512M  ", 512 * MiB],
    ["\t1G\n", GiB],
    ["1.999999K", 2047],
  ] as const)("%p = %p bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(["1.5", "256.M", ".5g", "42.", "4.2B", "-5MiB", "1T", "321BB", "54Mi", "4M2", "", "   ", "1 G", "0x10", "1e3", "+5M", "5 MiB", "١٢"])(
    "rejects %p",
    (text) => {
      expect(usageError(() => parseSize(text)).message).toBe(
        `Invalid size ${JSON.stringify(text)}: need a non-negative integer (in base 10) or a decimal followed by K, M, or G ` +
          "(e.g. 1234B, 42MiB, 0.5G)",
      );
    },
  );

  test("rejects sizes beyond 2^53 bytes", () => {
    expect(usageError(() => parseSize("99999999999G")).message).toBe('Invalid size "99999999999G": too large');
  });
});

describe("formatSize", () => {
  test.each([
    [GiB, "1G"],
    [1536 * MiB, "1536M"],
    [512 * MiB, "512M"],
    [KiB, "1K"],
    [3215, "3215"],
    [0, "0"],
    [5 * GiB, "5G"],
  ] as const)("%p → %p", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(parseSize(text)).toBe(bytes);
  });
});

describe("validateLaunchSizes (1.16 minimums: memory 128M, disk 512M)", () => {
  test.each([
    [{}, {}],
    [{ memory: "128M" }, { memory: "128M" }],
    [{ memory: "134217728" }, { memory: "128M" }],
    [{ memory: "1.5G", disk: "0.5G" }, { memory: "1536M", disk: "512M" }],
    [{ disk: "512MiB" }, { disk: "512M" }],
    [{ memory: " 2g ", disk: "20GB" }, { memory: "2G", disk: "20G" }],
  ] as const)("%p → %p", (sizes, expected) => {
    expect(validateLaunchSizes(sizes)).toEqual(expected);
  });

  test.each([
    [{ memory: "100M" }, 'Invalid memory size "100M": the minimum is 128M'],
    [{ memory: "134217727" }, 'Invalid memory size "134217727": the minimum is 128M'],
    [{ disk: "300M" }, 'Invalid disk size "300M": the minimum is 512M'],
    [{ disk: "511.9M" }, 'Invalid disk size "511.9M": the minimum is 512M'],
    [{ memory: "1G", disk: "0" }, 'Invalid disk size "0": the minimum is 512M'],
  ] as const)("rejects %p", (sizes, message) => {
    expect(usageError(() => validateLaunchSizes(sizes)).message).toBe(message);
  });

  test("names the field of a malformed size", () => {
    expect(usageError(() => validateLaunchSizes({ memory: "1T" })).message).toStartWith('Invalid memory size "1T": need');
    expect(usageError(() => validateLaunchSizes({ disk: 5 })).message).toBe("Invalid disk size 5: expected a string");
  });
});

describe("size minimums follow the Multipass version (CONTRACT §3.1)", () => {
  test.each([
    ["1.14.1", MINIMUMS_1_16],
    ["1.16.3", MINIMUMS_1_16],
    ["1.16.3+mac", MINIMUMS_1_16],
    ["1.17.0", MINIMUMS_1_17],
    ["1.17.0-dev.3854+g9b0af2ec3", MINIMUMS_1_17],
    ["1.18.2+win", MINIMUMS_1_17],
    ["2.0.0", MINIMUMS_1_17],
    [null, MINIMUMS_1_16],
    ["garbage", MINIMUMS_1_16],
    ["1.170", MINIMUMS_1_17],
  ] as const)("%p → %p", (version, minimums) => {
    expect(minimumsFor(version)).toEqual(minimums);
  });

  test("1.16: 128M memory, 512M disk; 1.17 and newer: 512M, 1G", () => {
    expect(MINIMUMS_1_16).toEqual({ memory: 128 * MiB, disk: 512 * MiB });
    expect(MINIMUMS_1_17).toEqual({ memory: 512 * MiB, disk: GiB });
  });

  test("a node's own version: accepted on 1.16, refused on 1.17 with the minimum and the version named", () => {
    expect(validateLaunchSizes({ memory: "256M", disk: "768M" }, "1.16.3")).toEqual({ memory: "256M", disk: "768M" });
    expect(usageError(() => validateLaunchSizes({ memory: "256M" }, "1.17.0")).message).toBe('Invalid memory size "256M": the minimum is 512M on Multipass 1.17.0');
    expect(usageError(() => validateLaunchSizes({ memory: "1G", disk: "768M" }, "1.17.0-dev.1")).message).toBe('Invalid disk size "768M": the minimum is 1G on Multipass 1.17.0-dev.1');
    expect(validateLaunchSizes({ memory: "512M", disk: "1G" }, "1.17.0")).toEqual({ memory: "512M", disk: "1G" });
  });
});

describe("validateCpus (CONTRACT §3.2)", () => {
  test.each([
    [1, 1],
    [2, 2],
    ["2", 2],
    ["16", 16],
    ["02", 2],
    [1024, 1024],
  ] as const)("%p → %p", (value, cpus) => {
    expect(validateCpus(value)).toBe(cpus);
  });

  test.each(["2.5", "0", "-1", "1e3", " 2x", " 2", "2 ", "", "two", 0, -1, 2.5, Number.NaN, Infinity, null, undefined, true])(
    "rejects %p",
    (value) => {
      expect(usageError(() => validateCpus(value)).message).toMatch(/^Invalid CPU count .*: need a positive integer$/);
    },
  );

  test("rejects more than 1024", () => {
    expect(usageError(() => validateCpus("1025")).message).toBe('Invalid CPU count "1025": the maximum is 1024');
  });
});

describe("validateTimeoutSeconds", () => {
  test.each([
    [1, 1],
    ["300", 300],
    [86_400, 86_400],
  ] as const)("%p → %p", (value, seconds) => {
    expect(validateTimeoutSeconds(value)).toBe(seconds);
  });

  test.each([0, -5, 1.5, "1.5", "abc", "", Number.NaN, null, "1e3"])("rejects %p", (value) => {
    expect(usageError(() => validateTimeoutSeconds(value)).message).toMatch(/^Invalid timeout .*: need a positive integer$/);
  });

  test("rejects more than a day", () => {
    expect(usageError(() => validateTimeoutSeconds(86_401)).message).toBe("Invalid timeout 86401: the maximum is 86400");
  });
});

describe("validateImage (CONTRACT §4.3)", () => {
  test.each([
    "24.04",
    "noble",
    "lts",
    "daily:25.10",
    "release:24.04",
    "22.04",
    "core24",
    "1797c5c8",
    "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
    "http://example.com/image.img",
    "file:///home/alice/images/custom.img",
  ])("accepts %p", (image) => {
    expect(validateImage(image)).toBe(image);
  });

  test.each([
    ["", /need a release or alias/],
    ["a:b:c", /at most one remote prefix/],
    ["-noble", /need a release or alias/],
    ["--help", /need a release or alias/],
    ["daily:", /need a release or alias/],
    [":noble", /need a release or alias/],
    ["Noble", /need a release or alias/],
    ["noble jammy", /whitespace or control characters/],
    ["noble\n", /whitespace or control characters/],
    ["https://exa mple.com/x.img", /whitespace or control characters/],
    ["ftp://example.com/x.img", /need a release or alias/],
    ["https://", /not a valid URL/],
    ["http://[::1", /not a valid URL/],
    ["noble;rm", /need a release or alias/],
  ] as const)("rejects %p", (image, message) => {
    expect(usageError(() => validateImage(image)).message).toMatch(message);
  });

  test("rejects images over 2048 characters", () => {
    expect(usageError(() => validateImage(`https://example.com/${"a".repeat(2048)}`)).message).toMatch(
      /at most 2048 characters/,
    );
  });
});

describe("validateNetworkSpec (CONTRACT §4.3, Multipass's client-side checks)", () => {
  test.each([
    "bridged",
    "eth1",
    "Ethernet 2",
    "name=eth1",
    "name=eth1,mode=manual",
    "name=eth1,mode=AUTO,mac=52:54:00:12:34:56",
    "NAME=br0,Mode=Manual,MAC=52:54:00:AB:cd:EF",
    "name=br0,,mode=auto,",
    "mode=manual,name=br0",
    "name=",
  ])("accepts %p unchanged", (spec) => {
    expect(validateNetworkSpec(spec)).toBe(spec);
  });

  test.each([
    ["name=eth1,mode=bridge", `Invalid network spec "name=eth1,mode=bridge": Bad network mode 'bridge', need 'auto' or 'manual'`],
    ["name=eth1,mac=52:54:00:12:34", `Invalid network spec "name=eth1,mac=52:54:00:12:34": Invalid MAC address: 52:54:00:12:34`],
    ["name=eth1,mac=52-54-00-12-34-56", `Invalid network spec "name=eth1,mac=52-54-00-12-34-56": Invalid MAC address: 52-54-00-12-34-56`],
    ["name=eth1,Speed=10", `Invalid network spec "name=eth1,Speed=10": Bad network field: speed`],
    ["mode=manual", `Invalid network spec "mode=manual": Bad network definition, need at least a 'name' field`],
    ["", `Invalid network spec "": Bad network definition, need at least a 'name' field`],
    [",,", `Invalid network spec ",,": Bad network definition, need at least a 'name' field`],
    ["eth1,mode=manual", `Invalid network spec "eth1,mode=manual": Bad network field definition: eth1`],
    ["name=a=b", `Invalid network spec "name=a=b": Bad network field definition: name=a=b`],
  ] as const)("rejects %p with Multipass's message", (spec, message) => {
    expect(usageError(() => validateNetworkSpec(spec)).message).toBe(message);
  });

  test.each([
    [42, /expected a string/],
    [null, /expected a string/],
    ["br0\n", /control characters/],
    ["a".repeat(257), /at most 256 characters/],
  ] as const)("rejects %p", (spec, message) => {
    expect(usageError(() => validateNetworkSpec(spec)).message).toMatch(message);
  });

  test("quotes a bounded prefix of a long spec", () => {
    const message = usageError(() => validateNetworkSpec(`mode=${"x".repeat(200)}`)).message;
    expect(message.length).toBeLessThan(250);
  });
});
