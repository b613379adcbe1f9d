import { describe, expect, it } from "vitest";
import {
  buildImportForm,
  describeUpload,
  type EntryLike,
  filesFromDrop,
  filesFromList,
  formatBytes,
  type ImportJob,
  isJunk,
  kindOf,
  refusedList,
  summarize,
  type TransportReply,
  UploadTracker,
  type UploadView,
  walkEntry,
} from "./upload";
import { manualClock } from "./testing/clock";

// -- a fake file system of entries, with directories read in batches as Chromium does ------------------

type Tree = { [name: string]: string | Tree };

function entry(name: string, node: string | Tree, parent = "", batch = 2): EntryLike {
  const fullPath = `${parent}/${name}`;
  if (typeof node === "string") {
    return { isFile: true, isDirectory: false, name, fullPath, file: (ok: (f: File) => void) => ok(new File([node], name)) } as EntryLike;
  }
  const children = Object.entries(node).map(([n, child]) => entry(n, child, fullPath, batch));
  return {
    isFile: false,
    isDirectory: true,
    name,
    fullPath,
    createReader: () => {
      let at = 0;
      return {
        readEntries: (ok: (e: EntryLike[]) => void) => {
          const out = children.slice(at, at + batch);
          at += out.length;
          setTimeout(() => ok(out), 0);
        },
      };
    },
  } as EntryLike;
}

function item(thing: EntryLike | File | null, file: File | null = null) {
  return {
    kind: "file",
    webkitGetAsEntry: () => (thing && !(thing instanceof File) ? thing : null),
    getAsFile: () => (thing instanceof File ? thing : file),
  };
}

describe("folder walking", () => {
  it("walks nested folders in batches, in name order, keeping relative paths and skipping hidden files", async () => {
    const root = entry("study", {
      "b.dcm": "bb",
      "a.dcm": "a",
      ".DS_Store": "junk",
      series2: { "c.dcm": "ccc", "d.dcm": "d", "e.dcm": "e", __MACOSX: { "x.dcm": "x" } },
      ".git": { "y.dcm": "y" },
    });
    const picked = await walkEntry(root);
    expect(picked.map((p) => p.path)).toEqual(["study/a.dcm", "study/b.dcm", "study/series2/c.dcm", "study/series2/d.dcm", "study/series2/e.dcm"]);
    expect(await picked[2]!.file.text()).toBe("ccc");
  });

  it("takes a drop of folders and loose files together; items without an entry give their File", async () => {
    const loose = new File(["png"], "slice.png");
    const picked = await filesFromDrop([item(entry("scan", { "1.dcm": "1", "2.dcm": "2" })), item(loose), { kind: "string", getAsFile: () => null }]);
    expect(picked.map((p) => p.path)).toEqual(["scan/1.dcm", "scan/2.dcm", "slice.png"]);
    expect(picked[2]!.file).toBe(loose);
  });

  it("falls back to the drop's file list when there are no items", async () => {
    const a = new File(["a"], "a.nii.gz");
    expect((await filesFromDrop(null, [a])).map((p) => p.path)).toEqual(["a.nii.gz"]);
  });

  it("keeps a folder picker's relative paths and drops hidden files", () => {
    const f = Object.assign(new File(["x"], "1.dcm"), { webkitRelativePath: "ct/1.dcm" });
    const hidden = Object.assign(new File(["x"], ".hidden"), { webkitRelativePath: "ct/.hidden" });
    expect(filesFromList([f, hidden, new File(["y"], "v.nii")]).map((p) => p.path)).toEqual(["ct/1.dcm", "v.nii"]);
  });

  it("knows junk from real files", () => {
    expect(isJunk("a/.DS_Store")).toBe(true);
    expect(isJunk("Thumbs.db")).toBe(true);
    expect(isJunk("__MACOSX/a.dcm")).toBe(true);
    expect(isJunk("scan/IM0001")).toBe(false);
    expect(isJunk("scan.v2/IM0001.dcm")).toBe(false);
  });
});

