/** The multiverse version: injected at build time with `--define`, else package.json's. */
import pkg from "../../package.json" with { type: "json" };

declare const MULTIVERSE_VERSION: string | undefined;

export const VERSION: string = typeof MULTIVERSE_VERSION === "string" ? MULTIVERSE_VERSION : pkg.version;
