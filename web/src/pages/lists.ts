// The list pages: experiments, models, datasets, environments, services, compute targets.
import { csrfToken, get, q, seg, send } from "../api";
import { clear, errorBox, fmtBytes, fmtTime, fmtValue, h, kvTable, link, statusChip } from "../dom";

type Col<T> = [string, (row: T) => Node | string];

export function table<T>(label: string, rows: T[], cols: Col<T>[], empty: string): HTMLElement {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    { class: "grid", "aria-label": label },
    h("thead", null, h("tr", null, cols.map(([t]) => h("th", { scope: "col" }, t)))),
    h("tbody", null, rows.map((r) => h("tr", null, cols.map(([, f]) => h("td", null, f(r)))))),
  );
}

function tagText(tags: Record<string, string> | undefined): string {
  return Object.entries(tags || {}).map(([k, v]) => (v ? k + "=" + v : k)).join(", ");
}

export async function experimentsPage(app: HTMLElement): Promise<void> {
  const r = await get<{ experiments: any[] }>("/api/v1/experiments");
  const exps = r.experiments.sort((a, b) => String(b.created_utc).localeCompare(String(a.created_utc)));
  clear(
    app,
    h("h1", null, "Experiments"),
    table("Experiments", exps, [
      ["Name", (e) => link("/experiments/" + seg(e.name), e.name)],
      ["Created", (e) => fmtTime(e.created_utc)],
    ], "No experiments yet: submit a run (Experiment(ws, name).submit(...)) and it appears here."),
  );
}

export async function modelsPage(app: HTMLElement): Promise<void> {
  const r = await get<{ models: any[] }>("/api/v1/models" + q({ latest: true }));
  clear(
    app,
    h("h1", null, "Models"),
    table("Models", r.models, [
      ["Name", (m) => link("/models/" + seg(m.name), m.name)],
      ["Latest version", (m) => String(m.version)],
      ["Framework", (m) => [m.model_framework, m.model_framework_version].filter(Boolean).join(" ") || "—"],
      ["Run", (m) => (m.run_id ? link("/runs/" + seg(m.run_id), m.run_id) : "—")],
      ["Created", (m) => fmtTime(m.created_utc)],
      ["Tags", (m) => tagText(m.tags)],
    ], "No registered models (Model.register or run.register_model)."),
  );
}

export async function modelPage(app: HTMLElement, p: string[]): Promise<void> {
  const r = await get<{ models: any[] }>("/api/v1/models" + q({ name: p[0] }));
  if (!r.models.length) throw new Error("no model named " + p[0]);
  clear(
    app,
    h("h1", null, "Model ", p[0]),
    table("Versions", r.models, [
      ["Version", (m) => String(m.version)],
      ["Framework", (m) => [m.model_framework, m.model_framework_version].filter(Boolean).join(" ") || "—"],
      ["Run (lineage)", (m) => (m.run_id ? link("/runs/" + seg(m.run_id), m.run_id) : "—")],
      ["Datasets", (m) => (m.datasets || []).map((d: any) => d.name || d.id || JSON.stringify(d)).join(", ") || "—"],
      ["Files", (m) => h("ul", { class: "plain" }, (m.files || []).map((f: any) =>
        h("li", null, h("a", { href: "/api/v1/blobs/" + f.sha256, download: f.path.split("/").pop() }, f.path), " ", h("span", { class: "muted" }, fmtBytes(f.size)))))],
      ["Created", (m) => fmtTime(m.created_utc)],
      ["Description", (m) => m.description || ""],
    ], ""),
  );
}

export async function datasetsPage(app: HTMLElement): Promise<void> {
  const r = await get<{ datasets: any[] }>("/api/v1/datasets");
  const body = h("div");
  clear(
    app,
    h("h1", null, "Datasets"),
    table("Datasets", r.datasets, [
      ["Name", (d) => {
        const b = h("button", { type: "button", class: "linkish" }, d.name);
        b.addEventListener("click", () => void showDataset(body, d));
        return b;
      }],
      ["Version", (d) => String(d.version)],
      ["Type", (d) => d.type],
      ["Files", (d) => String((d.definition?.files || []).length)],
      ["Created", (d) => fmtTime(d.created_utc)],
      ["Description", (d) => d.description || ""],
    ], "No registered datasets (Dataset.File/Tabular ... .register)."),
    body,
  );
}

