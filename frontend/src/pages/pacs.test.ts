import { describe as group, expect, it } from "vitest";
import { Api } from "../api";
import { manualClock } from "../testing/clock";
import {
  describeJob,
  describeSource,
  type JobView,
  type PacsJob,
  PacsJobTracker,
  searchQuery,
  type SeriesResult,
  SeriesSelection,
  seriesLine,
  type SourceInfo,
  sourcePayload,
  studyLine,
} from "./pacs";

const stored: SourceInfo = {
  configured: true,
  base_url: "https://pacs.example.org/dicom-web",
  auth: "basic",
  username: "ris",
  has_secret: true,
  updated_at: "2026-01-01T00:00:00Z",
  updated_by: "olivia",
};

group("PACS settings", () => {
  it("sends a basic-auth source with its password, and no username or secret without authentication", () => {
    expect(sourcePayload({ baseUrl: " https://pacs/dicom-web ", auth: "basic", username: " ris ", secret: "pw" }, null)).toEqual({
      ok: true,
      payload: { base_url: "https://pacs/dicom-web", auth: "basic", username: "ris", secret: "pw" },
    });
    expect(sourcePayload({ baseUrl: "http://pacs:8042/dicom-web", auth: "none", username: "x", secret: "y" }, null)).toEqual({
      ok: true,
      payload: { base_url: "http://pacs:8042/dicom-web", auth: "none" },
    });
  });

  it("keeps the stored secret when it is left blank for the same method and user, and asks for one otherwise", () => {
    const keep = sourcePayload({ baseUrl: stored.base_url, auth: "basic", username: "ris", secret: "" }, stored);
    expect(keep).toEqual({ ok: true, payload: { base_url: stored.base_url, auth: "basic", username: "ris" } });
    expect(sourcePayload({ baseUrl: stored.base_url, auth: "basic", username: "other", secret: "" }, stored)).toEqual({
      ok: false,
      error: "Give the password for the PACS.",
    });
    expect(sourcePayload({ baseUrl: stored.base_url, auth: "bearer", username: "", secret: "" }, stored)).toEqual({
      ok: false,
      error: "Give the token for the PACS.",
    });
  });

  it("names what is wrong with a URL or a missing user name before anything is sent", () => {
    for (const baseUrl of ["pacs/dicom-web", "ftp://pacs", ""]) {
      expect(sourcePayload({ baseUrl, auth: "none", username: "", secret: "" }, null)).toMatchObject({ ok: false, error: expect.stringContaining("DICOMweb URL") });
    }
    expect(sourcePayload({ baseUrl: "http://pacs/dicom-web?x=1", auth: "none", username: "", secret: "" }, null)).toMatchObject({
      ok: false,
      error: expect.stringContaining("query"),
    });
    expect(sourcePayload({ baseUrl: "http://pacs", auth: "basic", username: " ", secret: "pw" }, null)).toEqual({
      ok: false,
      error: "HTTP basic authentication needs a user name.",
    });
  });

  it("describes the source without ever showing a secret", () => {
    expect(describeSource(stored)).toBe("https://pacs.example.org/dicom-web · basic authentication as ris (secret stored on the server)");
    expect(describeSource({ configured: false })).toContain("No PACS yet");
  });
});

group("PACS search", () => {
  it("builds the query from filled fields only, modality upper-cased", () => {
    expect(searchQuery({ modality: " mr ", dateFrom: "2001-03-01", dateTo: "", accession: "" })).toBe("modality=MR&date_from=2001-03-01&limit=25");
    expect(searchQuery({ modality: "", dateFrom: "", dateTo: "", accession: " A 1 " }, 10)).toBe("accession=A+1&limit=10");
  });

  it("shows studies and series with shifted dates and counts", () => {
    expect(studyLine({ handle: "h", date: "1994-06-02", modalities: ["MR"], series_count: 1, instance_count: 20 })).toBe(
      "MR · 1994-06-02 (shifted) · 1 series · 20 images",
    );
    const series: SeriesResult = { handle: "s", modality: "MR", number: 2, body_part: "HEAD", date: null, instance_count: 20, importable: true, reason: "", imported_series: null };
    expect(seriesLine(series)).toBe("MR series 2 · HEAD · 20 images");
  });

  it("selects only importable series", () => {
    const picked = new SeriesSelection();
    const base = { modality: "MR", number: 1, body_part: "", date: null, instance_count: 1, reason: "", imported_series: null };
    picked.toggle({ ...base, handle: "a", importable: true }, true);
    picked.toggle({ ...base, handle: "b", importable: false, reason: "SEG objects hold no images to annotate." }, true);
    picked.toggle({ ...base, handle: "c", importable: true }, true);
    picked.toggle({ ...base, handle: "c", importable: true }, false);
    expect(picked.handles).toEqual(["a"]);
  });
});

