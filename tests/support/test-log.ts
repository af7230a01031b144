/** A consola instance that records what it is told instead of printing it. */
import { createConsola, type ConsolaInstance } from "consola";

export function createTestLog(): { log: ConsolaInstance; lines: string[] } {
  const lines: string[] = [];
  const log = createConsola({
    level: 5,
    reporters: [{ log: (entry) => lines.push(`${entry.type}: ${entry.args.map(String).join(" ")}`) }],
  });
  return { log, lines };
}
