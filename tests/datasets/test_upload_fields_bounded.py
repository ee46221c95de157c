"""An upload's text fields are bounded in number, not only in size: each was capped at 64 KB but
their number was not, and all of them are held in memory (found by the security audit: a body of
many fields grew the API without limit, none of it counted toward the upload size limit)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from interpstudio.core.settings import Settings

API = "/api/v1/datasets"
MAX_FIELDS = 32  # api/uploads.MAX_FIELDS
BOUNDARY = "fieldsb0undary"
FILE_PART = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; "
             "filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nsome text\n\r\n")


def _post(api: TestClient, body: str):  # type: ignore[no-untyped-def]
    return api.post(f"{API}/upload", content=body + f"--{BOUNDARY}--\r\n",
                    headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})


def test_more_fields_than_a_form_sends_are_refused(api: TestClient,
                                                   ds_settings: Settings) -> None:
    fields = "".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n"
                     f"{'v' * 1000}\r\n" for i in range(100))
    refused = _post(api, FILE_PART + fields)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"] == f"at most {MAX_FIELDS} form fields per upload"
    assert list((ds_settings.data_dir / "tmp").iterdir()) == []  # nothing kept
    assert _post(api, FILE_PART + "".join(  # the form's own few fields still pass
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        for name, value in (("name", "mine"), ("decode", "strict")))).status_code == 201
