/**
 * The instances table: one row per instance, keyed by NAME@NODE, kept across
 * snapshots. A snapshot rewrites only the cells that changed, and rows move
 * only when the order did, so 2,000 rows update without a re-render or a jump.
 */
import type { InstanceView } from "../../protocol/api.ts";
import type { InstanceState } from "../../protocol/instances.ts";
import { badge, h, link, setAttr, setText, syncChildren, updateBadge } from "../dom.ts";
import { instanceTone } from "../format.ts";
import { filterWords, instanceRef, matchesFilter, nextSort, rowCells, sameOrder, sortInstances, DEFAULT_SORT, SORT_KEYS, type RowCells, type SortKey, type SortOrder } from "../table-model.ts";

interface Row {
  tr: HTMLTableRowElement;
  select: HTMLInputElement;
  cells: { name: HTMLAnchorElement; node: HTMLElement; state: HTMLElement; ipv4: HTMLElement; release: HTMLElement };
  shown: RowCells | null;
}

const HEADERS: { key: SortKey | null; col: string; label: string }[] = [
  { key: "name", col: "name", label: "Name" },
  { key: "node", col: "node", label: "Node" },
  { key: "state", col: "state", label: "State" },
  { key: null, col: "ipv4", label: "IPv4" },
  { key: null, col: "release", label: "Release" },
  { key: null, col: "open", label: "" },
];

export class InstanceTable {
  readonly root: HTMLElement;
  /** Called when the selection changes (a click, or a selected row that went away). */
  onSelectionChange: () => void = () => {};
  private readonly rows = new Map<string, Row>();
  private readonly chosen = new Set<string>();
  private order: SortOrder = DEFAULT_SORT;
  private words: string[] = [];
  private current: readonly InstanceView[] = [];
  private loaded = false;
  private shown: string[] = [];
  private readonly tbody = h("tbody", { role: "rowgroup" });
  private readonly emptyRow = h("tr", { class: "empty-row" }, h("td", { colspan: "7" }));
  private readonly selectAll = h("input", { type: "checkbox", "aria-label": "Select all shown instances", "data-testid": "select-all" });
  private readonly sortHeads = new Map<SortKey, HTMLTableCellElement>();

