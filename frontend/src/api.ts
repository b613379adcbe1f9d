/**
 * REST calls to the Django API. Every failure becomes an ApiError whose message a person can read: the
 * server's {"error": {"code", "message", "details"}} body when there is one, else a sentence about the status.
 */

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function csrfToken(cookie: string = typeof document === "undefined" ? "" : document.cookie): string {
  const match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(cookie);
  return match ? decodeURIComponent(match[1]!) : "";
}

function statusMessage(status: number): string {
  if (status === 401 || status === 403) return "You are not allowed to do this (are you still logged in?).";
  if (status === 404) return "Not found: it may have been deleted, or you are not a member of its project.";
  if (status === 413) return "That upload is too large.";
  if (status >= 500) return `The server failed (${status}). Try again; if it keeps happening, tell an administrator.`;
  return `The request failed (${status}).`;
}

/** Turn a failed Response into an ApiError. */
export async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    /* an HTML error page or nothing */
  }
  const error = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)
    ?.error;
  if (error?.message) return new ApiError(response.status, error.code ?? "error", error.message, error.details ?? {});
  return new ApiError(response.status, `http_${response.status}`, statusMessage(response.status));
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class Api {
  constructor(
    private readonly fetchFn: Fetch = (input, init) => fetch(input, init),
    private readonly csrf: () => string = () => csrfToken(),
  ) {}

  async response(path: string, options: RequestOptions = {}): Promise<Response> {
    const method = options.method ?? "GET";
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    let body: BodyInit | undefined;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = this.csrf();
    let response: Response;
    try {
      response = await this.fetchFn(path, { method, headers, body, credentials: "same-origin", signal: options.signal });
    } catch (error) {
      if ((error as Error)?.name === "AbortError") throw error;
      throw new ApiError(0, "network", "The server could not be reached. Check your connection; retrying.");
    }
    if (response.redirected && new URL(response.url, "http://x").pathname.startsWith("/login")) {
      throw new ApiError(401, "logged_out", "Your session has expired. Log in again to keep working.");
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.response(path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.json<T>(path, { signal });
  }

  post<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T> {
    return this.json<T>(path, { method: "POST", body, headers });
  }
}
