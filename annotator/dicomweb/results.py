"""What a PACS search shows: the de-identification rules applied to QIDO-RS results.

Shown (nothing that identifies a patient; all kept by the import's de-identification profile, see
annotator.importing.deid):
  studies  - modalities in the study, number of series and of instances, the study date shifted by the
             patient's offset exactly as the import will shift it;
  series   - modality, series number, body part examined, number of instances, the series date (or the
             study's) shifted the same way, and whether the series can be imported or already was.
Never shown, though the search asks the PACS for some of them (the patient ID, name and birth date decide the
date shift, as at import): patient name, ID, birth date, sex and age, accession number, study ID, study and
series descriptions (free text that often names people), physicians, institutions, and the UIDs themselves.
Each result carries an opaque handle instead: an HMAC of its UIDs under the project's key, resolved on the
server (annotator.models.PacsHandle).
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from annotator.importing import deid

# Asked from the PACS. The patient attributes only feed the date shift and are dropped right after.
IDENTITY_FIELDS = ["PatientID", "PatientName", "PatientBirthDate"]
STUDY_FIELDS = [
    "StudyInstanceUID",
    "StudyDate",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    *IDENTITY_FIELDS,
]
SERIES_FIELDS = [
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "BodyPartExamined",
    "SeriesDate",
    "StudyDate",
    "NumberOfSeriesRelatedInstances",
    *IDENTITY_FIELDS,
]
# What the browser may see of a study or a series (the tests check that nothing else comes back).
STUDY_KEYS = ("handle", "date", "modalities", "series_count", "instance_count")
SERIES_KEYS = (
    "handle",
    "modality",
    "number",
    "body_part",
    "date",
    "instance_count",
    "importable",
    "reason",
    "imported_series",
)


def handle(project_id: int, study_uid: str, series_uid: str = "") -> str:
    """An opaque, stable handle for a study (or one of its series): not invertible without the server's key."""
    key = deid.project_key(project_id)
    return hmac.new(key, f"pacs-handle:{study_uid}|{series_uid}".encode(), hashlib.sha256).hexdigest()[:32]


def shifted_date(project_id: int, ds: Dataset, *keywords: str) -> str | None:
    """The first of ``keywords`` that holds a date, shifted as the import shifts this patient's dates
    (ISO format), or None."""
    key = deid.project_key(project_id)
    days = deid.date_shift_days(key, deid.patient_identity(ds))
    for keyword in keywords:
        value = str(ds.get(keyword, "") or "")
        shifted = deid.shift_date(value, days) if value else ""
        if shifted:
            return f"{shifted[:4]}-{shifted[4:6]}-{shifted[6:8]}"
    return None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _list(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, MultiValue | list | tuple) else [str(value)]


def study_result(project_id: int, ds: Dataset) -> dict:
    return {
        "handle": handle(project_id, str(ds.StudyInstanceUID)),
        "date": shifted_date(project_id, ds, "StudyDate"),
        "modalities": _list(ds, "ModalitiesInStudy"),
        "series_count": _int(ds, "NumberOfStudyRelatedSeries"),
        "instance_count": _int(ds, "NumberOfStudyRelatedInstances"),
    }


def series_result(
    project_id: int, study_uid: str, ds: Dataset, importable: bool, reason: str, imported: int | None
) -> dict:
    return {
        "handle": handle(project_id, study_uid, str(ds.SeriesInstanceUID)),
        "modality": str(ds.get("Modality", "") or ""),
        "number": _int(ds, "SeriesNumber"),
        "body_part": str(ds.get("BodyPartExamined", "") or ""),
        "date": shifted_date(project_id, ds, "SeriesDate", "StudyDate"),
        "instance_count": _int(ds, "NumberOfSeriesRelatedInstances"),
        "importable": importable,
        "reason": reason,
        "imported_series": imported,
    }
