/**
 * An environment's document, checked and expanded: counts, defaults, labels,
 * `after` and template references resolved, and the errors — each naming the
 * file, the line and the path — for everything it refuses.
 */
import { describe, expect, test } from "bun:test";
import { readYamlDocument } from "../../lib/cli/yaml-document.ts";
import { AppError } from "../../lib/core/errors.ts";
import { cloudInitFiles, parseEnvironmentDocument, withCloudInitFiles } from "../../lib/protocol/environment-document.ts";

const LAB = `name: lab
defaults: { image: "24.04", cpus: 1, memory: 1G, disk: 5G, labels: { team: infra } }
instances:
  - name: server
    labels: { role: server }
  - name: agent
    count: 2
    spread: true
    after: [server]
    network: bridged
    cloudInit: |
      #cloud-config
      runcmd:
        - echo "server at {{ instances.server.ipv4 }} {{ env.TOKEN }} {{ secrets.K3S }} {{ env.A }}" > /etc/lab-server
`;

/** Parses YAML text as the client does, with lines. */
function parse(text: string, options: { files?: "refuse" } = {}) {
  const doc = readYamlDocument(text, "lab.yaml");
  return parseEnvironmentDocument(doc.value, { lineOf: doc.lineOf, source: "lab.yaml", ...options });
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("E_USAGE");
    return (error as AppError).message;
  }
  throw new Error("no error");
}