  constructor(private readonly navigate: (path: string) => void) {
    const heads = HEADERS.map(({ key, col, label }) => {
      if (key === null) return h("th", { scope: "col", role: "columnheader", "data-col": col }, label);
      const th = h("th", { scope: "col", role: "columnheader", "data-col": col, "data-sort": key, "aria-sort": "none" }, h("button", { type: "button", class: "sort" }, label, h("span", { class: "sort-mark", "aria-hidden": "true" })));
      th.addEventListener("click", () => {
        this.order = nextSort(this.order, key);
        this.paintHeaders();
        this.render();
      });
      this.sortHeads.set(key, th);
      return th;
    });
    this.selectAll.addEventListener("change", () => this.toggleAll(this.selectAll.checked));
    // The rows are grids (styles.css): the roles keep them a table for assistive technology.
    const table = h("table", { "data-testid": "instances-table", class: "grid", role: "table" }, h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, h("th", { class: "check-col", scope: "col", role: "columnheader" }, this.selectAll), ...heads)), this.tbody);
    this.root = h("div", { class: "table-scroll" }, table);
    this.paintHeaders();
  }

  /** Shows `instances`; `loaded` false until the first snapshot (the table says "Loading…", not "none"). */
  update(instances: readonly InstanceView[], loaded = true): void {
    this.current = instances;
    this.loaded = loaded;
    this.render();
    this.onSelectionChange();
  }

  setFilter(query: string): void {
    this.words = filterWords(query);
    this.render();
  }

  /** The selected refs among the rows shown. */
  selected(): string[] {
    return this.shown.filter((ref) => this.chosen.has(ref));
  }

  /** The states of the selected instances among the rows shown. */
  selectedStates(): InstanceState[] {
    const chosen = new Set(this.selected());
    return this.current.filter((i) => chosen.has(instanceRef(i))).map((i) => i.state);
  }

  shownCount(): number {
    return this.shown.length;
  }

  private toggleAll(on: boolean): void {
    for (const ref of this.shown) {
      if (on) this.chosen.add(ref);
      else this.chosen.delete(ref);
      const row = this.rows.get(ref);
      if (row) {
        row.select.checked = on;
        row.tr.toggleAttribute("data-selected", on);
      }
    }
    this.paintSelectAll();
    this.onSelectionChange();
  }

  private paintHeaders(): void {
    for (const key of SORT_KEYS) {
      const th = this.sortHeads.get(key)!;
      const on = this.order.key === key;
      setAttr(th, "aria-sort", on ? (this.order.dir === 1 ? "ascending" : "descending") : "none");
      setText(th.querySelector(".sort-mark")!, on ? (this.order.dir === 1 ? " ▲" : " ▼") : "");
    }
  }

  private paintSelectAll(): void {
    const count = this.selected().length;
    this.selectAll.checked = count > 0 && count === this.shown.length;
    this.selectAll.indeterminate = count > 0 && count < this.shown.length;
  }

  private createRow(ref: string): Row {
    const select = h("input", { type: "checkbox", "data-testid": "select", "aria-label": `Select ${ref}` });
    select.addEventListener("change", () => {
      if (select.checked) this.chosen.add(ref);
      else this.chosen.delete(ref);
      select.closest("tr")?.toggleAttribute("data-selected", select.checked);
      this.paintSelectAll();
      this.onSelectionChange();
    });
    const cells = {
      name: link(`/instances/${ref}`, this.navigate, {}),
      node: h("td", { "data-col": "node", role: "cell" }),
      state: h("td", { "data-col": "state", role: "cell" }, badge("", "off")),
      ipv4: h("td", { "data-col": "ipv4", class: "mono", role: "cell" }),
      release: h("td", { "data-col": "release", role: "cell" }),
    };
    const shell = link(`/instances/${ref}/shell`, this.navigate, { class: "row-link", "aria-label": `Open a shell in ${ref}` }, "Shell ›");
    const tr = h("tr", { "data-instance": ref, role: "row" }, h("td", { class: "check-col", role: "cell" }, select), h("td", { "data-col": "name", role: "cell" }, cells.name), cells.node, cells.state, cells.ipv4, cells.release, h("td", { "data-col": "open", role: "cell" }, shell));
    return { tr, select, cells, shown: null };
  }

  /** Rewrites only the cells whose text changed. */
  private paintRow(row: Row, instance: InstanceView): void {
    const next = rowCells(instance);
    const before = row.shown;
    if (before?.name !== next.name) setText(row.cells.name, next.name);
    if (before?.node !== next.node) setText(row.cells.node, next.node);
    if (before?.state !== next.state) {
      updateBadge(row.cells.state.firstElementChild!, next.state, instanceTone(instance.state));
      setAttr(row.tr, "data-state", next.state);
    }
    if (before?.ipv4 !== next.ipv4) setText(row.cells.ipv4, next.ipv4);
    if (before?.release !== next.release) setText(row.cells.release, next.release);
    row.shown = next;
  }

  private render(): void {
    const visible = sortInstances(this.current.filter((i) => matchesFilter(i, this.words)), this.order);
    const refs = visible.map(instanceRef);
    const live = new Set(this.current.map(instanceRef));
    for (const [ref, row] of this.rows) {
      if (live.has(ref)) continue;
      row.tr.remove();
      this.rows.delete(ref);
      this.chosen.delete(ref);
    }
    visible.forEach((instance, i) => {
      const ref = refs[i]!;
      let row = this.rows.get(ref);
      if (row === undefined) {
        row = this.createRow(ref);
        this.rows.set(ref, row);
      }
      this.paintRow(row, instance);
    });
    if (refs.length === 0) setText(this.emptyRow.firstElementChild!, !this.loaded ? "Loading…" : this.current.length === 0 ? "No instances yet. Launch one with the Launch button." : "No instance matches the filter.");
    if (!sameOrder(refs, this.shown) || refs.length === 0) syncChildren(this.tbody, refs.length === 0 ? [this.emptyRow] : refs.map((ref) => this.rows.get(ref)!.tr));
    this.shown = refs;
    this.paintSelectAll();
  }
}
