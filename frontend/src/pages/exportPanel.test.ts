import { describe as group, expect, it } from "vitest";
import { Api } from "../api";
import { describe, type ExportJob, ExportTracker, type ExportView } from "./exportPanel";
import { manualClock } from "../testing/clock";

type Call = { url: string; method: string; body: unknown };

function job(state: ExportJob["state"], progress = 0, extra: Partial<ExportJob> = {}): ExportJob {
  return { id: 7, kind: "export", state, progress, message: `${state} ${progress}`, error: "", ...extra };
}

/** A server whose replies are queued per URL; records every call. */
function fakeServer(replies: Record<string, { status: number; body: unknown }[]>, calls: Call[]) {
  return async (url: string, init?: RequestInit) => {
    calls.push({ url, method: init?.method ?? "GET", body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const reply = replies[url]?.shift() ?? { status: 500, body: {} };
    return new Response(JSON.stringify(reply.body), { status: reply.status });
  };
}

function tracker(replies: Record<string, { status: number; body: unknown }[]>) {
  const calls: Call[] = [];
  const views: ExportView[] = [];
  const time = manualClock();
  const t = new ExportTracker(new Api(fakeServer(replies, calls), () => "tok"), 3, (v) => views.push(v), {
    pollMs: 1000,
    ...time,
  });
  return { t, calls, views, time };
}

group("export tracker", () => {
  it("posts the chosen format and annotator, then follows socket progress to a download link", async () => {
    const { t, calls, views } = tracker({ "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }] });
    await t.start({ format: "dicom-seg", annotator: "anna", masks: "all" });
    expect(calls[0]).toEqual({ url: "/api/projects/3/exports/", method: "POST", body: { format: "dicom-seg", annotator: "anna", masks: "all" } });
    expect(t.view.phase).toBe("pending");

    t.onServerMessage({ type: "job.progress", job: job("running", 0.4) });
    t.onServerMessage({ type: "job.progress", job: job("running", 0.2) }); // out of order: never backwards
    expect(t.view.progress).toBe(0.4);
    t.onServerMessage({
      type: "job.progress",
      job: job("done", 1, { message: "Exported 2 series.", result: { download_url: "/api/exports/7/download", filename: "p.zip" } }),
    } as never);

    expect(t.view).toMatchObject({ phase: "done", progress: 1, downloadUrl: "/api/exports/7/download", filename: "p.zip" });
    expect(describe(t.view)).toBe("Exported 2 series.");
    expect(views.map((v) => v.phase)).toEqual(["starting", "pending", "running", "running", "done"]);
  });

  it("lists the series a finished export skipped, with the reason", async () => {
    const { t } = tracker({ "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }] });
    await t.start({ format: "dicom-seg" });
    const skipped = [{ series: 4, description: "NIfTI volume 8×8×3", annotator: "anna", reason: "DICOM SEG needs a series imported from DICOM" }];
    t.onJob(job("done", 1, { message: "Exported 2 series (1 files); 1 skipped, see manifest.json.", result: { skipped: 1, skipped_series: skipped } }));
    expect(t.view).toMatchObject({ phase: "done", skipped });
  });

  it("asks for a COCO export without images only when the box is unticked", async () => {
    const { t, calls } = tracker({ "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }, { status: 202, body: { job: { ...job("pending"), id: 8 } } }] });
    await t.start({ format: "coco", images: false });
    expect(calls[0]!.body).toEqual({ format: "coco", images: false });
    t.onJob(job("done", 1));
    await t.start({ format: "png", images: false });
    expect(calls[1]!.body).toEqual({ format: "png" });
  });

  it("ignores progress of other jobs and anything after the job finished", async () => {
    const { t } = tracker({ "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }] });
    t.onServerMessage({ type: "job.progress", job: { ...job("running", 0.9), id: 99 } }); // before ours exists
    await t.start({ format: "png" });
    t.onServerMessage({ type: "job.progress", job: { ...job("running", 0.9), id: 99 } });
    expect(t.view).toMatchObject({ jobId: 7, phase: "pending", progress: 0 });
    t.onJob(job("failed", 0, { error: "The export failed unexpectedly (OSError)." }));
    t.onJob(job("done", 1));
    expect(t.view).toMatchObject({ phase: "failed", error: "The export failed unexpectedly (OSError).", downloadUrl: null });
  });

  it("polls the job when the socket is silent and stops polling once it is done", async () => {
    const { t, calls, time } = tracker({
      "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }],
      "/api/jobs/7/": [
        { status: 200, body: job("running", 0.5) },
        { status: 200, body: job("done", 1, { result: { download_url: "/api/exports/7/download" } }) },
      ],
    });
    await t.start({ format: "nifti" });
    await time.advance(1000);
    expect(t.view).toMatchObject({ phase: "running", progress: 0.5 });
    await time.advance(1000);
    expect(t.view).toMatchObject({ phase: "done", downloadUrl: "/api/exports/7/download" });
    expect(calls.filter((c) => c.url === "/api/jobs/7/")).toHaveLength(2);
    expect(time.scheduled).toBe(0);
  });

  it("does not poll while the socket is delivering progress", async () => {
    const { t, calls, time } = tracker({ "/api/projects/3/exports/": [{ status: 202, body: { job: job("pending") } }] });
    await t.start({ format: "coco" });
    for (let i = 1; i <= 3; i++) {
      await time.advance(500);
      t.onServerMessage({ type: "job.progress", job: job("running", i / 10) });
      await time.advance(500);
    }
    expect(calls.filter((c) => c.url === "/api/jobs/7/")).toHaveLength(0);
    expect(t.view.progress).toBeCloseTo(0.3);
  });

  it("shows the server's message when the export is refused", async () => {
    const { t } = tracker({
      "/api/projects/3/exports/": [
        { status: 400, body: { error: { code: "invalid_input", message: "DICOM SEG references DICOM source images." } } },
      ],
    });
    await t.start({ format: "dicom-seg" });
    expect(t.view).toMatchObject({ phase: "failed", error: "DICOM SEG references DICOM source images.", jobId: null });
    expect(t.busy).toBe(false);
  });
});
