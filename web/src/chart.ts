// One scalar metric series drawn by uPlot (canvas). The points come downsampled by the server
// (GET /runs/{id}/series?max_points=, min/max per bucket) to about two per pixel; a zoom (drag
// across the chart) fetches the zoomed step range again at full resolution for that width.
import uPlot from "uplot";
import { get, q, seg } from "./api";
import { h } from "./dom";

export interface Series {
  name: string;
  count: number;
  downsampled: boolean;
  points: [number, unknown, number | null][];
}

export class MetricChart {
  el: HTMLElement;
  private plot: uPlot | null = null;
  private log = false;
  private range: [number, number] | null = null;
  private info: HTMLElement;
  private box: HTMLElement;
  private loading = false;
  private pending = false;
  count = 0;

  constructor(private runId: string, public name: string) {
    this.info = h("span", { class: "muted chart-info" });
    const logBox = h("input", { type: "checkbox", "aria-label": "Log scale for " + name }) as HTMLInputElement;
    logBox.addEventListener("change", () => {
      this.log = logBox.checked;
      this.refresh();
    });
    const reset = h("button", { type: "button", class: "small" }, "Reset zoom");
    reset.addEventListener("click", () => {
      this.range = null;
      this.refresh();
    });
    this.box = h("div", { class: "chart-canvas" });
    this.el = h(
      "figure",
      { class: "chart", "data-metric": name },
      h("figcaption", null, h("strong", null, name), " ", this.info, " ",
        h("label", null, logBox, " log scale"), " ", reset),
      this.box,
    );
  }

  // True while the chart shows the whole series (not zoomed): it can take a batch fetch.
  get whole(): boolean {
    return this.range === null;
  }

  width(): number {
    return Math.max(300, Math.min(this.el.clientWidth || 520, 900) - 10);
  }

  // Fetches the series (the zoomed range, if any) and draws it. Coalesces concurrent calls.
  async refresh(): Promise<void> {
    if (this.loading) {
      this.pending = true;
      return;
    }
    this.loading = true;
    try {
      const w = this.width();
      const params: Record<string, string | number> = { name: this.name, max_points: Math.max(2, w * 2) };
      if (this.range) {
        params.start_step = Math.floor(this.range[0]);
        params.end_step = Math.ceil(this.range[1]);
      }
      const r = await get<{ series: Series[] }>("/api/v1/runs/" + seg(this.runId) + "/series" + q(params));
      const s = r.series[0];
      if (s) this.draw(s, w);
    } finally {
      this.loading = false;
      if (this.pending) {
        this.pending = false;
        void this.refresh();
      }
    }
  }

  // Draws a series fetched by the page (a batch of whole series at this chart's width).
  apply(s: Series): void {
    if (this.range === null && !this.loading) this.draw(s, this.width());
  }

  private draw(s: Series, w: number): void {
    this.count = s.count;
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    for (const p of s.points) {
      const v = typeof p[1] === "number" ? (p[1] as number) : null;
      xs.push(p[0]);
      ys.push(this.log && v !== null && v <= 0 ? null : v);
    }
    this.info.textContent = s.count + " points" + (s.downsampled ? ", " + s.points.length + " drawn (min/max per bucket)" : "");
    this.el.setAttribute("data-count", String(s.count));
    const data: uPlot.AlignedData = [xs, ys];
    const opts: uPlot.Options = {
      width: w,
      height: 220,
      scales: {
        x: { time: false },
        y: this.log ? { distr: 3 } : {},
      },
      axes: [{ label: "step" }, {}],
      series: [{}, { label: this.name, stroke: "#2563eb", width: 1.5, spanGaps: false, points: { show: xs.length < 60 } }],
      cursor: { drag: { x: true, y: false } },
      legend: { show: true },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width < 4) return;
            const a = u.posToVal(u.select.left, "x");
            const b = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.range = [a, b];
            void this.refresh();
          },
        ],
      },
    };
    if (this.plot && this.plot.series.length === 2 && (this.plot as any)._log === this.log) {
      this.plot.setData(data);
      performance.mark("studio:chart:" + this.name);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.plot = new uPlot(opts, data, this.box);
    (this.plot as any)._log = this.log;
    performance.mark("studio:chart:" + this.name); // when it was drawn (bench/p13_p15_studio.py)
  }

  destroy(): void {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