describe("parseEnvironmentDocument", () => {
  test("expands counts, applies defaults and resolves what each waits for", () => {
    const env = parse(LAB);
    expect(env.name).toBe("lab");
    expect(env.envNames).toEqual(["A", "TOKEN"]);
    expect(env.secretNames).toEqual(["K3S"]);
    expect(env.members.map((m) => [m.key, m.name, m.entry, m.after])).toEqual([
      ["server", "lab-server", "server", []],
      ["agent-1", "lab-agent-1", "agent", ["server"]],
      ["agent-2", "lab-agent-2", "agent", ["server"]],
    ]);
    const [server, agent] = env.members;
    expect(server).toEqual({
      key: "server", name: "lab-server", entry: "server", image: "24.04", cpus: 1, memory: "1G", disk: "5G",
      spread: false, labels: { team: "infra", role: "server", "multiverse/env": "lab" }, after: [], networks: [],
    });
    expect(agent?.spread).toBe(true);
    expect(agent?.networks).toEqual(["bridged"]);
    expect(agent?.cloudInit).toStartWith("#cloud-config\n");
    expect(agent?.labels).toEqual({ team: "infra", "multiverse/env": "lab" });
  });

  test("an entry's own settings win over the defaults; sizes are canonical", () => {
    const env = parse(`name: e\ndefaults: { cpus: 1, memory: 1G, network: [bridged, "name=eth1,mode=manual"] }\ninstances:\n  - { name: a, cpus: 4, memory: 2048M, disk: 10G, node: n1.lan, image: "daily:25.10" }\n  - { name: b, network: [] }\n`);
    expect(env.members[0]).toMatchObject({ cpus: 4, memory: "2G", disk: "10G", node: "n1.lan", image: "daily:25.10", networks: ["bridged", "name=eth1,mode=manual"] });
    expect(env.members[1]).toMatchObject({ cpus: 1, memory: "1G", networks: [] });
    expect(env.members[1]?.image).toBeUndefined();
  });

  test("count: 1 still numbers the instance", () => {
    expect(parse("name: e\ninstances:\n  - { name: a, count: 1 }\n").members.map((m) => m.name)).toEqual(["e-a-1"]);
  });

  test("after: an entry's name stands for all its members; a member key for one; sorted, without repeats", () => {
    const env = parse(`name: e
instances:
  - { name: db }
  - { name: w, count: 3 }
  - name: lb
    after: [w, db, w-2]
    cloudInit: "{{ instances.db.ipv4 }} {{ instances.w-1.node }}"
`);
    expect(env.members.at(-1)?.after).toEqual(["db", "w-1", "w-2", "w-3"]);
  });

  test("a template reference alone makes the instance wait", () => {
    const env = parse(`name: e\ninstances:\n  - name: b\n    cloudInit: "x={{instances.a.ipv4}}"\n  - name: a\n`);
    expect(env.members[0]?.after).toEqual(["a"]);
  });

  test("the document as JSON, without lines: errors name the path only", () => {
    expect(errorOf(() => parseEnvironmentDocument({ name: "e", instances: [{ name: "a", cpus: 0 }] }))).toBe("instances[0].cpus: must be a whole number from 1 to 1024, not number 0");
  });

  test.each([
    ["an empty document", "", "lab.yaml: the document: is empty"],
    ["a list", "- a\n", "lab.yaml:1: the document: must be a mapping"],
    ["no name", "instances: [{ name: a }]\n", "lab.yaml:1: the document: needs a name"],
    ["a bad name", "name: 1lab\ninstances: [{ name: a }]\n", 'lab.yaml:1: name: Invalid instance name "1lab"'],
    ["no instances", "name: lab\n", "lab.yaml:1: the document: needs instances"],
    ["an empty list", "name: lab\ninstances: []\n", "lab.yaml:2: instances: must be a list of at least one instance"],
    ["an unknown top key", "name: lab\ninstance: []\n", 'lab.yaml:2: instance: unknown key "instance" (did you mean instances?): expected name, defaults, instances'],
    ["a key far from any", "name: lab\nmachines: []\n", 'lab.yaml:2: machines: unknown key "machines": expected name, defaults, instances'],
    ["a key in another spelling", "name: lab\ninstances:\n  - name: a\n    cloud-init: x\n", 'lab.yaml:4: instances[0].cloud-init: unknown key "cloud-init" (did you mean cloudInit?)'],
    ["an unknown entry key", "name: lab\ninstances:\n  - name: a\n    cpu: 2\n", 'lab.yaml:4: instances[0].cpu: unknown key "cpu" (did you mean cpus?): expected name, image, cpus, memory, disk, network, labels, count, node, spread, after, cloudInit, cloudInitFile'],
    ["a key defaults cannot hold", "name: lab\ndefaults:\n  count: 2\ninstances: [{ name: a }]\n", 'lab.yaml:3: defaults.count: unknown key "count"'],
    ["cpus 0", "name: lab\ninstances:\n  - name: a\n  - name: b\n    cpus: 0\n", "lab.yaml:5: instances[1].cpus: must be a whole number from 1 to 1024"],
    ["cpus as text", "name: lab\ninstances:\n  - { name: a, cpus: two }\n", 'lab.yaml:3: instances[0].cpus: must be a whole number from 1 to 1024, not the string "two"'],
    ["memory too small", "name: lab\ninstances:\n  - name: a\n    memory: 1M\n", 'lab.yaml:4: instances[0].memory: Invalid memory size "1M": the minimum is 128M'],
    ["a bad disk", "name: lab\ndefaults:\n  disk: lots\ninstances: [{ name: a }]\n", 'lab.yaml:3: defaults.disk: Invalid disk size "lots"'],
    ["an image as a number", "name: lab\ninstances:\n  - name: a\n    image: 24.10\n", 'lab.yaml:4: instances[0].image: must be text, not the number 24.1: put the release in quotes (image: "24.04")'],
    ["a bad image", "name: lab\ninstances:\n  - { name: a, image: 'No Such' }\n", 'lab.yaml:3: instances[0].image: Invalid image "No Such"'],
    ["a bad node", "name: lab\ninstances:\n  - name: a\n    node: -n\n", 'lab.yaml:4: instances[0].node: Invalid node name "-n"'],
    ["spread as text", "name: lab\ninstances:\n  - name: a\n    spread: yes\n", 'lab.yaml:4: instances[0].spread: must be true or false, not the string "yes"'],
    ["count 0", "name: lab\ninstances:\n  - name: a\n    count: 0\n", "lab.yaml:4: instances[0].count: must be a whole number from 1 to 100"],
    ["count 101", "name: lab\ninstances:\n  - name: a\n    count: 101\n", "lab.yaml:4: instances[0].count: must be a whole number from 1 to 100"],
    ["a bad label key", "name: lab\ninstances:\n  - name: a\n    labels:\n      -bad: x\n", 'lab.yaml:5: instances[0].labels["-bad"]: Invalid label key "-bad"'],
    ["a label value as a number", "name: lab\ninstances:\n  - name: a\n    labels:\n      tier: 1\n", 'lab.yaml:5: instances[0].labels.tier: a label\'s value must be a string, not number 1 (write it in quotes: "1")'],
    ["the reserved label", "name: lab\ndefaults:\n  labels: { multiverse/env: other }\ninstances: [{ name: a }]\n", 'lab.yaml:3: defaults.labels["multiverse/env"]: the label multiverse/env is set by multiverse'],
    ["a bad network mode", "name: lab\ninstances:\n  - name: a\n    network: name=eth1,mode=fast\n", "lab.yaml:4: instances[0].network: Invalid network spec \"name=eth1,mode=fast\": Bad network mode 'fast'"],
    ["a network without a name", "name: lab\ninstances:\n  - name: a\n    network:\n      - bridged\n      - mode=manual\n", "lab.yaml:6: instances[0].network[1]: Invalid network spec \"mode=manual\": Bad network definition, need at least a 'name' field"],
    ["a bad entry name", "name: lab\ninstances:\n  - name: a_b\n", 'lab.yaml:3: instances[0].name: Invalid instance name "a_b"'],
    ["an entry without a name", "name: lab\ninstances:\n  - cpus: 2\n", "lab.yaml:3: instances[0]: needs a name"],
    ["two entries of one name", "name: lab\ninstances:\n  - name: a\n  - name: b\n  - name: a\n", 'lab.yaml:5: instances[2].name: "a" is also the name of instances[0]'],
    ["two entries making one instance", "name: lab\ninstances:\n  - name: agent\n    count: 2\n  - name: agent-2\n", 'lab.yaml:5: instances[1].name: makes the instance "lab-agent-2", as instances[0] ("agent", count 2) does: rename one of them'],
    ["a name too long once prefixed", `name: ${"e".repeat(40)}\ninstances:\n  - name: ${"a".repeat(23)}\n`, `lab.yaml:3: instances[0].name: makes the instance "${"e".repeat(40)}-${"a".repeat(23)}", 64 characters long`],
    ["a counted name too long", `name: ${"e".repeat(40)}\ninstances:\n  - name: ${"a".repeat(20)}\n    count: 10\n`, "lab.yaml:3: instances[0].name: makes the instance"],
    ["an unknown after", "name: lab\ninstances:\n  - name: server\n  - name: agent\n    after:\n      - srv\n", 'lab.yaml:6: instances[1].after[0]: "srv" names no instance of the environment (its instances: server, agent)'],
    ["after itself", "name: lab\ninstances:\n  - name: a\n    after: [a]\n", 'lab.yaml:4: instances[0].after[0]: "a" is this entry itself'],
    ["after a member of itself", "name: lab\ninstances:\n  - name: a\n    count: 2\n    after: [a-1]\n", 'lab.yaml:5: instances[0].after[0]: "a-1" is this entry itself'],
    ["a cycle", "name: lab\ninstances:\n  - name: a\n    after: [c]\n  - name: b\n    after: [a]\n  - name: c\n    cloudInit: '{{ instances.b.node }}'\n", "lab.yaml:4: instances[0].after: the instances wait for each other in a cycle: a → c → b → a"],
    ["both cloudInit and cloudInitFile", "name: lab\ninstances:\n  - name: a\n    cloudInit: x\n    cloudInitFile: a.yaml\n", "lab.yaml:5: instances[0].cloudInitFile: give cloudInit (the text) or cloudInitFile (a file to read it from), not both"],
    ["cloudInit as a mapping", "name: lab\ninstances:\n  - name: a\n    cloudInit:\n      runcmd: []\n", "lab.yaml:4: instances[0].cloudInit: must be the text of a cloud-init document (a YAML block: cloudInit: |), not a mapping"],
  ])("%s is refused with its line", (_what, text, message) => {
    expect(errorOf(() => parse(text))).toStartWith(message);
  });

  test.each([
    ["an unknown expression", "{{ foo }}", 'lab.yaml:5: instances[0].cloudInit line 3: unknown reference "{{ foo }}"'],
    ["an unknown field", "{{ instances.server.mac }}", 'lab.yaml:5: instances[0].cloudInit line 3: unknown field "mac"'],
    ["an unknown instance", "{{ instances.srv.ipv4 }}", 'lab.yaml:5: instances[0].cloudInit line 3: "{{ instances.srv.ipv4 }}" names no instance of the environment (its instances: agent-1, agent-2, server)'],
    ["a counted entry's bare name", "{{ instances.agent.ipv4 }}", 'lab.yaml:5: instances[0].cloudInit line 3: "{{ instances.agent.ipv4 }}": "agent" has a count, so name one of its instances: agent-1 … agent-2'],
    ["its own entry", "{{ instances.agent-2.ipv4 }}", 'lab.yaml:5: instances[0].cloudInit line 3: "{{ instances.agent-2.ipv4 }}" names an instance of this same entry'],
  ])("a template with %s is refused with the line of cloudInit and the line inside it", (_what, expression, message) => {
    const text = `name: lab\ninstances:\n  - name: agent\n    count: 2\n    cloudInit: |\n      #cloud-config\n      runcmd:\n        - echo ${expression}\n  - name: server\n`;
    expect(errorOf(() => parse(text))).toStartWith(message);
  });

  test("an instance naming itself in its cloud-init", () => {
    expect(errorOf(() => parse("name: lab\ninstances:\n  - name: a\n    cloudInit: '{{ instances.a.ipv4 }}'\n"))).toContain('"{{ instances.a.ipv4 }}" names this instance itself');
  });

  test("the labels an instance ends with are bounded, the defaults' and the environment's included", () => {
    const labels = (from: number) => `{ ${Array.from({ length: 32 }, (_, i) => `k${from + i}: v`).join(", ")} }`;
    const text = `name: lab\ndefaults:\n  labels: ${labels(0)}\ninstances:\n  - name: a\n    labels: ${labels(32)}\n`;
    expect(errorOf(() => parse(text))).toBe(`lab.yaml:6: instances[0].labels: "lab-a" would carry 65 labels with the defaults' and multiverse/env; at most 64`);
  });

  test("at most 200 instances", () => {
    const entries = Array.from({ length: 3 }, (_, i) => `  - { name: e${i}, count: 70 }`).join("\n");
    expect(errorOf(() => parse(`name: lab\ninstances:\n${entries}\n`))).toBe("lab.yaml:2: instances: makes 210 instances; an environment has at most 200");
    expect(parse(`name: lab\ninstances:\n  - { name: a, count: 100 }\n  - { name: b, count: 100 }\n`).members).toHaveLength(200);
  });

  test("a cloud-init over the launch limit is refused", () => {
    expect(errorOf(() => parseEnvironmentDocument({ name: "e", instances: [{ name: "a", cloudInit: "x".repeat(300 * 1024) }] }))).toStartWith("instances[0].cloudInit: is 307200 bytes; a cloud-init document is at most 262144");
  });

  test("cloudInitFile: checked but not read by default, refused where the master reads the document", () => {
    const text = "name: lab\ninstances:\n  - name: a\n    cloudInitFile: a.yaml\n";
    expect(parse(text).members[0]?.cloudInit).toBeUndefined();
    expect(errorOf(() => parse(text, { files: "refuse" }))).toBe("lab.yaml:4: instances[0].cloudInitFile: cloudInitFile cannot be read by the master: the client sends the file's content as cloudInit");
  });
});

