/**
 * The cloud-init template language of environments: which expressions it
 * reads, the errors (with their line) for anything else, and rendering.
 */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { renderTemplate, templateRefs, type TemplateRef } from "../../lib/core/template.ts";

describe("templateRefs", () => {
  test.each([
    ["{{ instances.server.ipv4 }}", [{ kind: "instance", key: "server", field: "ipv4", line: 1, text: "{{ instances.server.ipv4 }}" }]],
    ["{{instances.agent-1.node}}", [{ kind: "instance", key: "agent-1", field: "node", line: 1, text: "{{instances.agent-1.node}}" }]],
    ["a\nb {{ env.HOME_DIR }}", [{ kind: "env", name: "HOME_DIR", line: 2, text: "{{ env.HOME_DIR }}" }]],
    ["\n\n\tx={{   secrets._token1 }}", [{ kind: "secret", name: "_token1", line: 3, text: "{{   secrets._token1 }}" }]],
    ["no expressions { here } }}", []],
  ] as [string, TemplateRef[]][])("%j", (text, refs) => {
    expect(templateRefs(text)).toEqual(refs);
  });

  test("several on a line and across lines, in order", () => {
    const refs = templateRefs("{{env.A}}{{ env.B }}\n\n{{ instances.s.ipv4 }} {{ secrets.C }}\n");
    expect(refs.map((r) => [r.kind, r.line])).toEqual([["env", 1], ["env", 1], ["instance", 3], ["secret", 3]]);
  });

  test.each([
    ["{{ foo }}", 'line 1: unknown reference "{{ foo }}"'],
    ["ok\n{{ instances.x.mac }}", 'line 2: unknown field "mac" in "{{ instances.x.mac }}": an instance gives ipv4 or node'],
    ["a\nb\necho {{ env.X", 'line 3: "{{ env.X": "{{" is not closed by "}}" on the same line'],
    ["{{ env.X\n}}", 'line 1: "{{ env.X": "{{" is not closed'],
    ["{{ }}", 'line 1: empty expression "{{ }}"'],
    ["{{ env.1X }}", 'line 1: unknown reference "{{ env.1X }}"'],
    ["{{ secrets.a-b }}", "line 1: unknown reference"],
    ["{{ instances.-x.ipv4 }}", "line 1: unknown reference"],
    ["{{ instances.x }}", "line 1: unknown reference"],
    ["{{ instances.server.ipv4 | default }}", "line 1: unknown reference"],
    ["{{ ENV.X }}", "line 1: unknown reference"],
  ])("%j is refused", (text, message) => {
    let error: unknown;
    try {
      templateRefs(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("E_USAGE");
    expect((error as AppError).message).toStartWith(message);
    expect((error as AppError).details?.["line"]).toBe(Number(/^line (\d+)/.exec(message)![1]));
  });

  test("the message names the forms there are", () => {
    expect(() => templateRefs("{{ v1.instance_id }}")).toThrow("expected {{ instances.NAME.ipv4 }}, {{ instances.NAME.node }}, {{ env.NAME }} or {{ secrets.NAME }}");
  });

  test("a long expression is quoted by a bounded prefix", () => {
    let message = "";
    try {
      templateRefs(`{{ ${"x".repeat(5000)} }}`);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.length).toBeLessThan(300);
  });
});

describe("renderTemplate", () => {
  const values: Record<string, string> = { "instance:server:ipv4": "10.0.0.5", "instance:server:node": "n1", "env:USER": "me", "secret:TOKEN": "s3cr{{t" };
  const resolve = (ref: TemplateRef) => {
    const key = ref.kind === "instance" ? `instance:${ref.key}:${ref.field}` : `${ref.kind}:${ref.name}`;
    return values[key] ?? "?";
  };

  test("replaces each expression and keeps the rest byte for byte", () => {
    const text = "#cloud-config\nruncmd:\n  - echo {{ instances.server.ipv4 }}@{{instances.server.node}} > /x\n  - echo {{env.USER}} {{ secrets.TOKEN }}\n";
    expect(renderTemplate(text, resolve)).toBe("#cloud-config\nruncmd:\n  - echo 10.0.0.5@n1 > /x\n  - echo me s3cr{{t\n");
  });

  test("values are inserted as they are, not read again as templates", () => {
    expect(renderTemplate("{{ secrets.TOKEN }}{{ env.USER }}", resolve)).toBe("s3cr{{tme");
  });

  test("a template without expressions is unchanged, and resolve is not called", () => {
    expect(renderTemplate("plain\n", () => { throw new Error("called"); })).toBe("plain\n");
  });

  test("refuses a malformed template before resolving anything", () => {
    const seen: TemplateRef[] = [];
    expect(() => renderTemplate("{{ env.A }}\n{{ bad }}", (ref) => { seen.push(ref); return ""; })).toThrow("line 2: unknown reference");
    expect(seen).toEqual([]);
  });
});
