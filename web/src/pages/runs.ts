// The runs of an experiment: one page at a time from the indexed run query (keyset paging,
// server-side filter and sort: docs/REST.md "Run queries"), metric/param/tag columns chosen
// by the user, bulk cancel and tag.
import { get, q, seg, send } from "../api";
import { navigate } from "../main";
import { clear, errorBox, fmtDuration, fmtTime, fmtValue, h, link, statusChip } from "../dom";

const PAGE = 50;

interface State {
  filter: string;
  order: string;
  cursors: (string | null)[]; // cursor of each page shown so far (index 0: null)
  page: number;
  columns: Set<string>; // "metrics.x", "params.x", "tags.x"
}

function colValue(run: any, col: string): unknown {
  const dot = col.indexOf(".");
  const kind = col.slice(0, dot);
  const key = col.slice(dot + 1);
  if (kind === "metrics") return run.metrics?.[key];
  if (kind === "params") return run.properties?.[key];
  return run.tags?.[key];
}

export async function runsPage(app: HTMLElement, p: string[], query: URLSearchParams): Promise<() => void> {
  const exp = p[0];
  const st: State = {
    filter: query.get("filter") || "",
    order: query.get("order_by") || "",
    cursors: [null],
    page: 0,
    columns: new Set((query.get("columns") || "").split(",").filter(Boolean)),
  };
  const filterIn = h("input", { id: "run-filter", type: "search", size: 60, value: st.filter,
    placeholder: "metrics.acc > 0.9 and tags.team = 'blue'" }) as HTMLInputElement;
  const tableBox = h("div", { class: "table-box" });
  const info = h("span", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button" }, "← Previous") as HTMLButtonElement;
  const next = h("button", { type: "button" }, "Next →") as HTMLButtonElement;
  const chooser = h("details", { class: "chooser" }, h("summary", null, "Columns"));
  const bulkTagKey = h("input", { type: "text", size: 12, "aria-label": "Tag name", placeholder: "tag" }) as HTMLInputElement;
  const bulkTagVal = h("input", { type: "text", size: 12, "aria-label": "Tag value", placeholder: "value" }) as HTMLInputElement;
  const bulkTag = h("button", { type: "button" }, "Tag selected");
  const bulkCancel = h("button", { type: "button" }, "Cancel selected");
  const bulkMsg = h("span", { "aria-live": "polite" });
  const compare = h("button", { type: "button" }, "Compare selected");
  compare.addEventListener("click", () => {
    if (selected.size < 2) {
      bulkMsg.textContent = "Select two or more runs to compare.";
      return;
    }
    navigate("/compare?runs=" + [...selected].map(encodeURIComponent).join(","));
  });
  const selected = new Set<string>();
  let knownCols = new Set<string>();

  const form = h("form", { class: "filter", role: "search" },
    h("label", { for: "run-filter" }, "Filter "), filterIn, h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    st.filter = filterIn.value.trim();
    st.cursors = [null];
    st.page = 0;
    void load();
  });
  prev.addEventListener("click", () => {
    if (st.page > 0) {
      st.page--;
      void load();
    }
  });
  next.addEventListener("click", () => {
    if (st.cursors[st.page + 1]) {
      st.page++;
      void load();
    }
  });
  bulkCancel.addEventListener("click", async () => {
    const ids = [...selected];
    try {
      for (const id of ids) await send("POST", "/api/v1/runs/" + seg(id) + "/cancel");
      bulkMsg.textContent = "Cancel requested for " + ids.length + " run(s).";
      void load();
    } catch (e) {
      clear(bulkMsg, errorBox(e));
    }
  });
  bulkTag.addEventListener("click", async () => {
    const k = bulkTagKey.value.trim();
    if (!k) {
      bulkMsg.textContent = "Give a tag name.";
      return;
    }
    const ids = [...selected];
    try {
      for (const id of ids) await send("PATCH", "/api/v1/runs/" + seg(id) + "/tags", { [k]: bulkTagVal.value });
      bulkMsg.textContent = "Tagged " + ids.length + " run(s).";
      void load();
    } catch (e) {
      clear(bulkMsg, errorBox(e));
    }
  });

  function sortBy(col: string): void {
    const [cur, dir] = st.order.split(/\s+/);
    st.order = cur === col && dir !== "ASC" ? col + " ASC" : col + " DESC";
    st.cursors = [null];
    st.page = 0;
    void load();
  }

  function header(label: string, col: string | null): HTMLElement {
    if (!col) return h("th", { scope: "col" }, label);
    const [cur, dir] = st.order.split(/\s+/);
    const sort = cur === col ? (dir === "ASC" ? "ascending" : "descending") : "none";
    const b = h("button", { type: "button", class: "sort" }, label, sort === "none" ? "" : sort === "ascending" ? " ▲" : " ▼");
    b.addEventListener("click", () => sortBy(col));
    return h("th", { scope: "col", "aria-sort": sort }, b);
  }

  function renderChooser(): void {
    const items = [...knownCols].sort();
    clear(chooser, h("summary", null, "Columns (" + st.columns.size + ")"),
      items.length ? h("div", { class: "chooser-list" }, items.map((c) => {
        const box = h("input", { type: "checkbox", checked: st.columns.has(c) }) as HTMLInputElement;
        box.addEventListener("change", () => {
          if (box.checked) st.columns.add(c);
          else st.columns.delete(c);
          void load();
        });
        return h("label", null, box, " ", c);
      })) : h("p", { class: "muted" }, "No metrics, parameters or tags on this page."));
  }

  // Live: the server parks this until a run is added or a shown run changes (status, tags,
  // latest metrics); then the page is read again.
  let es: EventSource | null = null;
  let closed = false;
  function watch(ids: string[]): void {
    if (es) es.close();
    if (closed) return;
    let first = true;
    es = new EventSource("/api/v1/studio/experiments/" + seg(exp) + "/events" + q({ runs: ids.join(",") }));
    es.addEventListener("change", () => {
      if (first) {
        first = false;
        return;
      }
      if (st.page === 0) countFor = null;  // new runs change the total
      void load();
    });
  }

  let countFor: string | null = null;
  let total: number | null = null;
  let shown = 0;
  function showInfo(): void {
    const first = st.page * PAGE + (shown ? 1 : 0);
    info.textContent = `runs ${first}–${st.page * PAGE + shown} of ${total ?? "…"}`;
  }

  async function load(): Promise<void> {
    const params = {
      view: "summary", page_size: PAGE, latest_metrics: true,
      filter: st.filter, order_by: st.order, cursor: st.cursors[st.page] || undefined,
    };
    const runsUrl = "/api/v1/experiments/" + seg(exp) + "/runs";
    // The total (a COUNT over the indexes) comes in its own request, once per filter, so the
    // rows never wait for it.
    if (countFor !== st.filter) {
      countFor = st.filter;
      total = null;
      const f = st.filter;
      get<any>(runsUrl + q({ view: "summary", page_size: 1, count: true, filter: f })).then((c) => {
        if (countFor !== f) return;
        total = c.total;
        showInfo();
      }).catch(() => undefined);
    }
    let r: any;
    try {
      r = await get(runsUrl + q(params));
    } catch (e) {
      clear(tableBox, errorBox(e));
      return;
    }
    st.cursors[st.page + 1] = r.next_cursor;
    const runs: any[] = r.runs;
    if (!st.columns.size && runs.length) {  // default: the first few metrics
      const names = new Set<string>();
      runs.forEach((x) => Object.keys(x.metrics || {}).forEach((n) => names.add("metrics." + n)));
      [...names].sort().slice(0, 4).forEach((n) => st.columns.add(n));
    }
    runs.forEach((x) => {
      Object.keys(x.metrics || {}).forEach((n) => knownCols.add("metrics." + n));
      Object.keys(x.properties || {}).forEach((n) => knownCols.add("params." + n));
      Object.keys(x.tags || {}).forEach((n) => knownCols.add("tags." + n));
    });
    renderChooser();
    const cols = [...st.columns];
    const all = h("input", { type: "checkbox", "aria-label": "Select all runs on this page" }) as HTMLInputElement;
    all.addEventListener("change", () => {
      tableBox.querySelectorAll<HTMLInputElement>("tbody input[type=checkbox]").forEach((b) => {
        b.checked = all.checked;
        b.dispatchEvent(new Event("change"));
      });
    });
    const onPage = new Set(runs.map((x) => x.id));
    [...selected].forEach((id) => onPage.has(id) || selected.delete(id));  // kept across live reloads
    const t = h("table", { class: "grid runs", "aria-label": "Runs of " + exp },
      h("thead", null, h("tr", null,
        h("th", { scope: "col" }, all), header("Run", "attributes.number"), header("Name", "attributes.display_name"),
        header("Status", "attributes.status"), header("Type", "attributes.run_type"),
        header("Created", "attributes.created"), h("th", { scope: "col" }, "Duration"),
        cols.map((c) => header(c, c)))),
      h("tbody", null, runs.map((x) => {
        const box = h("input", { type: "checkbox", "aria-label": "Select run " + x.id, checked: selected.has(x.id) }) as HTMLInputElement;
        box.addEventListener("change", () => (box.checked ? selected.add(x.id) : selected.delete(x.id)));
        return h("tr", { "data-run": x.id },
          h("td", null, box),
          h("td", null, link("/runs/" + seg(x.id), "Run " + x.number)),
          h("td", null, x.display_name || x.id),
          h("td", null, statusChip(x.status)),
          h("td", null, x.kind),
          h("td", null, fmtTime(x.created_utc)),
          h("td", null, fmtDuration(x.start_time_utc, x.end_time_utc)),
          cols.map((c) => h("td", { class: c.startsWith("metrics.") ? "num" : "" }, fmtValue(colValue(x, c)))));
      })));
    clear(tableBox, runs.length ? t : h("p", { class: "muted" }, st.filter ? "No run matches the filter." : "No runs yet."));
    performance.mark("studio:rows"); // when the rows were shown (bench/p13_p15_studio.py)
    shown = runs.length;
    showInfo();
    watch(runs.map((x) => x.id));
    prev.disabled = st.page === 0;
    next.disabled = !r.next_cursor;
    const u = new URLSearchParams();
    if (st.filter) u.set("filter", st.filter);
    if (st.order) u.set("order_by", st.order);
    if (st.columns.size) u.set("columns", [...st.columns].join(","));
    history.replaceState(null, "", location.pathname + (u.toString() ? "?" + u : ""));
  }

  clear(app,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/", "Experiments"), " / ", exp),
    h("h1", null, exp),
    form,
    h("div", { class: "toolbar" }, chooser, h("span", { class: "bulk" }, compare, bulkTagKey, bulkTagVal, bulkTag, bulkCancel, bulkMsg)),
    tableBox,
    h("div", { class: "pager" }, prev, " ", info, " ", next));
  await load();
  return () => {
    closed = true;
    if (es) es.close();
  };
}
