// The studio's calls to the workspace REST API (docs/REST.md), authenticated by the session
// cookie; writes carry the session's CSRF token (docs/STUDIO.md).

let csrf = "";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

export function loginPath(): string {
  const here = location.pathname + location.search;
  return "/login?next=" + encodeURIComponent(here);
}

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let code = "HttpError";
  let message = res.status + " " + res.statusText;
  try {
    const j = await res.json();
    if (j && j.error) {
      code = j.error.code;
      message = j.error.message;
    }
  } catch (_) {
    /* not JSON */
  }
  if (res.status === 401 && !location.pathname.startsWith("/login")) {
    history.pushState(null, "", loginPath());
    window.dispatchEvent(new PopStateEvent("popstate"));
  }
  throw new ApiError(res.status, code, message);
}

let session: Promise<boolean> | null = null;

// Fetches the session's CSRF token (again when `force`); false when not logged in.
export function loadSession(force = false): Promise<boolean> {
  if (!session || force) {
    session = (async () => {
      const res = await fetch("/api/v1/studio/session", { credentials: "same-origin" });
      if (!res.ok) return false;
      const j = await res.json();
      csrf = j.csrf_token || "";
      return true;
    })();
  }
  return session;
}

// The session's CSRF token (for writes that are not JSON API calls).
export async function csrfToken(): Promise<string> {
  await loadSession();
  return csrf;
}

export async function get<T = any>(path: string): Promise<T> {
  const res = await check(await fetch(path, { credentials: "same-origin" }));
  return res.json();
}

export async function getText(path: string): Promise<{ text: string; headers: Headers }> {
  const res = await check(await fetch(path, { credentials: "same-origin" }));
  return { text: await res.text(), headers: res.headers };
}

export async function send<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  await loadSession();
  const res = await check(
    await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Trainyard-CSRF": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  return res.json();
}

export async function login(token: string): Promise<void> {
  const res = await fetch("/api/v1/studio/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Trainyard-Studio": "1" },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) {
    let message = "login failed (" + res.status + ")";
    try {
      message = (await res.json()).error.message;
    } catch (_) {
      /* keep */
    }
    throw new ApiError(res.status, "LoginFailed", message);
  }
  await loadSession(true);
}

export function q(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    u.append(k, String(v));
  }
  const s = u.toString();
  return s ? "?" + s : "";
}

export function seg(s: string): string {
  return encodeURIComponent(s);
}

export function pathSegs(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}