type Call = { url: string; method: string; body: unknown };

function job(state: PacsJob["state"], progress = 0, extra: Partial<PacsJob> = {}): PacsJob {
  return { id: 9, kind: "pacs-import", state, progress, message: `${state} ${progress}`, error: "", ...extra };
}

function tracker(replies: Record<string, { status: number; body: unknown }[]>) {
  const calls: Call[] = [];
  const views: JobView[] = [];
  const time = manualClock();
  const fetchFn = async (url: string, init?: RequestInit) => {
    calls.push({ url, method: init?.method ?? "GET", body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const reply = replies[url]?.shift() ?? { status: 500, body: {} };
    return new Response(JSON.stringify(reply.body), { status: reply.status });
  };
  const t = new PacsJobTracker(new Api(fetchFn, () => "tok"), (v) => views.push(v), { pollMs: 1000, ...time });
  return { t, calls, views, time };
}

group("PACS job tracker", () => {
  it("posts the chosen handles and follows the import over the socket to the new series", async () => {
    const { t, calls, views } = tracker({ "/api/projects/4/pacs/imports/": [{ status: 202, body: { job: job("pending") } }] });
    await t.start("/api/projects/4/pacs/imports/", { series: ["h1", "h2"] });
    expect(calls[0]).toEqual({ url: "/api/projects/4/pacs/imports/", method: "POST", body: { series: ["h1", "h2"] } });
    t.onServerMessage({ type: "job.progress", job: job("running", 0.4) });
    t.onServerMessage({ type: "job.progress", job: job("running", 0.2) }); // out of order: never backwards
    t.onServerMessage({ type: "job.progress", job: { ...job("running", 0.9), id: 99 } }); // another job
    expect(t.view.progress).toBe(0.4);
    t.onServerMessage({ type: "job.progress", job: job("done", 1, { message: "Imported 1 series from the PACS.", result: { series: [31] } }) });
    expect(t.view).toMatchObject({ phase: "done", result: { series: [31] } });
    expect(describeJob(t.view)).toBe("Imported 1 series from the PACS.");
    expect(views.map((v) => v.phase)).toEqual(["starting", "pending", "running", "running", "done"]);
    expect(t.busy).toBe(false);
  });

  it("shows the server's reason when the request is refused or the job fails", async () => {
    const { t } = tracker({
      "/api/projects/4/pacs/imports/": [{ status: 409, body: { error: { code: "conflict", message: "These series are already in the project." } } }],
    });
    await t.start("/api/projects/4/pacs/imports/", { series: ["h1"] });
    expect(t.view).toMatchObject({ phase: "failed", error: "These series are already in the project.", jobId: null });

    const second = tracker({ "/api/projects/4/pacs/exports/": [{ status: 202, body: { job: job("pending") } }] });
    await second.t.start("/api/projects/4/pacs/exports/", {});
    second.t.onJob(job("failed", 0, { error: "The PACS at pacs:8042 refused the credentials (HTTP 401) while sending the segmentations." }));
    second.t.onJob(job("done", 1));
    expect(describeJob(second.t.view)).toContain("refused the credentials");
  });

  it("polls the job while the socket is silent and stops once it has finished", async () => {
    const { t, calls, time } = tracker({
      "/api/projects/4/pacs/exports/": [{ status: 202, body: { job: job("pending") } }],
      "/api/jobs/9/": [{ status: 200, body: job("running", 0.5) }, { status: 200, body: job("done", 1, { message: "Sent 1 segmentation to the PACS." }) }],
    });
    await t.start("/api/projects/4/pacs/exports/", {});
    await time.advance(1000);
    expect(t.view).toMatchObject({ phase: "running", progress: 0.5 });
    await time.advance(1000);
    expect(t.view).toMatchObject({ phase: "done", message: "Sent 1 segmentation to the PACS." });
    expect(calls.filter((c) => c.url === "/api/jobs/9/")).toHaveLength(2);
    expect(time.scheduled).toBe(0);
  });
});
