/**
 * Names for launches without one, in Multipass's own "adjective-animal"
 * style. The master picks them, so it can check the whole cluster first.
 */
const ADJECTIVES = [
  "able", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
  "fancy", "gentle", "glad", "golden", "happy", "humble", "jolly", "keen", "kind", "lively",
  "lucky", "mellow", "merry", "nimble", "noble", "proud", "quick", "quiet", "rapid", "shiny",
  "sincere", "smart", "steady", "sunny", "swift", "tidy", "vivid", "warm", "wise", "witty",
];
const ANIMALS = [
  "badger", "beaver", "bison", "condor", "coyote", "dolphin", "eagle", "falcon", "ferret", "finch",
  "gecko", "heron", "ibex", "jackal", "koala", "lemur", "lionfish", "lynx", "marten", "moose",
  "narwhal", "ocelot", "otter", "panda", "pelican", "puffin", "quail", "raven", "salmon", "seal",
  "sparrow", "stork", "tapir", "tiger", "toucan", "turtle", "walrus", "wombat", "yak", "zebra",
];

/** A fresh name not in `taken`. @throws Error when none is found (the space is 1600 names). */
export function randomInstanceName(taken: (name: string) => boolean, random: () => number = Math.random): string {
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  for (let attempt = 0; attempt < 200; attempt++) {
    const name = `${pick(ADJECTIVES)}-${pick(ANIMALS)}`;
    if (!taken(name)) return name;
  }
  throw new Error("Could not find a free instance name; please give one");
}
