/**
 * The one way the console makes elements: attributes through setAttribute,
 * listeners through addEventListener, and every string child as a text node.
 * There is no way to pass markup here, so nothing from the cluster can become
 * HTML.
 */

type Child = Node | string | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;

export interface Props {
  [attribute: string]: AttrValue | ((event: Event) => void);
}

/** An element with attributes (`false`, `null` and `undefined` leave one out; `true` sets it empty) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (typeof value === "function") el.addEventListener(key.replace(/^on/, "").toLowerCase(), value);
    else if (value === true) el.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Sets an element's text only when it changed, so an unchanged cell costs no layout. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Sets an attribute only when it changed. */
export function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** What {@link syncChildren} needs of a parent: the DOM's own child list operations. */
export interface ChildList<N> {
  readonly firstChild: N | null;
  insertBefore(node: N, before: N | null): unknown;
  removeChild(node: N): unknown;
}

/** The indices of a longest strictly increasing subsequence of `values` (-1 entries never count). */
export function longestIncreasing(values: readonly number[]): Set<number> {
  const tails: number[] = [];
  const previous = new Array<number>(values.length).fill(-1);
  values.forEach((value, i) => {
    if (value < 0) return;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[tails[mid]!]! < value) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) previous[i] = tails[lo - 1]!;
    tails[lo] = i;
  });
  const kept = new Set<number>();
  for (let i = tails.at(-1) ?? -1; i >= 0; i = previous[i]!) kept.add(i);
  return kept;
}

/**
 * Makes `parent`'s children exactly `wanted`, in that order, with the fewest
 * moves (the nodes already in a longest run of the right order stay put) and
 * the rest taken out: a table keeps its row elements, and a row that changed
 * place is the only one that moves.
 */
export function syncChildren<N extends { readonly nextSibling: N | null } | ChildNode>(parent: ChildList<N>, wanted: readonly N[]): void {
  const position = new Map<N, number>();
  for (let node = parent.firstChild, i = 0; node !== null; node = node.nextSibling as N | null, i++) position.set(node, i);
  const stay = longestIncreasing(wanted.map((node) => position.get(node) ?? -1));
  const keep = new Set(wanted);
  for (const node of position.keys()) if (!keep.has(node)) parent.removeChild(node);
  let next: N | null = null;
  for (let i = wanted.length - 1; i >= 0; i--) {
    const node = wanted[i]!;
    if (!stay.has(i)) parent.insertBefore(node, next);
    next = node;
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A state badge: a tone for colour, the state's words for meaning. */
export function badge(text: string, tone: string): HTMLSpanElement {
  return h("span", { class: "badge", "data-tone": tone }, text);
}

export function updateBadge(el: Element, text: string, tone: string): void {
  setText(el, text);
  setAttr(el, "data-tone", tone);
}

/** A link the router follows without a reload (a modified click still opens a new tab). */
export function link(href: string, navigate: (path: string) => void, props: Props, ...children: Child[]): HTMLAnchorElement {
  const a = h("a", { ...props, href }, ...children);
  a.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(a.getAttribute("href") ?? "/");
  });
  return a;
}

/** "/" focuses `input` (as on most sites with a search), unless the user is typing somewhere already; returns the undo. */
export function focusOnSlash(input: HTMLInputElement): () => void {
  const onKey = (event: KeyboardEvent) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    if (document.querySelector("dialog[open]") !== null) return;
    event.preventDefault();
    input.focus();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
