/**
 * Loggers for the long-running roles. One consola instance per process,
 * tagged with its role, passed to everything that logs. Secrets are never
 * handed to a logger: tokens are reported by where they are stored.
 */
import { createConsola, type ConsolaInstance } from "consola";

export function createLog(tag: string, options: { verbose: boolean }): ConsolaInstance {
  return createConsola({ level: options.verbose ? 4 : 3, formatOptions: { date: true } }).withTag(tag);
}
