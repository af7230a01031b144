/**
 * syncChildren against a minimal child list with the DOM's semantics
 * (insertBefore moves a node that is already a child; removeChild takes one
 * out), counting moves: what the tables do on every sort, filter and snapshot.
 */
import { describe, expect, test } from "bun:test";
import { longestIncreasing, syncChildren, type ChildList } from "../../lib/ui/dom.ts";

class Item {
  nextSibling: Item | null = null;
  constructor(readonly name: string) {}
}

class List implements ChildList<Item> {
  items: Item[] = [];
  moves = 0;
  get firstChild(): Item | null {
    return this.items[0] ?? null;
  }
  private link(): void {
    this.items.forEach((item, i) => (item.nextSibling = this.items[i + 1] ?? null));
  }
  insertBefore(node: Item, before: Item | null): void {
    if (before !== null && !this.items.includes(before)) throw new Error("NotFoundError: the node before which to insert is not a child");
    this.moves++;
    this.items = this.items.filter((i) => i !== node);
    const at = before === null ? this.items.length : this.items.indexOf(before);
    this.items.splice(at, 0, node);
    this.link();
  }
  removeChild(node: Item): void {
    this.items = this.items.filter((i) => i !== node);
    node.nextSibling = null;
    this.link();
  }
  names(): string {
    return this.items.map((i) => i.name).join("");
  }
}

const make = (names: string) => [...names].map((n) => new Item(n));

describe("syncChildren", () => {
  test("fills, reorders, filters and empties a list, and leaves one in order alone", () => {
    const [a, b, c, d] = make("abcd") as [Item, Item, Item, Item];
    const list = new List();
    syncChildren(list, [a, b, c, d]);
    expect(list.names()).toBe("abcd");
    list.moves = 0;
    syncChildren(list, [a, b, c, d]);
    expect(list.moves).toBe(0);
    syncChildren(list, [d, c, b, a]);
    expect(list.names()).toBe("dcba");
    syncChildren(list, [c, a]);
    expect(list.names()).toBe("ca");
    syncChildren(list, [a, b, c, d]);
    expect(list.names()).toBe("abcd");
    syncChildren(list, []);
    expect(list.names()).toBe("");
  });

  test("dropping the first rows (the filter case that broke the events table) keeps the insertion point in the list", () => {
    const items = make("abcdef");
    const list = new List();
    syncChildren(list, items);
    syncChildren(list, [items[2]!, items[5]!]);
    expect(list.names()).toBe("cf");
  });

  test("one row changing place is the only one that moves", () => {
    const items = make("abcdefghij");
    const list = new List();
    syncChildren(list, items);
    list.moves = 0;
    const next = [...items];
    next.splice(7, 0, next.splice(2, 1)[0]!);
    syncChildren(list, next);
    expect(list.names()).toBe("abdefghcij");
    expect(list.moves).toBe(1);
  });

  test("a reversed list moves all but one; a shuffled one of 2,000 ends in order", () => {
    const items = make("abcdef");
    const list = new List();
    syncChildren(list, items);
    list.moves = 0;
    syncChildren(list, [...items].reverse());
    expect(list.names()).toBe("fedcba");
    expect(list.moves).toBe(5);
    const many = Array.from({ length: 2000 }, (_, i) => new Item(String(i)));
    const big = new List();
    syncChildren(big, many);
    const shuffled = [...many].sort((x, y) => ((Number(x.name) * 7919) % 2003) - ((Number(y.name) * 7919) % 2003));
    syncChildren(big, shuffled);
    expect(big.items).toEqual(shuffled);
  });

  test("the longest increasing run skips absent (-1) entries", () => {
    expect([...longestIncreasing([0, 1, 2])].sort()).toEqual([0, 1, 2]);
    expect(longestIncreasing([2, 0, 1, -1, 3]).size).toBe(3);
    expect(longestIncreasing([-1, -1]).size).toBe(0);
    expect(longestIncreasing([]).size).toBe(0);
  });
});
