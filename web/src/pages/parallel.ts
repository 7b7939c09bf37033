// Parallel coordinates of a sweep's children (SVG): one axis per hyperparameter and one for
// the primary metric, one line per child (the best one drawn last and thicker).
const NS = "http://www.w3.org/2000/svg";

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function parallelCoordinates(rows: { id: string; params: Record<string, unknown>; metric: number | null }[],
                                    metricName: string, best: string | undefined): SVGSVGElement | null {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
  if (!keys.length || rows.length < 2) return null;
  const axes = [...keys, metricName];
  const W = Math.max(420, 150 * axes.length), H = 240, top = 24, bottom = 24, left = 40;
  const step = (W - 2 * left) / (axes.length - 1);
  // Each axis maps its values to [0, 1]: numbers by min/max, other values by rank.
  const scale = axes.map((a, i) => {
    const vals = rows.map((r) => (i < keys.length ? r.params[a] : r.metric));
    const nums = vals.filter((v): v is number => typeof v === "number" && isFinite(v));
    if (nums.length === vals.filter((v) => v !== null && v !== undefined).length && nums.length) {
      const lo = Math.min(...nums), hi = Math.max(...nums);
      return { f: (v: unknown) => (typeof v === "number" ? (hi > lo ? (v - lo) / (hi - lo) : 0.5) : null), lo: String(+lo.toPrecision(4)), hi: String(+hi.toPrecision(4)) };
    }
    const cats = [...new Set(vals.map((v) => JSON.stringify(v)))].sort();
    return { f: (v: unknown) => (cats.length > 1 ? cats.indexOf(JSON.stringify(v)) / (cats.length - 1) : 0.5), lo: cats[0] || "", hi: cats[cats.length - 1] || "" };
  });
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Parallel coordinates of the child runs" }) as SVGSVGElement;
  axes.forEach((a, i) => {
    const x = left + i * step;
    svg.appendChild(el("line", { x1: x, y1: top, x2: x, y2: H - bottom, stroke: "#9ca3af" }));
    const t = el("text", { x, y: 14, "text-anchor": "middle", "font-size": 12 });
    t.textContent = a;
    svg.appendChild(t);
    const lo = el("text", { x: x + 4, y: H - bottom + 14, "font-size": 10, fill: "#6b7280" });
    lo.textContent = scale[i].lo;
    const hi = el("text", { x: x + 4, y: top + 10, "font-size": 10, fill: "#6b7280" });
    hi.textContent = scale[i].hi;
    svg.append(lo, hi);
  });
  const ordered = [...rows].sort((a, b) => (a.id === best ? 1 : b.id === best ? -1 : 0));
  for (const r of ordered) {
    const pts: string[] = [];
    axes.forEach((a, i) => {
      const y = scale[i].f(i < keys.length ? r.params[a] : r.metric);
      if (y !== null) pts.push(`${left + i * step},${H - bottom - y * (H - top - bottom)}`);
    });
    const line = el("polyline", { points: pts.join(" "), fill: "none", stroke: r.id === best ? "#16a34a" : "#2563eb",
      "stroke-width": r.id === best ? 3 : 1.2, "stroke-opacity": r.id === best ? 1 : 0.6, "data-run": r.id });
    svg.appendChild(line);
  }
  return svg;
}