describe("cloudInitFiles and withCloudInitFiles", () => {
  const raw = readYamlDocument("name: lab\ninstances:\n  - name: a\n    cloudInitFile: a.yaml\n  - name: b\n  - name: c\n    cloudInitFile: sub/c.yaml\n", "lab.yaml").value;

  test("lists each entry's file with its index", () => {
    expect(cloudInitFiles(raw)).toEqual([{ index: 0, path: "a.yaml" }, { index: 2, path: "sub/c.yaml" }]);
    expect(cloudInitFiles(null)).toEqual([]);
    expect(cloudInitFiles({ instances: "x" })).toEqual([]);
  });

  test("puts each file's text in as cloudInit, leaving the value given unchanged", () => {
    const before = JSON.stringify(raw);
    const replaced = withCloudInitFiles(raw, new Map([[0, "#cloud-config\n# {{ env.X }}\n"], [2, "#cloud-config\n"]]));
    expect(JSON.stringify(raw)).toBe(before);
    const env = parseEnvironmentDocument(replaced, { files: "refuse" });
    expect(env.members.map((m) => m.cloudInit ?? null)).toEqual(["#cloud-config\n# {{ env.X }}\n", null, "#cloud-config\n"]);
    expect(env.envNames).toEqual(["X"]);
  });

  test("an entry giving both keeps both, for the parser to refuse", () => {
    const both = { name: "e", instances: [{ name: "a", cloudInit: "x", cloudInitFile: "a.yaml" }] };
    expect(withCloudInitFiles(both, new Map([[0, "y"]]))).toEqual(both);
  });
});
