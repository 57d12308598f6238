"""Re-extract the messages, fill the French catalogue from locale/fr_translations.py, compile.

Run by `make messages`. Prints the messages that still lack a French text and exits 1 if any.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import polib

REPO = Path(__file__).resolve().parents[1]
PO = REPO / "locale" / "fr" / "LC_MESSAGES" / "django.po"
IGNORED = [
    ".venv",
    "tests",
    "bench",
    "docker",
    "var",
    "scripts",
    "locale",
    "staticfiles",
    "node_modules",
]


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # no secrets needed
    manage = [sys.executable, "manage.py"]
    ignore = [f"--ignore={name}" for name in IGNORED]
    subprocess.run(
        [*manage, "makemessages", "-l", "fr", "--no-obsolete", *ignore], cwd=REPO, check=True
    )
    spec = importlib.util.spec_from_file_location("fr", REPO / "locale" / "fr_translations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    french: dict[str, str | tuple[str, str]] = module.FR
    po = polib.pofile(str(PO))
    missing = []
    for entry in po:
        text = french.get(entry.msgid)
        if text is None:
            missing.append(entry.msgid)
            continue
        if entry.msgid_plural:
            one, many = text if isinstance(text, tuple) else (text, text)
            entry.msgstr_plural = {0: one, 1: many}
        else:
            entry.msgstr = text if isinstance(text, str) else text[0]
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
    po.metadata["Language"] = "fr"
    po.metadata["Plural-Forms"] = "nplurals=2; plural=(n > 1);"
    po.save()
    subprocess.run([*manage, "compilemessages", "-l", "fr", *ignore], cwd=REPO, check=True)
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
