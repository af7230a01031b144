/**
 * The instances table: one row per instance, keyed by NAME@NODE, kept across
 * snapshots. A snapshot rewrites only the cells that changed, and rows move
 * only when the order did, so 2,000 rows update without a re-render or a jump.
 */
import type { InstanceView } from "../../protocol/api.ts";
import { badge, h, link, setAttr, setText, updateBadge } from "../dom.ts";
import { instanceTone } from "../format.ts";
import { filterWords, instanceRef, matchesFilter, nextSort, rowCells, sameOrder, sortInstances, DEFAULT_SORT, SORT_KEYS, type RowCells, type SortKey, type SortOrder } from "../table-model.ts";

interface Row {
  tr: HTMLTableRowElement;
  select: HTMLInputElement;
  cells: { name: HTMLAnchorElement; node: HTMLElement; state: HTMLElement; ipv4: HTMLElement; release: HTMLElement };
  shown: RowCells | null;
}

export interface InstanceTable {
  root: HTMLElement;
  update: (instances: readonly InstanceView[]) => void;
  setFilter: (query: string) => void;
  /** The selected refs that are still in the table. */
  selected: () => string[];
  clearSelection: () => void;
  onSelectionChange: (listener: () => void) => void;
  /** How many rows match the filter. */
  shownCount: () => number;
}

const HEADERS: { key: SortKey | null; col: string; label: string }[] = [
  { key: "name", col: "name", label: "Name" },
  { key: "node", col: "node", label: "Node" },
  { key: "state", col: "state", label: "State" },
  { key: null, col: "ipv4", label: "IPv4" },
  { key: null, col: "release", label: "Release" },
];

export function createInstanceTable(navigate: (path: string) => void): InstanceTable {
  const rows = new Map<string, Row>();
  const chosen = new Set<string>();
  let order: SortOrder = DEFAULT_SORT;
  let words: string[] = [];
  let current: readonly InstanceView[] = [];
  let shown: string[] = [];
  let selectionListener = () => {};

  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all shown instances", "data-testid": "select-all" });
  const sortButtons = new Map<SortKey, HTMLTableCellElement>();
  const headCells = HEADERS.map(({ key, col, label }) => {
    if (key === null) return h("th", { scope: "col", "data-col": col }, label);
    const th = h("th", { scope: "col", "data-col": col, "data-sort": key, "aria-sort": "none" }, h("button", { type: "button", class: "sort" }, label, h("span", { class: "sort-mark", "aria-hidden": "true" })));
    th.addEventListener("click", () => {
      order = nextSort(order, key);
      paintHeaders();
      render();
    });
    sortButtons.set(key, th);
    return th;
  });
  const tbody = h("tbody");
  const emptyRow = h("tr", { class: "empty-row" }, h("td", { colspan: "6" }));
  const table = h("table", { "data-testid": "instances-table", class: "grid" }, h("thead", {}, h("tr", {}, h("th", { class: "check-col", scope: "col" }, selectAll), ...headCells)), tbody);
  const root = h("div", { class: "table-scroll" }, table);

  const paintHeaders = () => {
    for (const key of SORT_KEYS) {
      const th = sortButtons.get(key)!;
      setAttr(th, "aria-sort", order.key === key ? (order.dir === 1 ? "ascending" : "descending") : "none");
      setText(th.querySelector(".sort-mark")!, order.key === key ? (order.dir === 1 ? " ▲" : " ▼") : "");
    }
  };

  const createRow = (ref: string): Row => {
    const select = h("input", { type: "checkbox", "data-testid": "select", "aria-label": `Select ${ref}` });
    select.addEventListener("change", () => {
      if (select.checked) chosen.add(ref);
      else chosen.delete(ref);
      paintSelectAll();
      selectionListener();
    });
    const stateBadge = badge("", "off");
    const cells = {
      name: link(`/instances/${ref}`, navigate, {}),
      node: h("td", { "data-col": "node" }),
      state: h("td", { "data-col": "state" }, stateBadge),
      ipv4: h("td", { "data-col": "ipv4", class: "mono" }),
      release: h("td", { "data-col": "release" }),
    };
    const tr = h("tr", { "data-instance": ref }, h("td", { class: "check-col" }, select), h("td", { "data-col": "name" }, cells.name), cells.node, cells.state, cells.ipv4, cells.release);
    return { tr, select, cells, shown: null };
  };

  const paintRow = (row: Row, instance: InstanceView) => {
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
  };

  const paintSelectAll = () => {
    const count = shown.filter((ref) => chosen.has(ref)).length;
    selectAll.checked = count > 0 && count === shown.length;
    selectAll.indeterminate = count > 0 && count < shown.length;
  };
  selectAll.addEventListener("change", () => {
    for (const ref of shown) {
      if (selectAll.checked) chosen.add(ref);
      else chosen.delete(ref);
      const row = rows.get(ref);
      if (row) row.select.checked = selectAll.checked;
    }
    paintSelectAll();
    selectionListener();
  });

  const render = () => {
    const visible = sortInstances(current.filter((i) => matchesFilter(i, words)), order);
    const refs = visible.map(instanceRef);
    const live = new Set(current.map(instanceRef));
    for (const [ref, row] of rows) {
      if (!live.has(ref)) {
        row.tr.remove();
        rows.delete(ref);
        chosen.delete(ref);
      }
    }
    visible.forEach((instance, i) => {
      const ref = refs[i]!;
      let row = rows.get(ref);
      if (row === undefined) {
        row = createRow(ref);
        rows.set(ref, row);
      }
      paintRow(row, instance);
    });
    if (!sameOrder(refs, shown)) {
      const keep = new Set(refs);
      for (const ref of shown) if (!keep.has(ref)) rows.get(ref)?.tr.remove();
      let cursor: ChildNode | null = tbody.firstChild;
      for (const ref of refs) {
        const tr = rows.get(ref)!.tr;
        if (cursor === tr) cursor = tr.nextSibling;
        else tbody.insertBefore(tr, cursor);
      }
      shown = refs;
    }
    const emptyText = current.length === 0 ? "No instances yet. Launch one with the Launch button." : "No instance matches the filter.";
    if (refs.length === 0) {
      setText(emptyRow.firstElementChild!, emptyText);
      if (emptyRow.parentNode !== tbody) tbody.append(emptyRow);
    } else emptyRow.remove();
    paintSelectAll();
  };

  paintHeaders();
  return {
    root,
    update(instances) {
      current = instances;
      render();
      selectionListener();
    },
    setFilter(query) {
      words = filterWords(query);
      render();
    },
    selected: () => shown.filter((ref) => chosen.has(ref)),
    clearSelection() {
      chosen.clear();
      for (const row of rows.values()) row.select.checked = false;
      paintSelectAll();
      selectionListener();
    },
    onSelectionChange(listener) {
      selectionListener = listener;
    },
    shownCount: () => shown.length,
  };
}
