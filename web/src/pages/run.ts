// A run's page: status, properties, tags, arguments, live logs, metric charts, files, child
// runs (the AutoML/HyperDrive leaderboard for parents). Live: Server-Sent Events from
// GET /api/v1/studio/runs/{id}/events say what changed; only that is fetched again.
import { get, getText, pathSegs, q, seg, send } from "../api";
import { MetricChart, type Series } from "../chart";
import { explanationView } from "./explanation";
import { parallelCoordinates } from "./parallel";
import { clear, errorBox, fmtBytes, fmtDuration, fmtTime, fmtValue, h, kvTable, link, statusChip } from "../dom";
import type { Cleanup } from "../main";

const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);
const MAX_LOG_CHARS = 2_000_000;
const OTHER_METRICS_FULL_READ = 200_000; // scalar points up to which GET /metrics is read whole
const INITIAL_POINTS = 1400; // ~2 per pixel of a chart (charts are 540-900 px wide)

interface Change {
  status: string;
  terminal: boolean;
  metrics: Record<string, number>;
  logs: Record<string, number>;
  meta: string; // changes with the tags, properties or error
  others: number; // non-scalar metric points (tables, rows, images) seen by the server
  other_names: string[]; // their names (those logged since the server started)
  children: string; // changes with the child runs' statuses and latest metrics
}

const MINIMIZED = /error|loss/;

function num(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (typeof v !== "string" || v === "") return null;
  const x = Number(v);
  return isNaN(x) ? null : x;
}

function primaryMetric(run: any): { name: string; goal: string } | null {
  const p = run.properties || {};
  for (const key of ["primary_metric_config", "primary_metric"]) {
    const v = p[key];
    if (!v) continue;
    try {
      const j = JSON.parse(v);
      if (j && j.name) return { name: j.name, goal: String(j.goal || "maximize").toLowerCase() };
    } catch (_) {
      return { name: v, goal: MINIMIZED.test(v) ? "minimize" : "maximize" };
    }
  }
  return null;
}

