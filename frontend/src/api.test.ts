import { describe, expect, it } from "vitest";
import { Api, ApiError, csrfToken } from "./api";

function fakeFetch(status: number, body: unknown, calls: { url: string; init?: RequestInit }[] = []) {
  return async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status });
  };
}

describe("api", () => {
  it("reads the CSRF token from the cookie", () => {
    expect(csrfToken("sessionid=x; csrftoken=abc%3D; other=1")).toBe("abc=");
    expect(csrfToken("")).toBe("");
  });

  it("sends JSON with the CSRF header on POST", async () => {
    const calls: { url: string; init?: RequestInit }[] = [];
    const api = new Api(fakeFetch(201, { ok: true }, calls), () => "tok");
    await expect(api.post("/api/x/", { a: 1 }, { "X-Delineate-Socket": "s1" })).resolves.toEqual({ ok: true });
    const headers = calls[0]!.init!.headers as Record<string, string>;
    expect(headers["X-CSRFToken"]).toBe("tok");
    expect(headers["X-Delineate-Socket"]).toBe("s1");
    expect(calls[0]!.init!.body).toBe('{"a":1}');
  });

  it("turns the server's error body into an ApiError with its code and message", async () => {
    const api = new Api(
      fakeFetch(409, { error: { code: "conflict", message: "anna saved revision 4.", details: { head_revision: 12 } } }),
    );
    const error = await api.post("/api/x/", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: "conflict", message: "anna saved revision 4.", details: { head_revision: 12 } });
  });

  it("describes a bare 500 page in words instead of showing HTML", async () => {
    const api = new Api(fakeFetch(500, "<html>Server Error</html>"));
    await expect(api.get("/api/x/")).rejects.toThrow(/server failed \(500\)/);
  });

  it("reports an unreachable server as a network error", async () => {
    const api = new Api(async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(api.get("/api/x/")).rejects.toMatchObject({ status: 0, code: "network" });
  });
});
