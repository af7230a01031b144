/**
 * The simulated image catalogue: which `launch` image arguments resolve, to which
 * release, and the deterministic 64-hex hash each image reports.
 */

interface Release {
  readonly version: string;
  readonly aliases: readonly string[];
  /** image_release as the daemon reports it, e.g. "24.04 LTS". */
  readonly title: string;
  /** PRETTY_NAME a running guest of this release reports. */
  readonly pretty: string;
}

const RELEASES: readonly Release[] = [
  { version: "24.04", aliases: ["24.04", "noble", "lts"], title: "24.04 LTS", pretty: "Ubuntu 24.04.3 LTS" },
  { version: "22.04", aliases: ["22.04", "jammy"], title: "22.04 LTS", pretty: "Ubuntu 22.04.5 LTS" },
  { version: "20.04", aliases: ["20.04", "focal"], title: "20.04 LTS", pretty: "Ubuntu 20.04.6 LTS" },
  { version: "25.04", aliases: ["25.04", "plucky"], title: "25.04", pretty: "Ubuntu 25.04" },
  { version: "25.10", aliases: ["25.10", "questing"], title: "25.10", pretty: "Ubuntu 25.10" },
];

const REMOTES = new Set(["release", "daily"]);

/** A resolved image. `cacheKey` identifies it in the "images cached" set. */
export interface ResolvedImage {
  readonly cacheKey: string;
  readonly release: string;
  readonly hash: string;
}

/** Why an image argument did not resolve; `message` follows `launch failed: `. */
export interface ImageError {
  readonly error: string;
}

/** SHA-256 hex of `text`: a stable stand-in for an image's real hash. */
export function hashOf(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

function isUrl(spec: string): boolean {
  return spec.startsWith("http://") || spec.startsWith("https://") || spec.startsWith("file://");
}

function releaseHash(remote: string, release: Release): string {
  return hashOf(`${remote}:${release.version}`);
}

/**
 * Resolves what `launch [IMAGE]` was given (undefined = default LTS). The caller
 * has already rejected two or more colons. Partial hashes (4+ hex digits) of a
 * known image are accepted, as upstream does.
 */
export function resolveImage(spec: string | undefined): ResolvedImage | ImageError {
  if (spec === undefined || spec === "") spec = "24.04";
  if (isUrl(spec)) return { cacheKey: spec, release: "", hash: hashOf(spec) };
  const colon = spec.indexOf(":");
  const remote = colon === -1 ? "" : spec.slice(0, colon);
  const image = colon === -1 ? spec : spec.slice(colon + 1);
  if (remote !== "" && !REMOTES.has(remote)) return { error: `Remote "${remote}" is unknown or unreachable.` };
  const remoteKey = remote === "" ? "release" : remote;
  const wanted = image === "" ? "24.04" : image;
  const byAlias = RELEASES.find((release) => release.aliases.includes(wanted));
  const byHash =
    /^[0-9a-f]{4,64}$/.test(wanted) && byAlias === undefined
      ? RELEASES.find((release) => releaseHash(remoteKey, release).startsWith(wanted))
      : undefined;
  const found = byAlias ?? byHash;
  if (found === undefined) return { error: `Unable to find an image matching "${image}" in remote "${remote}".` };
  return { cacheKey: `${remoteKey}:${found.version}`, release: found.title, hash: releaseHash(remoteKey, found) };
}

/** The guest's PRETTY_NAME for an image release title ("24.04 LTS" → "Ubuntu 24.04.3 LTS"). */
export function prettyRelease(imageRelease: string): string {
  const found = RELEASES.find((release) => release.title === imageRelease);
  if (found !== undefined) return found.pretty;
  return imageRelease === "" ? "Ubuntu 24.04.3 LTS" : `Ubuntu ${imageRelease}`;
}

/** Release title and hash for a seeded `image` field, when state.json leaves them out. */
export function describeImage(image: string): { release: string; hash: string } {
  const resolved = resolveImage(image);
  return "error" in resolved ? { release: "", hash: hashOf(image) } : resolved;
}
