/**
 * A network namespace joined to this one by a veth link, made by the test
 * itself, whose link can be taken down and brought back: a Wi-Fi hop or a
 * laptop lid, for real TCP connections.
 */

/** Why network namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  if (!Bun.which("ip")) return "no ip command (iproute2)";
  const probe = Bun.spawnSync(["ip", "netns", "add", `mv-probe-${process.pid}`]);
  if (probe.exitCode !== 0) return `ip netns add failed: ${probe.stderr.toString().trim()}`;
  Bun.spawnSync(["ip", "netns", "del", `mv-probe-${process.pid}`]);
  return null;
}

export interface VethNamespace {
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  /** This side's address: what a process in the namespace connects to. */
  hostIp: string;
  /** The namespace side's address. */
  nsIp: string;
  /** `ip netns exec NS` + argv. */
  exec(argv: string[]): string[];
  /** Takes the link down (packets are lost, connections stay open), or brings it back. */
  link(up: boolean): void;
  remove(): void;
}

function sh(...argv: string[]): void {
  const r = Bun.spawnSync(argv);
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString().trim()}`);
}

/** Makes a namespace with a /30 veth link to this one. `tag` keeps parallel tests apart. */
export function makeVethNamespace(tag: string): VethNamespace {
  // Its own /30 and interface names per tag: test files run in one process, one after the other.
  const id = ((process.pid + [...tag].reduce((sum, c) => sum + c.charCodeAt(0), 0)) % 200) + 20;
  const ns = `mv${tag}-${process.pid}`;
  const hostSide = `mvh${tag}${id}`.slice(0, 15);
  const nsSide = `mvn${tag}${id}`.slice(0, 15);
  const net = `10.252.${id}`;
  const remove = () => {
    Bun.spawnSync(["ip", "link", "del", hostSide]);
    Bun.spawnSync(["ip", "netns", "del", ns]);
  };
  remove();
  try {
    sh("ip", "netns", "add", ns);
    sh("ip", "link", "add", hostSide, "type", "veth", "peer", "name", nsSide);
    sh("ip", "link", "set", nsSide, "netns", ns);
    sh("ip", "addr", "add", `${net}.1/30`, "dev", hostSide);
    sh("ip", "link", "set", hostSide, "up");
    sh("ip", "netns", "exec", ns, "ip", "addr", "add", `${net}.2/30`, "dev", nsSide);
    sh("ip", "netns", "exec", ns, "ip", "link", "set", nsSide, "up");
    sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
  } catch (error) {
    remove();
    throw error;
  }
  return {
    ns,
    hostIp: `${net}.1`,
    nsIp: `${net}.2`,
    exec: (argv) => ["ip", "netns", "exec", ns, ...argv],
    link(up) {
      sh("ip", "link", "set", hostSide, up ? "up" : "down");
    },
    remove,
  };
}
