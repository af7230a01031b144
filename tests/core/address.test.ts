import { describe, expect, test } from "bun:test";
import { parseMasterAddress } from "../../lib/core/address.ts";
import { AppError } from "../../lib/core/errors.ts";

describe("parseMasterAddress: one set of rules for the worker's and the client's --master", () => {
  test.each([
    ["localhost:1338", "http://localhost:1338", "localhost", 1338, false],
    [" 127.0.0.1:1337\n", "http://127.0.0.1:1337", "127.0.0.1", 1337, false],
    ["[::1]:1337", "http://[::1]:1337", "::1", 1337, false],
    ["my_master:1338", "http://my_master:1338", "my_master", 1338, false],
    ["http://localhost:1338/", "http://localhost:1338", "localhost", 1338, false],
    ["http://[::1]:1338", "http://[::1]:1338", "::1", 1338, false],
    ["https://m.example.com:8443", "https://m.example.com:8443", "m.example.com", 8443, true],
    ["HTTPS://Host:1//", "https://Host:1", "Host", 1, true],
    ["https://m.example.com", "https://m.example.com", "m.example.com", 443, true],
    ["http://m.example.com/multiverse/", "http://m.example.com/multiverse", "m.example.com", 80, false],
  ] as const)("%p → %p", (text, url, host, port, tls) => {
    expect(parseMasterAddress(text, "--master")).toEqual({ url, addr: { host, port }, tls });
  });

  test.each([
    ["h", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    [":1338", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["h:1/x", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["::1:1338", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["host name:1", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["ftp://h:1", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["http://", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["http://u:p@h:1", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["http://h:1?x", "expected HOST:PORT, or a URL such as https://HOST:PORT"],
    ["h:0", "port must be 1-65535"],
    ["http://h:99999", "port must be 1-65535"],
  ])("rejects %p", (text, why) => {
    let error: unknown;
    try {
      parseMasterAddress(text, "--master");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "E_USAGE", message: `Invalid --master "${text}": ${why}` });
  });
});