describe("the multipart body and the summary", () => {
  it("sends every file as a `files` part named by its path, and the modality when chosen", async () => {
    const picked = [
      { file: new File(["abc"], "1.dcm"), path: "scan/1.dcm" },
      { file: new File(["z"], "v.nii.gz"), path: "v.nii.gz" },
    ];
    const form = buildImportForm(picked, { modality: "MR" });
    const parts = form.getAll("files") as File[];
    expect(parts.map((f) => f.name)).toEqual(["scan/1.dcm", "v.nii.gz"]);
    expect(await parts[0]!.text()).toBe("abc");
    expect(form.get("modality")).toBe("MR");
    expect(buildImportForm(picked).has("modality")).toBe(false);
  });

  it("names what was picked", () => {
    expect(kindOf("IM0001")).toBe("dicom");
    expect(kindOf("A.NII.GZ")).toBe("nifti");
    expect(kindOf("x.tif")).toBe("image");
    expect(kindOf("all.zip")).toBe("zip");
    const picked = [
      ...[1, 2].map((i) => ({ file: new File(["x".repeat(1024)], `${i}.dcm`), path: `${i}.dcm` })),
      { file: new File(["y".repeat(2048)], "v.nii"), path: "v.nii" },
    ];
    expect(summarize(picked)).toBe("2 DICOM files, 1 NIfTI volume (4.0 KB)");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(5 * 1024 * 1024 + 1)).toBe("5.0 MB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300 MB");
  });
});

// -- the tracker ---------------------------------------------------------------------------------------

function job(state: ImportJob["state"], progress = 0, extra: Partial<ImportJob> = {}): ImportJob {
  return { id: 9, kind: "import", state, progress, message: `${state} ${progress}`, error: "", ...extra };
}

const files = [
  { file: new File(["a".repeat(600)], "1.dcm"), path: "s/1.dcm" },
  { file: new File(["b".repeat(400)], "2.dcm"), path: "s/2.dcm" },
];

function tracker(reply: TransportReply | Error, polls: (ImportJob | Error)[] = []) {
  const views: UploadView[] = [];
  const sent: { url: string; parts: string[]; modality: unknown }[] = [];
  const time = manualClock();
  const jobs: number[] = [];
  const t = new UploadTracker(
    4,
    async (url, form, onProgress) => {
      sent.push({ url, parts: (form.getAll("files") as File[]).map((f) => f.name), modality: form.get("modality") });
      onProgress(250, 1000);
      onProgress(1000, 1000);
      if (reply instanceof Error) throw reply;
      return reply;
    },
    (v) => views.push(v),
    {
      pollMs: 1000,
      ...time,
      getJob: async (id) => {
        jobs.push(id);
        const next = polls.shift();
        if (!next || next instanceof Error) throw next ?? new Error("no more");
        return next;
      },
    },
  );
  return { t, views, sent, time, jobs };
}

