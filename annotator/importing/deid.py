"""DICOM de-identification, applied to every dataset before anything from it is stored.

Profile: DICOM PS3.15 Annex E **Basic Application Level Confidentiality Profile** (code 113100) with the
**Retain Longitudinal Temporal Information with Modified Dates Option** (code 113107).

How it is carried out, stricter than the profile's per-attribute table (PS3.15 Table E.1-1):

* An allow-list: only the attributes needed to rebuild and display the pixels (image pixel, plane geometry,
  modality and VOI LUT, multi-frame functional groups) and a few non-identifying acquisition parameters
  (KVP, echo time, ...) are kept; every other attribute is removed. That removes, among others, patient name,
  ID, birth date, sex, age, addresses, telephone numbers, other patient IDs, referring / performing /
  reading physicians, operators, institution name, address and department, station name, device serial
  numbers, accession number, study ID, study / series / protocol descriptions, comments and all private tags.
* Patient Name and Patient ID are replaced by a pseudonym (``P-`` + 10 hex digits of an HMAC of the original
  patient ID under a per-project key): the same patient gets the same pseudonym within a project, and the
  pseudonym cannot be inverted without the server's secret.
* Every instance UID (study, series, SOP instance, frame of reference, references) is remapped to a
  ``2.25.<decimal>`` UID derived by HMAC from the original under the per-project key, so series still group
  and re-imports of the same study land in the same study. DICOM-defined UIDs (SOP classes, transfer
  syntaxes: ``1.2.840.10008.*``) are kept.
* Dates (DA, and the date part of DT) are shifted back by a per-patient offset of 365 to 4014 days derived from
  the same HMAC, so intervals between a patient's studies are preserved (option 113107); times are kept.
* Patient Identity Removed = YES, Longitudinal Temporal Information Modified = MODIFIED, and De-identification
  Method (+ its code sequence) record what was done.

**Retain UIDs Option** (code 113110), a project setting chosen when the project is created
(``settings["retain_uids"]``): UIDs are kept as they are instead of remapped, so masks exported as DICOM SEG
reference the very instances a PACS, OHIF or 3D Slicer holds and overlay on them. Everything else above still
applies (identities removed, pseudonym, dates shifted); the UIDs themselves then link the stored series to the
hospital's records, which is what the option is for.

**Clean Descriptors Option** (code 113105), a project setting chosen when the project is created
(``settings["clean_descriptors"]``; the new-project form offers it checked, the API leaves it off unless
asked): Series Description, Protocol Name and Study Description are kept *cleaned* instead of removed, so
annotators can tell sequences apart ("T2 FLAIR AX", "t1_vibe_fs_tra"). The basic profile removes them
(X); the option's rule is C, "cleaned of identifying information" (PS3.15 Table E.1-1). Cleaning drops
from the text every word that is a name, ID or other identifying value found anywhere in the same header
(every person-name attribute, patient IDs, accession number, institution, station, device serial number,
addresses, telephone numbers; words of two letters or more, case-insensitive, also where such a value of
four characters or more is part of a longer word), every date or time (written as digits with ``-``,
``/`` or ``.``, and the header's own dates in any of those orders) and every run of five or more digits
(IDs, phone numbers), then tidies the separators left over; a description with nothing left is removed.
A description can still name something identifying that the header does not contain (a name that
appears nowhere else): the option trusts the modality's descriptions to be technical, as PS3.15 does.

Not covered: identifying text burned into the pixels (PS3.15's Clean Pixel Data Option). Files flagged
Burned In Annotation = YES are refused unless the project allows them (settings["allow_burned_in_annotation"]).

The per-project key is HMAC(DEID_SECRET or SECRET_KEY, project id): rotating the secret breaks the link
between earlier and later imports of one patient, nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from django.conf import settings
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

METHOD = "PS3.15 E.1 Basic Profile; Modified Dates option (Delineate)"  # LO: <= 64 chars
METHOD_RETAIN_UIDS = "PS3.15 E.1 Basic Profile; Retain UIDs, Modified Dates (Delineate)"[:64]


def method_text(retain_uids: bool, clean_descriptors: bool) -> str:
    """De-identification Method (LO, at most 64 characters) naming the options applied."""
    if not clean_descriptors:
        return METHOD_RETAIN_UIDS if retain_uids else METHOD
    if retain_uids:
        return "PS3.15 Basic Profile; Retain UIDs, Clean Descriptors, Mod. Dates"
    return "PS3.15 E.1 Basic; Clean Descriptors, Modified Dates (Delineate)"


PROFILE_CODES = [
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
]
RETAIN_UIDS_CODE = ("113110", "Retain UIDs Option")
# The project setting that selects the Retain UIDs Option; fixed when the project is created.
RETAIN_UIDS_SETTING = "retain_uids"
CLEAN_DESCRIPTORS_CODE = ("113105", "Clean Descriptors Option")
# The project setting that selects the Clean Descriptors Option; fixed when the project is created.
CLEAN_DESCRIPTORS_SETTING = "clean_descriptors"
# What the option keeps, cleaned (removed otherwise, like every attribute outside KEEP).
DESCRIPTORS = ("SeriesDescription", "ProtocolName", "StudyDescription")
# Attributes whose values identify someone or somewhere, besides every person name (PN): their words are
# cut out of the descriptors. PS3.15 Table E.1-1's identifying text attributes that imaging headers carry.
IDENTIFYING_TEXT = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
        "AccessionNumber",
        "StudyID",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "PerformedStationName",
        "PerformedLocation",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "AdmissionID",
        "MilitaryRank",
        "BranchOfService",
        "RegionOfResidence",
        "CountryOfResidence",
    }
)

KEEP = frozenset(
    {
        # SOP common and identity (UIDs are remapped below)
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
        "Modality",
        "SeriesNumber",
        "InstanceNumber",
        "AcquisitionNumber",
        "ImageType",
        "BodyPartExamined",
        "Laterality",
        "ImageLaterality",
        "ViewPosition",
        "PatientPosition",
        "BurnedInAnnotation",
        # dates and times: dates are shifted, times kept
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "StudyTime",
        "SeriesTime",
        "AcquisitionTime",
        "ContentTime",
        "AcquisitionDateTime",
        "FrameAcquisitionDateTime",
        "FrameReferenceDateTime",
        # image plane
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "ImagerPixelSpacing",
        "SliceThickness",
        "SpacingBetweenSlices",
        "SliceLocation",
        # image pixel
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PlanarConfiguration",
        "PixelAspectRatio",
        "NumberOfFrames",
        "FrameIncrementPointer",
        "FrameTime",
        "PixelData",
        "FloatPixelData",
        "DoubleFloatPixelData",
        "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
        "LossyImageCompression",
        "LossyImageCompressionRatio",
        "LossyImageCompressionMethod",
        # modality and VOI LUT
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        # multi-frame functional groups (their items are filtered by the same list)
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "PlanePositionSequence",
        "PlaneOrientationSequence",
        "PixelMeasuresSequence",
        "PixelValueTransformationSequence",
        "FrameVOILUTSequence",
        "FrameContentSequence",
        "StackID",
        "InStackPositionNumber",
        "TemporalPositionIndex",
        "FrameAcquisitionNumber",
        "DimensionIndexValues",
        # acquisition parameters without identity
        "KVP",
        "ExposureTime",
        "XRayTubeCurrent",
        "ConvolutionKernel",
        "RepetitionTime",
        "EchoTime",
        "InversionTime",
        "FlipAngle",
        "MagneticFieldStrength",
        "ScanningSequence",
        "SequenceVariant",
        "MRAcquisitionType",
        "EchoTrainLength",
    }
)


def cleans_descriptors(project_settings: dict) -> bool:
    """Whether a project (its ``settings``) keeps cleaned descriptions (PS3.15 Clean Descriptors Option)."""
    return bool((project_settings or {}).get(CLEAN_DESCRIPTORS_SETTING, False))


def retains_uids(project_settings: dict) -> bool:
    """Whether a project (its ``settings``) keeps original UIDs (PS3.15 Retain UIDs Option)."""
    return bool((project_settings or {}).get(RETAIN_UIDS_SETTING, False))


def project_key(project_id: int) -> bytes:
    secret = getattr(settings, "DEID_SECRET", "") or settings.SECRET_KEY
    return hmac.new(secret.encode(), f"delineate-deid:{project_id}".encode(), hashlib.sha256).digest()


def _digest(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def remap_uid(key: bytes, uid: str) -> str:
    if not uid or uid.startswith("1.2.840.10008."):
        return uid
    return "2.25." + str(int.from_bytes(_digest(key, "uid", uid)[:15], "big"))


def patient_identity(ds: Dataset) -> str:
    """What identifies the patient in the original: Patient ID, else name + birth date, else the study."""
    pid = str(ds.get("PatientID", "") or "").strip()
    if pid:
        return f"id:{pid}"
    name = str(ds.get("PatientName", "") or "").strip()
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    if name:
        return f"name:{name}|{birth}"
    return f"study:{ds.get('StudyInstanceUID', '')}"


def pseudonym(key: bytes, identity: str) -> str:
    return "P-" + _digest(key, "patient", identity).hex()[:10]


def date_shift_days(key: bytes, identity: str) -> int:
    return 365 + int.from_bytes(_digest(key, "dates", identity)[:4], "big") % 3650


def shift_date(value: str, days: int) -> str:
    try:
        day = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (day - dt.timedelta(days=days)).strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str:
    text = value.strip()
    shifted = shift_date(text[:8], days)
    return shifted + text[8:] if shifted else ""


def _clean(ds: Dataset, key: bytes, days: int, retain_uids: bool) -> None:
    for elem in list(ds):
        keyword = elem.keyword
        if keyword not in KEEP:
            del ds[elem.tag]
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                _clean(item, key, days, retain_uids)
        elif elem.VR == "UI" and not retain_uids:
            elem.value = (
                [remap_uid(key, str(v)) for v in elem.value]
                if elem.VM > 1
                else remap_uid(key, str(elem.value))
            )
        elif elem.VR == "DA" and elem.value:
            elem.value = shift_date(str(elem.value), days)
        elif elem.VR == "DT" and elem.value:
            elem.value = _shift_dt(str(elem.value), days)


# Dates and times written with separators (2024-01-15, 15.01.2024, 1/15/24, 10:42), and long digit runs.
_DATE_LIKE = re.compile(r"\b\d{1,4}[-/.:]\d{1,2}(?:[-/.:]\d{1,4})?\b")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LONG_DIGITS = re.compile(r"\d{5,}")
_SEPARATORS = re.compile(r"([\s_^,;:/\\|.-])(?:[\s_^,;:/\\|.-])+")


def _values(elem: DataElement) -> list[str]:
    value = elem.value
    items = value if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v) for v in items if v not in (None, "")]


def _date_forms(value: str) -> set[str]:
    """A DICOM date (YYYYMMDD) as people write it: 20240115, 2024-01-15, 15.01.2024, 01/15/2024, ..."""
    text = value.strip()[:8]
    if len(text) != 8 or not text.isdigit():
        return set()
    year, month, day = text[:4], text[4:6], text[6:]
    forms = {text, year + month + day}
    for sep in "-/.":
        forms |= {sep.join((year, month, day)), sep.join((day, month, year)), sep.join((month, day, year))}
        forms |= {sep.join((day, month, year[2:])), sep.join((month, day, year[2:]))}
    return {f.lower() for f in forms}


def identifying_terms(ds: Dataset) -> tuple[set[str], set[str]]:
    """``(words, phrases)`` that identify someone or somewhere in ``ds`` (and its sequences): the words of
    every person name and of the IDENTIFYING_TEXT attributes (two letters or more, lower case), and the
    dates of the header in the forms people write them. Read before anything is removed."""
    words: set[str] = set()
    phrases: set[str] = set()
    for elem in ds.iterall():
        if elem.VR == "PN" or elem.keyword in IDENTIFYING_TEXT:
            for value in _values(elem):
                words |= {w.lower() for w in _WORD.findall(value.replace("^", " ")) if len(w) >= 2}
        if elem.VR in ("DA", "DT"):
            for value in _values(elem):
                phrases |= _date_forms(value)
    return words, phrases


def clean_descriptor(text: str, words: set[str], phrases: set[str]) -> str:
    """A description with every identifying part removed (the Clean Descriptors Option's rule, see the
    module docstring); "" when nothing is left."""
    cleaned = str(text)
    for phrase in sorted(phrases, key=len, reverse=True):
        cleaned = re.sub(re.escape(phrase), " ", cleaned, flags=re.IGNORECASE)
    cleaned = _DATE_LIKE.sub(" ", cleaned)
    long_words = [w for w in words if len(w) >= 4]

    def keep(match: re.Match[str]) -> str:
        word = match.group(0)
        lower = word.lower()
        if lower in words or _LONG_DIGITS.search(word) or any(w in lower for w in long_words):
            return " "
        return word

    cleaned = _WORD.sub(keep, cleaned)
    cleaned = _SEPARATORS.sub(lambda m: " " if m.group(0).isspace() else m.group(1), cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned)
    cleaned = re.sub(r"\(\s*\)|\[\s*\]|<\s*>", " ", cleaned)
    return cleaned.strip(" _^,;:/\\|.-").strip()


def _clean_descriptors(original: dict[str, str], ds: Dataset, words: set[str], phrases: set[str]) -> None:
    for keyword, text in original.items():
        cleaned = clean_descriptor(text, words, phrases)
        if cleaned:
            setattr(ds, keyword, cleaned[:64])


def uid_after(project_id: int, uid: str, *, retain_uids: bool = False) -> str:
    """The UID that ``uid`` becomes when a project imports it (what ``deidentify`` writes)."""
    return uid if retain_uids else remap_uid(project_key(project_id), uid)


def deidentify(
    ds: Dataset, project_id: int, *, retain_uids: bool = False, clean_descriptors: bool = False
) -> str:
    """De-identify ``ds`` in place (file meta included); returns the patient pseudonym. ``retain_uids``
    applies PS3.15's Retain UIDs Option: UIDs are kept, everything else is done as without it;
    ``clean_descriptors`` its Clean Descriptors Option: the DESCRIPTORS are kept, cleaned."""
    key = project_key(project_id)
    identity = patient_identity(ds)
    alias = pseudonym(key, identity)
    descriptors = {k: str(ds.get(k, "") or "") for k in DESCRIPTORS if clean_descriptors}
    words, phrases = identifying_terms(ds) if clean_descriptors else (set(), set())
    _clean(ds, key, date_shift_days(key, identity), retain_uids)
    _clean_descriptors(
        {k: v for k, v in descriptors.items() if v.strip()}, ds, words | {alias.lower()}, phrases
    )
    ds.PatientName = alias
    ds.PatientID = alias
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    ds.DeidentificationMethod = method_text(retain_uids, clean_descriptors)
    codes = []
    options = ([RETAIN_UIDS_CODE] if retain_uids else []) + (
        [CLEAN_DESCRIPTORS_CODE] if clean_descriptors else []
    )
    for value, meaning in PROFILE_CODES + options:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    old_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", old_meta.get("MediaStorageSOPClassUID", ""))
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    if "TransferSyntaxUID" in old_meta:
        meta.TransferSyntaxUID = old_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return alias