async function showDataset(box: HTMLElement, d: any): Promise<void> {
  clear(box, h("h2", null, d.name + " v" + d.version));
  const files = d.definition?.files || [];
  box.appendChild(table("Files of " + d.name, files, [
    ["Path", (f: any) => f.path],
    ["Size", (f: any) => fmtBytes(f.size || 0)],
    ["Source", (f: any) => JSON.stringify(f.source || {})],
  ], "No files."));
  if (d.type === "tabular") {
    try {
      const rows = await send("POST", "/api/v1/dataset-rows", { definition: d.definition, take: 1000 });
      const cols: any[] = rows.columns || [];
      const n = cols.length ? cols[0].values.length : 0;
      const nums = (c: any): number[] => c.values.filter((v: unknown) => typeof v === "number");
      const stat = (c: any, f: (xs: number[]) => number) => {
        const xs = nums(c);
        return (c.type === "int" || c.type === "float") && xs.length ? fmtValue(f(xs)) : "";
      };
      box.appendChild(h("h3", null, "Profile (first " + n + " of " + rows.num_rows + " rows)"));
      box.appendChild(table("Columns", cols, [
        ["Column", (c: any) => c.name],
        ["Type", (c: any) => c.type],
        ["Missing", (c: any) => String(c.values.filter((v: any) => v === null).length)],
        ["Min", (c: any) => stat(c, (xs) => Math.min(...xs))],
        ["Max", (c: any) => stat(c, (xs) => Math.max(...xs))],
        ["Mean", (c: any) => stat(c, (xs) => xs.reduce((a, b) => a + b, 0) / xs.length)],
        ["Distinct", (c: any) => String(new Set(c.values.map((v: unknown) => JSON.stringify(v))).size)],
        ["Examples", (c: any) => c.values.slice(0, 5).map(fmtValue).join(", ")],
      ], ""));
    } catch (e) {
      box.appendChild(errorBox(e));
    }
  }
}

export async function environmentsPage(app: HTMLElement): Promise<void> {
  const r = await get<{ environments: any[] }>("/api/v1/environments");
  clear(
    app,
    h("h1", null, "Environments"),
    table("Environments", r.environments, [
      ["Name", (e) => e.name],
      ["Version", (e) => String(e.version ?? "")],
      ["Curated", (e) => (e.curated ? "yes" : "no")],
      ["Spec", (e) => h("details", null, h("summary", null, "show"), h("pre", null, JSON.stringify(e.spec, null, 2)))],
      ["Created", (e) => fmtTime(e.created_utc)],
    ], "No environments."),
  );
}

function scoreForm(box: HTMLElement, s: any): void {
  const id = "score-body";
  const body = h("textarea", { id, rows: 6, cols: 70 }, JSON.stringify({ data: [[0, 0, 0, 0]] })) as HTMLTextAreaElement;
  const out = h("pre", { id: "score-result", "aria-live": "polite" });
  const form = h("form", { class: "score", "aria-label": "Test " + s.name },
    h("h2", null, "Test " + s.name), h("label", { for: id }, "Request body (JSON)"), body,
    h("button", { type: "submit" }, "Score"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.textContent = "…";
    // Through the server: the scoring front is another origin and its key stays hidden.
    const res = await fetch("/api/v1/studio/services/" + seg(s.name) + "/score", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Trainyard-CSRF": await csrfToken() },
      body: body.value,
    });
    const text = await res.text();
    out.textContent = res.status + "\n" + text;
  });
  clear(box, form);
  body.focus();
}

export async function servicesPage(app: HTMLElement): Promise<void> {
  const r = await get<{ services: any[] }>("/api/v1/services");
  const formBox = h("div");
  clear(
    app,
    h("h1", null, "Services"),
    table("Services", r.services, [
      ["Name", (s) => s.name],
      ["State", (s) => statusChip(s.state)],
      ["Scoring URI", (s) => h("code", null, s.scoring_uri || "")],
      ["Models", (s) => (s.models || []).map((m: any) => m.id).join(", ")],
      ["Keys", (s) => {
        if (!s.auth_enabled) return "auth off";
        const b = h("button", { type: "button", class: "small" }, "Show keys");
        b.addEventListener("click", async () => {
          const k = await get("/api/v1/services/" + seg(s.name) + "/keys");
          b.replaceWith(h("code", null, k.primaryKey));
        });
        return b;
      }],
      ["Updated", (s) => fmtTime(s.updated_utc)],
      ["Test", (s) => {
        const b = h("button", { type: "button", class: "small" }, "Test " + s.name);
        b.addEventListener("click", () => scoreForm(formBox, s));
        return b;
      }],
    ], "No web services (Model.deploy)."),
    formBox,
  );
}

export async function computePage(app: HTMLElement): Promise<void> {
  const r = await get<{ compute_targets: any[] }>("/api/v1/compute-targets");
  const ws = await get<any>("/api/v1/workspace");
  clear(
    app,
    h("h1", null, "Compute targets"),
    h("p", null, "Targets of workspace ", h("strong", null, ws.name), ": ", (ws.compute_targets || []).join(", ")),
    table("Compute targets", r.compute_targets, [
      ["Name", (t) => t.name],
      ["Type", (t) => t.type + " (" + t.kind + ")"],
      ["State", (t) => statusChip(t.provisioning_state)],
      ["Settings", (t) => kvTable(t.settings, "Settings")],
      ["Created", (t) => fmtTime(t.created_utc)],
    ], "Only the built-in 'local' target (attach one with `trainyard compute create`)."),
  );
}
