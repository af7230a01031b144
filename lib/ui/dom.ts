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