describe("upload tracker", () => {
  it("shows bytes sent, then follows the import job on the socket to the imported series", async () => {
    const { t, views, sent } = tracker({ status: 202, text: JSON.stringify({ job: job("pending") }) });
    await t.upload(files, { modality: "CT" });
    expect(sent).toEqual([{ url: "/api/projects/4/imports/", parts: ["s/1.dcm", "s/2.dcm"], modality: "CT" }]);
    const uploading = views.filter((v) => v.phase === "uploading");
    expect(uploading.map((v) => [v.sent, v.total])).toEqual([[0, 1000], [250, 1000], [1000, 1000]]);
    expect(describeUpload(uploading[1]!)).toBe("Uploading: 250 B of 1000 B sent (25%)");
    expect(t.view).toMatchObject({ phase: "processing", jobId: 9 });

    t.onServerMessage({ type: "job.progress", job: job("running", 0.5) });
    t.onServerMessage({ type: "job.progress", job: { ...job("running", 0.9), id: 8 } }); // another job
    t.onServerMessage({ type: "job.progress", job: job("running", 0.3) }); // late: never backwards
    expect(t.view.progress).toBe(0.5);
    expect(describeUpload(t.view)).toBe("Importing: 50% · running 0.3");
    t.onServerMessage({ type: "job.progress", job: job("done", 1, { message: "Imported 2 series.", result: { series: [31, 32] } }) });
    expect(t.view).toMatchObject({ phase: "done", progress: 1, seriesIds: [31, 32], message: "Imported 2 series." });
    expect(t.busy).toBe(false);
  });

  it("a small import answered 201 is done at once", async () => {
    const { t } = tracker({ status: 201, text: JSON.stringify({ job: job("done", 1, { result: { series: [5] } }), series: [] }) });
    await t.upload(files);
    expect(t.view).toMatchObject({ phase: "done", seriesIds: [5] });
  });

  it("polls the job while the socket is silent, and stops when it is finished", async () => {
    const { t, time, jobs } = tracker({ status: 202, text: JSON.stringify({ job: job("pending") }) }, [
      job("running", 0.4),
      new Error("blip"),
      job("failed", 0.4, { error: "brain_003.dcm: the pixel data is truncated." }),
    ]);
    await t.upload(files);
    await time.advance(1000);
    expect(t.view.progress).toBe(0.4);
    await time.advance(1000); // the blip: keep going
    expect(t.view.phase).toBe("processing");
    await time.advance(1000);
    expect(jobs).toEqual([9, 9, 9]);
    expect(t.view).toMatchObject({ phase: "failed", error: "brain_003.dcm: the pixel data is truncated." });
    expect(time.scheduled).toBe(0);
  });

  it("does not poll while the socket is delivering", async () => {
    const { t, time, jobs } = tracker({ status: 202, text: JSON.stringify({ job: job("pending") }) }, [job("running", 0.2)]);
    await t.upload(files);
    await time.advance(500);
    t.onServerMessage({ type: "job.progress", job: job("running", 0.6) });
    await time.advance(500);
    expect(jobs).toEqual([]);
    expect(t.view.progress).toBe(0.6);
  });

  it("shows the server's message for a refused upload", async () => {
    const body = { error: { code: "unsupported_media", message: "Unsupported file type: notes.txt.", details: {} } };
    const { t } = tracker({ status: 415, text: JSON.stringify(body) });
    await t.upload(files);
    expect(t.view).toMatchObject({ phase: "failed", error: "Unsupported file type: notes.txt." });
    expect(describeUpload(t.view)).toBe("Unsupported file type: notes.txt.");
  });

  it("lists the files the server refused beside the imported ones, adding series the worker could not build", async () => {
    const refused = [{ file: "notes.txt", reason: "unsupported file type." }];
    const { t } = tracker({ status: 202, text: JSON.stringify({ job: job("pending"), refused }) });
    await t.upload(files);
    expect(t.view).toMatchObject({ phase: "processing", refused });
    const failed = { file: "DICOM series 2 (1 file)", reason: "the pixel data cannot be decoded." };
    t.onServerMessage({ type: "job.progress", job: job("done", 1, { message: "Imported 1 series; 1 refused.", result: { series: [7], refused: [failed] } }) });
    expect(t.view).toMatchObject({ phase: "done", seriesIds: [7], refused: [...refused, failed] });
    expect(describeUpload(t.view)).toBe("Imported 1 series; 2 files were not imported (listed below).");
  });

  it("lists every refused file when none could be imported", async () => {
    const refused = [
      { file: "a.txt", reason: "unsupported file type." },
      { file: "b.dcm", reason: "the pixel data is truncated." },
    ];
    const body = { error: { code: "invalid_input", message: "None of the 2 files could be imported. a.txt: …", details: { refused } } };
    const { t } = tracker({ status: 400, text: JSON.stringify(body) });
    await t.upload(files);
    expect(t.view).toMatchObject({ phase: "failed", refused });
    expect(refusedList([{ file: 1 }, null, { file: "x", reason: "y" }])).toEqual([{ file: "x", reason: "y" }]);
  });

  it("explains a proxy's HTML 413 and a connection that never answered", async () => {
    const tooLarge = tracker({ status: 413, text: "<html>Request Entity Too Large</html>" });
    await tooLarge.t.upload(files);
    expect(tooLarge.t.view.error).toBe("That upload is too large.");
    const offline = tracker({ status: 0, text: "" });
    await offline.t.upload(files);
    expect(offline.t.view.error).toMatch(/did not reach the server/);
  });

  it("refuses an empty drop without sending anything, and one upload at a time", async () => {
    const { t, sent } = tracker({ status: 202, text: JSON.stringify({ job: job("pending") }) });
    await t.upload([]);
    expect(t.view.phase).toBe("failed");
    expect(sent).toEqual([]);
    await t.upload(files);
    await t.upload(files); // still importing
    expect(sent.length).toBe(1);
  });
});
