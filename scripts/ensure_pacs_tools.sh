#!/usr/bin/env bash
# The PACS and DICOM-conformance tests need Debian packages: Orthanc with its DICOMweb plugin (a real PACS,
# started on free ports by scripts/orthanc.py) and dicom3tools (dciodvfy, the DICOM validator). Install them
# when missing, where this machine allows it; otherwise say how, and let those tests skip with the reason.
set -euo pipefail

PACKAGES=(orthanc orthanc-dicomweb dicom3tools)
NEEDED=()
[[ -x /usr/sbin/Orthanc ]] || NEEDED+=(orthanc)
[[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]] || NEEDED+=(orthanc-dicomweb)
command -v dciodvfy >/dev/null 2>&1 || NEEDED+=(dicom3tools)

if [[ ${#NEEDED[@]} -eq 0 ]]; then
    exit 0
fi

skip() {
    echo "ensure_pacs_tools: $1" >&2
    echo "Run: sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}   (the PACS tests skip until then)" >&2
    exit 0
}

command -v apt-get >/dev/null 2>&1 || skip "missing ${NEEDED[*]} and this machine has no apt-get."
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        skip "missing ${NEEDED[*]}; installing needs root."
    fi
else
    SUDO=()
fi

# Installing orthanc would start the system-wide Orthanc service (fixed ports 8042/4242, a database in
# /var/lib/orthanc). The tests start their own on free ports, so forbid service starts during the install.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod +x "$POLICY"
    OWN_POLICY=1
fi
cleanup() { if [[ $OWN_POLICY -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

echo "ensure_pacs_tools: installing ${NEEDED[*]} for the PACS and DICOM validation tests"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${NEEDED[@]}"