export async function runPage(app: HTMLElement, p: string[]): Promise<Cleanup> {
  const id = p[0];
  const base = "/api/v1/runs/" + seg(id);
  // Every scalar series, downsampled for a chart's width, asked for at once beside the run:
  // the charts do not wait for the run or the first live event (P13).
  const initialSeries = get<{ series: Series[] }>(base + "/series" + q({ max_points: INITIAL_POINTS })).catch(() => null);
  let run = await get<any>(base);
  const charts = new Map<string, MetricChart>();
  let logName = "";
  let logOffset = 0;
  let logBusy = false;
  let logPicked = false;
  let lastChange: Change | null = null;
  let closed = false;

  const head = h("div", { class: "run-head" });
  const overview = h("section", { "aria-labelledby": "h-overview" });
  const tagsBox = h("div");
  const childrenBox = h("section", { "aria-labelledby": "h-children" });
  const chartsBox = h("div", { class: "charts" });
  const otherMetrics = h("div");
  const logSelect = h("select", { id: "log-select", "aria-label": "Log file" }) as HTMLSelectElement;
  const logPre = h("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Log output" });
  const follow = h("input", { type: "checkbox", checked: true, id: "log-follow" }) as HTMLInputElement;
  const filesBox = h("div");
  const explainBox = h("div");
  let explained = false;

  function renderHead(): void {
    const cancel = h("button", { type: "button", id: "cancel-run" }, "Cancel run") as HTMLButtonElement;
    cancel.hidden = TERMINAL.has(run.status) || run.status === "CancelRequested";
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        run = await send("POST", base + "/cancel");
        renderHead();
      } catch (e) {
        head.appendChild(errorBox(e));
      }
    });
    clear(head,
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/", "Experiments"), " / ",
        link("/experiments/" + seg(run.experiment), run.experiment), " / ",
        run.parent_id ? [link("/runs/" + seg(run.parent_id), run.parent_id), " / "] : null, "Run " + run.number),
      h("h1", null, run.display_name || run.id, " ", h("span", { id: "run-status" }, statusChip(run.status))),
      h("p", { class: "muted" }, run.id), cancel);
  }

  function renderOverview(): void {
    const attrs: Record<string, unknown> = {
      "Run id": run.id, Number: run.number, Type: run.kind, Experiment: run.experiment,
      "Compute target": run.compute_target, Script: run.script || run.command || "",
      Created: fmtTime(run.created_utc), Started: fmtTime(run.start_time_utc), Ended: fmtTime(run.end_time_utc),
      Duration: fmtDuration(run.start_time_utc, run.end_time_utc), "Exit code": run.exit_code ?? "",
      Snapshot: run.snapshot_id || "",
    };
    if (run.git) attrs["Git"] = [run.git.repository, run.git.branch, run.git.commit].filter(Boolean).join(" ") + (run.git.dirty ? " (dirty)" : "");
    const args: unknown[] = run.arguments || [];
    clear(overview,
      h("h2", { id: "h-overview" }, "Overview"),
      h("div", { class: "cols" },
        h("div", null, h("h3", null, "Attributes"), kvTable(attrs, "Attributes", false)),
        h("div", null, h("h3", null, "Properties"), kvTable(run.properties, "Properties"))),
      run.error ? h("div", { class: "error", role: "alert" }, h("strong", null, "Error: "), run.error.message || "",
        run.error.traceback ? h("pre", null, run.error.traceback) : null) : null,
      h("h3", null, "Arguments"),
      args.length ? h("ol", { class: "args" }, args.map((a) => h("li", null, h("code", null, typeof a === "string" ? a : JSON.stringify(a)))))
        : h("p", { class: "muted" }, "No arguments."),
      h("h3", null, "Tags"), tagsBox,
      run.environment ? h("details", null, h("summary", null, "Environment"), h("pre", null, JSON.stringify(run.environment, null, 2))) : null,
      (run.input_datasets || []).length ? [h("h3", null, "Input datasets"),
        h("ul", null, run.input_datasets.map((d: any) => h("li", null, `${d.input_name}: ${d.name || d.id} v${d.version ?? ""} (${d.mode})`)))] : null);
    renderTags();
  }

  function renderTags(): void {
    // What the user is typing survives a live re-render.
    const oldK = tagsBox.querySelector<HTMLInputElement>("#tag-key");
    const oldV = tagsBox.querySelector<HTMLInputElement>("#tag-value");
    const focused = document.activeElement === oldK ? "k" : document.activeElement === oldV ? "v" : "";
    const k = h("input", { type: "text", id: "tag-key", size: 14, "aria-label": "New tag name" }) as HTMLInputElement;
    const v = h("input", { type: "text", id: "tag-value", size: 20, "aria-label": "New tag value" }) as HTMLInputElement;
    if (oldK && oldV) {
      k.value = oldK.value;
      v.value = oldV.value;
    }
    const msg = h("span", { "aria-live": "polite" });
    const form = h("form", { class: "inline", "aria-label": "Add a tag" }, k, " = ", v, " ", h("button", { type: "submit" }, "Add tag"), msg);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!k.value.trim()) return;
      try {
        const r = await send("PATCH", base + "/tags", { [k.value.trim()]: v.value });
        run.tags = r.tags;
        k.value = "";
        v.value = "";
        renderTags();
      } catch (e) {
        clear(msg, errorBox(e));
      }
    });
    clear(tagsBox, h("div", { id: "run-tags" }, kvTable(run.tags, "Tags")), form);
    if (focused === "k") k.focus();
    if (focused === "v") v.focus();
  }

  async function renderChildren(): Promise<void> {
    const r = await get<any>(base + "/children" + q({ view: "summary", latest_metrics: true, page_size: 1000 }));
    const kids: any[] = r.runs;
    if (!kids.length) {
      clear(childrenBox);
      return;
    }
    const pm = primaryMetric(run);
    const isAutoml = run.kind === "automl";
    const best = run.tags?.best_child_run_id;
    const names = new Set<string>();
    kids.forEach((c) => Object.keys(c.metrics || {}).forEach((n) => names.add(n)));
    const metricCols = [...names].sort().slice(0, isAutoml ? 4 : 8);
    if (pm && !isAutoml && !metricCols.includes(pm.name)) metricCols.unshift(pm.name);
    if (pm) {
      const sign = pm.goal.startsWith("min") ? 1 : -1;
      const val = (c: any) => (isAutoml ? num(c.properties?.score) : c.metrics?.[pm.name]);
      kids.sort((a, b) => {
        const x = val(a), y = val(b);
        if (typeof x !== "number") return 1;
        if (typeof y !== "number") return -1;
        return sign * (x - y);
      });
    }
    const isSweep = run.kind === "hyperdrive" || isAutoml;
    let parallel: SVGSVGElement | null = null;
    if (run.kind === "hyperdrive" && pm) {
      const parse = (t: unknown): Record<string, unknown> => {
        try {
          const j = JSON.parse(String(t || "{}"));
          return j && typeof j === "object" ? j : {};
        } catch (_) {
          return {};
        }
      };
      parallel = parallelCoordinates(kids.map((c) => ({
        id: c.id, params: parse(c.properties?.hyperparameters || c.tags?.hyperparameters),
        metric: typeof c.metrics?.[pm.name] === "number" ? c.metrics[pm.name] : null,
      })), pm.name, best);
    }
    clear(childrenBox,
      h("h2", { id: "h-children" }, isSweep ? "Leaderboard" : "Child runs"),
      parallel ? h("figure", { class: "parallel" }, parallel) : null,
      pm ? h("p", null, "Primary metric: ", h("strong", null, pm.name), " (", pm.goal, ")") : null,
      h("div", { class: "scroll-x" }, h("table", { class: "grid", "aria-label": isSweep ? "Leaderboard" : "Child runs" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Run"), h("th", { scope: "col" }, "Status"),
          isAutoml ? ["Iteration", "Algorithm", "Preprocessor", "Score", "Duration (iteration)"].map((t) => h("th", { scope: "col" }, t)) : null,
          run.kind === "hyperdrive" ? h("th", { scope: "col" }, "Hyperparameters") : null,
          metricCols.map((n) => h("th", { scope: "col" }, n)), h("th", { scope: "col" }, "Duration"))),
        h("tbody", null, kids.map((c) => h("tr", { class: c.id === best ? "best" : "", "data-run": c.id },
          h("td", null, link("/runs/" + seg(c.id), c.display_name || c.id), c.id === best ? " ★" : ""),
          h("td", null, statusChip(c.status)),
          isAutoml ? [h("td", null, c.properties?.iteration ?? ""), h("td", null, c.properties?.run_algorithm || ""),
            h("td", null, c.properties?.run_preprocessor || ""), h("td", { class: "num" }, fmtValue(num(c.properties?.score))),
            h("td", null, c.properties?.duration || "")] : null,
          run.kind === "hyperdrive" ? h("td", null, h("code", null, c.properties?.hyperparameters || c.tags?.hyperparameters || "")) : null,
          metricCols.map((n) => h("td", { class: "num" }, fmtValue(c.metrics?.[n]))),
          h("td", null, fmtDuration(c.start_time_utc, c.end_time_utc))))))));
  }

  // Charts for new series; the series whose count grew fetched again, the whole ones in one
  // request (downsampled to the charts' width), zoomed ones each for its range.
  async function refreshMetrics(counts: Record<string, number>): Promise<void> {
    const batch: string[] = [];
    const zoomed: MetricChart[] = [];
    for (const [name, n] of Object.entries(counts)) {
      let c = charts.get(name);
      if (!c) {
        c = new MetricChart(id, name);
        charts.set(name, c);
        const sorted = [...charts.keys()].sort();
        const i = sorted.indexOf(name);
        const after = i + 1 < sorted.length ? charts.get(sorted[i + 1])!.el : null;
        chartsBox.insertBefore(c.el, after);
      } else if (c.count === n) {
        continue;
      }
      if (c.whole) batch.push(name);
      else zoomed.push(c);
    }
    if (!charts.size) clear(chartsBox, h("p", { class: "muted", id: "no-metrics" }, "No scalar metrics logged yet."));
    else chartsBox.querySelector("#no-metrics")?.remove();
    const tasks: Promise<void>[] = zoomed.map((c) => c.refresh());
    if (batch.length) {
      const w = charts.get(batch[0])!.width();
      const params = new URLSearchParams();
      batch.forEach((n) => params.append("name", n));
      params.set("max_points", String(Math.max(2, w * 2)));
      tasks.push(get<{ series: Series[] }>(base + "/series?" + params).then((r) => {
        for (const s of r.series) charts.get(s.name)?.apply(s);
      }));
    }
    await Promise.all(tasks);
  }

  // Tables, rows, matrices and images. GET /metrics answers every metric, scalar series in
  // full, so a run with long series reads only the names the live events list (REST has no
  // cheap listing of non-scalar names; /metrics?max_points= leaves them out).
  async function renderOtherMetrics(c: Change): Promise<void> {
    const scalarPoints = Object.values(c.metrics).reduce((a, b) => a + b, 0);
    const metrics: Record<string, any> = {};
    if (scalarPoints <= OTHER_METRICS_FULL_READ) {
      Object.assign(metrics, (await get<any>(base + "/metrics")).metrics || {});
      for (const n of Object.keys(c.metrics)) delete metrics[n];
    } else {
      const got = await Promise.all((c.other_names || []).map((n) => get<any>(base + "/metrics" + q({ name: n }))));
      got.forEach((r) => Object.assign(metrics, r.metrics || {}));
    }
    const out: HTMLElement[] = [];
    for (const [name, v] of Object.entries<any>(metrics)) {
      if (typeof v === "string" && v.startsWith("aml://artifactId/")) {
        // Azure's form: aml://artifactId/ExperimentRun/dcid.<run id>/<artifact path>
        const rest = v.slice("aml://artifactId/".length);
        const m = /^ExperimentRun\/dcid\.([^/]+)\/(.+)$/.exec(rest);
        const src = m ? "/api/v1/runs/" + seg(m[1]) + "/artifacts/" + pathSegs(m[2]) : base + "/artifacts/" + pathSegs(rest);
        out.push(h("figure", { class: "image-metric" }, h("figcaption", null, name),
          h("img", { src, alt: name, loading: "lazy" })));
      } else if (v && typeof v === "object" && v.schema_type === "confusion_matrix" && v.data?.matrix) {
        const labels: unknown[] = v.data.class_labels || v.data.matrix.map((_: unknown, i: number) => i);
        out.push(h("h3", null, name, " (confusion matrix: rows true, columns predicted)"),
          h("table", { class: "grid matrix", "aria-label": name },
            h("thead", null, h("tr", null, h("th", { scope: "col" }, ""), labels.map((l) => h("th", { scope: "col" }, fmtValue(l))))),
            h("tbody", null, v.data.matrix.map((row: unknown[], i: number) => h("tr", null,
              h("th", { scope: "row" }, fmtValue(labels[i])), row.map((x) => h("td", { class: "num" }, fmtValue(x))))))));
      } else if (v && typeof v === "object" && v.schema_type) {  // other Azure JSON objects
        out.push(h("h3", null, name + " (" + v.schema_type + ")"), h("pre", null, JSON.stringify(v.data ?? v, null, 1).slice(0, 20000)));
      } else if (v && typeof v === "object" && !Array.isArray(v)) {
        const cols = Object.keys(v);
        const n = Math.max(0, ...cols.map((c) => (Array.isArray(v[c]) ? v[c].length : 1)));
        out.push(h("h3", null, name), h("table", { class: "grid", "aria-label": name },
          h("thead", null, h("tr", null, cols.map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", null, Array.from({ length: Math.min(n, 200) }, (_, i) =>
            h("tr", null, cols.map((c) => h("td", null, fmtValue(Array.isArray(v[c]) ? v[c][i] : v[c]))))))));
      } else if (Array.isArray(v) && v.length && Array.isArray(v[0])) {  // a matrix (confusion matrix)
        out.push(h("h3", null, name), h("table", { class: "grid matrix", "aria-label": name },
          h("tbody", null, v.map((row: unknown[]) => h("tr", null, row.map((x) => h("td", { class: "num" }, fmtValue(x))))))));
      }
    }
    clear(otherMetrics, out.length ? [h("h3", null, "Tables and images"), out] : null);
  }

  async function readLog(): Promise<void> {
    if (!logName || logBusy) return;
    logBusy = true;
    try {
      for (;;) {
        const name = logName;
        const r = await getText(base + "/logs/" + pathSegs(name) + q({ offset: logOffset }));
        if (name !== logName) continue;  // switched to another log meanwhile
        if (!r.text.length) break;
        logOffset += new TextEncoder().encode(r.text).length;
        logPre.appendChild(document.createTextNode(r.text));
        if (logPre.textContent!.length > MAX_LOG_CHARS) logPre.textContent = logPre.textContent!.slice(-MAX_LOG_CHARS / 2);
        const size = Number(r.headers.get("X-Log-Size") || 0);
        if (logOffset >= size) break;
      }
      if (follow.checked) logPre.scrollTop = logPre.scrollHeight;
    } finally {
      logBusy = false;
    }
  }

  function setLogs(logs: Record<string, number>): void {
    const names = Object.keys(logs).sort();
    const have = new Set([...logSelect.options].map((o) => o.value));
    for (const n of names) if (!have.has(n)) logSelect.appendChild(h("option", { value: n }, n));
    // Until the user picks one: the driver log (the script's output) as soon as it exists.
    const driver = names.find((n) => n.endsWith("70_driver_log.txt"));
    const pick = !logPicked && (!logName || (driver && logName !== driver)) ? driver || names[0] : "";
    if (pick) {
      logName = pick;
      logOffset = 0;
      logPre.textContent = "";
      logSelect.value = logName;
    }
  }
  logSelect.addEventListener("change", () => {
    logPicked = true;
    logName = logSelect.value;
    logOffset = 0;
    logPre.textContent = "";
    void readLog();
  });

  async function renderFiles(): Promise<void> {
    const r = await get<any>(base + "/artifacts");
    const files: any[] = r.files;
    clear(filesBox, files.length ? h("table", { class: "grid", "aria-label": "Files" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Size"))),
      h("tbody", null, files.map((f) => h("tr", null,
        h("td", null, h("a", { href: base + "/artifacts/" + pathSegs(f.path), download: f.path.split("/").pop() }, f.path)),
        h("td", { class: "num" }, fmtBytes(f.size))))))
      : h("p", { class: "muted" }, "No files."));
    if (!explained && files.some((f) => f.path === "outputs/explanation.json")) {
      explained = true;
      try {
        clear(explainBox, await explanationView(base + "/artifacts/outputs/explanation.json"));
      } catch (e) {
        clear(explainBox, errorBox(e));
      }
    }
  }

  // The snapshot (the source directory as submitted): listed on demand, files by hash.
  const snapshotBox = h("details", { id: "snapshot" }, h("summary", null, "Snapshot (source files as submitted)"));
  snapshotBox.addEventListener("toggle", async () => {
    if (!(snapshotBox as HTMLDetailsElement).open || snapshotBox.querySelector("table, p")) return;
    if (!run.snapshot_id) {
      snapshotBox.appendChild(h("p", { class: "muted" }, "No snapshot (an interactive run without a snapshot directory)."));
      return;
    }
    try {
      const r = await get<any>(base + "/snapshot");
      const files: any[] = r.files || [];
      snapshotBox.appendChild(files.length ? h("table", { class: "grid", "aria-label": "Snapshot files" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Size"))),
        h("tbody", null, files.map((f) => h("tr", null,
          h("td", null, h("a", { href: "/api/v1/blobs/" + f.sha256, download: f.path.split("/").pop() }, f.path)),
          h("td", { class: "num" }, fmtBytes(f.size))))))
        : h("p", { class: "muted" }, "No snapshot (an interactive run without a snapshot directory)."));
    } catch (e) {
      snapshotBox.appendChild(errorBox(e));
    }
  });

  async function onChange(c: Change): Promise<void> {
    const prev = lastChange;
    lastChange = c;
    const tasks: Promise<unknown>[] = [];
    if (!prev || prev.status !== c.status || prev.meta !== c.meta) {
      tasks.push(get<any>(base).then((r) => {
        run = r;
        renderHead();
        renderOverview();
      }));
      tasks.push(renderFiles());
      tasks.push(renderChildren());
    }
    if (!prev || prev.others !== c.others) {
      tasks.push(renderOtherMetrics(c));
      // An image is also a file (the status branch above reads the files already).
      if (prev && prev.status === c.status && prev.meta === c.meta) tasks.push(renderFiles());
    }
    if (!prev || JSON.stringify(prev.metrics) !== JSON.stringify(c.metrics)) {
      tasks.push(refreshMetrics(c.metrics));
    }
    if (prev && prev.status === c.status && prev.meta === c.meta && prev.children !== c.children) {
      tasks.push(renderChildren());
    }
    if (prev && prev.status === c.status && Object.keys(prev.logs).join() !== Object.keys(c.logs).join()) {
      tasks.push(renderFiles());  // a new log file is a new file
    }
    setLogs(c.logs);
    if (logName && (c.logs[logName] || 0) > logOffset) tasks.push(readLog());
    await Promise.all(tasks.map((t) => t.catch(() => undefined)));
  }

  renderHead();
  renderOverview();
  clear(app,
    head,
    overview,
    childrenBox,
    explainBox,
    h("section", { "aria-labelledby": "h-metrics" }, h("h2", { id: "h-metrics" }, "Metrics"),
      h("p", { class: "muted" }, "Drag across a chart to zoom (the range is fetched again at full resolution)."),
      chartsBox, otherMetrics),
    h("section", { "aria-labelledby": "h-logs" }, h("h2", { id: "h-logs" }, "Logs"),
      h("div", { class: "toolbar" }, logSelect, " ", h("label", null, follow, " follow")), logPre),
    h("section", { "aria-labelledby": "h-files" }, h("h2", { id: "h-files" }, "Files"), filesBox, snapshotBox));

  let chain: Promise<void> = initialSeries.then((r) => {
    if (!r) return;
    for (const s of r.series) {
      if (closed || charts.has(s.name)) continue;
      const c = new MetricChart(id, s.name);
      charts.set(s.name, c);
      chartsBox.appendChild(c.el);
      c.apply(s);
    }
  });
  // Live: the server parks the request until the run changes (docs/STUDIO.md).
  const es = new EventSource("/api/v1/studio/runs/" + seg(id) + "/events");
  es.addEventListener("change", (ev) => {
    const c = JSON.parse((ev as MessageEvent).data) as Change;
    chain = chain.then(() => (closed ? undefined : onChange(c))).then(() => {
      app.setAttribute("data-live", String(Date.now()));
    });
  });
  es.onerror = () => {
    /* EventSource reconnects by itself (retry: from the server) */
  };
  return () => {
    closed = true;
    es.close();
    charts.forEach((c) => c.destroy());
  };
}
