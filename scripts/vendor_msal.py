"""Vendors `@azure/msal-browser` into the chat UI: `python scripts/vendor_msal.py 5.31.0`.

The UI is served by the chat service itself (no CDN, a strict CSP: scripts from 'self' only), so MSAL.js is a
file of the package: the library's own browser build (`lib/msal-browser.min.js`, which defines the global
`msal`) and its LICENSE, taken from the npm tarball. `npm pack` checks the tarball against the registry's
integrity; the version, that integrity and the SHA-256 of the vendored file are recorded in
`msal-browser.json`, which tests/unit/chat/test_vendored_msal.py checks the file against.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

UI = Path(__file__).resolve().parents[1] / "services" / "chat" / "ui"
PACKAGE = "@azure/msal-browser"
BUILD = "lib/msal-browser.min.js"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: vendor_msal.py VERSION (e.g. 5.31.0)", file=sys.stderr)
        return 2
    version = argv[0]
    with tempfile.TemporaryDirectory(prefix="msal-") as tmp:
        packed = subprocess.run(
            ["npm", "pack", "--json", f"{PACKAGE}@{version}"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        [info] = json.loads(packed.stdout)
        with tarfile.open(Path(tmp) / info["filename"]) as tarball:
            script = tarball.extractfile(f"package/{BUILD}")
            license_text = tarball.extractfile("package/LICENSE")
            assert script is not None and license_text is not None
            code, notice = script.read(), license_text.read()
    (UI / "msal-browser.min.js").write_bytes(code)
    (UI / "msal-browser.LICENSE.txt").write_bytes(notice)
    record = {
        "package": PACKAGE,
        "version": info["version"],
        "npm_integrity": info["integrity"],
        "file": BUILD,
        "sha256": hashlib.sha256(code).hexdigest(),
        "license": "MIT",
    }
    (UI / "msal-browser.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"vendored {PACKAGE}@{info['version']} ({len(code)} bytes, sha256 {record['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
