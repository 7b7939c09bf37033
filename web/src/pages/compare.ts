// Compare runs (/compare?runs=a,b,c): a parameter/tag diff and overlaid metric charts (one
// uPlot per metric, a series per run, joined on the step axis).
import uPlot from "uplot";
import { get, q, seg } from "../api";
import type { Series } from "../chart";
import { clear, fmtValue, h, link, statusChip } from "../dom";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const MAX_RUNS = 8;
const MAX_CHARTS = 12;

export async function comparePage(app: HTMLElement, _p: string[], query: URLSearchParams): Promise<() => void> {
  const ids = (query.get("runs") || "").split(",").filter(Boolean).slice(0, MAX_RUNS);
  if (ids.length < 2) {
    clear(app, h("h1", null, "Compare runs"), h("p", null, "Select two or more runs in an experiment's table and press “Compare selected”."));
    return () => undefined;
  }
  const runs = await Promise.all(ids.map((id) => get<any>("/api/v1/runs/" + seg(id))));
  const listed = await Promise.all(ids.map((id) =>
    get<{ series: Series[] }>("/api/v1/runs/" + seg(id) + "/series" + q({ max_points: 2 }))));
  const names = new Set<string>();
  listed.forEach((l) => l.series.forEach((s) => names.add(s.name)));

  // Parameters: properties, tags and arguments side by side; rows that differ are marked.
  type Row = [string, string[]];
  const rows: Row[] = [];
  const keys = (pick: (r: any) => Record<string, unknown>, prefix: string) => {
    const all = new Set<string>();
    runs.forEach((r) => Object.keys(pick(r) || {}).forEach((k) => all.add(k)));
    [...all].sort().forEach((k) => rows.push([prefix + k, runs.map((r) => fmtValue((pick(r) || {})[k]))]));
  };
  rows.push(["status", runs.map((r) => r.status)]);
  rows.push(["arguments", runs.map((r) => (r.arguments || []).map((a: unknown) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "))]);
  keys((r) => r.properties, "params.");
  keys((r) => r.tags, "tags.");
  const onlyDiff = h("input", { type: "checkbox", id: "only-diff" }) as HTMLInputElement;
  const diffBody = h("tbody");
  const drawDiff = () => clear(diffBody, rows
    .filter(([, v]) => !onlyDiff.checked || new Set(v).size > 1)
    .map(([k, v]) => h("tr", { class: new Set(v).size > 1 ? "differs" : "" },
      h("th", { scope: "row" }, k), v.map((x) => h("td", null, x)))));
  onlyDiff.addEventListener("change", drawDiff);
  drawDiff();

  const chartsBox = h("div", { class: "charts" });
  clear(app,
    h("h1", null, "Compare " + runs.length + " runs"),
    h("table", { class: "grid", "aria-label": "Run comparison" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, ""), runs.map((r, i) =>
        h("th", { scope: "col" }, h("span", { class: "swatch", style: "background:" + COLORS[i % COLORS.length] }),
          link("/runs/" + seg(r.id), r.display_name || r.id), " ", statusChip(r.status))))),
      diffBody),
    h("p", null, h("label", null, onlyDiff, " only rows that differ")),
    h("h2", null, "Metrics"),
    names.size ? chartsBox : h("p", { class: "muted" }, "No scalar metrics in these runs."));

  const plots: uPlot[] = [];
  for (const name of [...names].sort().slice(0, MAX_CHARTS)) {
    const box = h("div", { class: "chart-canvas" });
    const fig = h("figure", { class: "chart", "data-metric": name }, h("figcaption", null, h("strong", null, name)), box);
    chartsBox.appendChild(fig);
    const width = Math.max(300, (fig.clientWidth || 600) - 20);
    const per = await Promise.all(ids.map((id) =>
      get<{ series: Series[] }>("/api/v1/runs/" + seg(id) + "/series" + q({ name, max_points: width * 2 }))));
    const tables: uPlot.AlignedData[] = per.map((r) => {
      const s = r.series[0];
      const pts = s ? [...s.points].sort((a, b) => a[0] - b[0]) : [];
      return [pts.map((p) => p[0]), pts.map((p) => (typeof p[1] === "number" ? (p[1] as number) : null))];
    });
    const data = uPlot.join(tables);
    plots.push(new uPlot({
      width, height: 220,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, {}],
      series: [{}, ...runs.map((r, i) => ({ label: "Run " + r.number, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
      cursor: { drag: { x: true, y: false } },
    }, data, box));
  }
  return () => plots.forEach((p) => p.destroy());
}
