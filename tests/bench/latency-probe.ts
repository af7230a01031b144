/**
 * Times GET requests against the master from a process of its own, so the
 * figures are what a client sees, not what a busy load generator's event
 * loop adds. Uses curl when it is installed (Bun's fetch client is itself
 * several milliseconds slower on a 2 MB answer, which would be measuring the
 * client, not the master), else fetch. Prints `{ client, samples: { path: [ms…] } }`.
 *
 *   bun tests/bench/latency-probe.ts URL TOKEN SECONDS PATH...
 */
const [url, token, seconds, ...paths] = process.argv.slice(2);
const samples: Record<string, number[]> = Object.fromEntries(paths.map((p) => [p, []]));
const end = performance.now() + Number(seconds) * 1000;
const curl = Bun.which("curl");

async function withCurl(path: string, count: number): Promise<number[]> {
  // One curl, several transfers over one kept-alive connection; time_total per transfer.
  const argv = [curl!, "-s", "-H", `Authorization: Bearer ${token}`, "-w", "%{http_code} %{time_total}\\n"];
  // -o applies to one URL each.
  for (let i = 0; i < count; i++) argv.push("-o", "/dev/null", url + path);
  const out = await new Response(Bun.spawn(argv, { stdout: "pipe" }).stdout).text();
  return out
    .trim()
    .split("\n")
    .map((line) => {
      const [code, seconds] = line.split(" ");
      if (code !== "200") throw new Error(`${path}: HTTP ${code}`);
      return Number(seconds) * 1000;
    });
}

async function withFetch(path: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return performance.now() - started;
}

while (performance.now() < end) {
  for (const path of paths) {
    if (curl) samples[path]!.push(...(await withCurl(path, 5)));
    else samples[path]!.push(await withFetch(path));
  }
  await Bun.sleep(50);
}
console.log(JSON.stringify({ client: curl ? "curl" : "fetch", samples }));
export {};
