"""Keep both catalogs complete: `python tools/i18n.py` fills the English catalog with the
source strings (they are English) and lists German entries still untranslated.

`python tools/i18n.py --set-de FILE.json` merges German translations from a JSON object
{msgid: msgstr} (plural entries: {msgid: [singular, plural]}).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "referral_app" / "translations"


def _load(lang: str):
    path = ROOT / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return path, read_po(handle, locale=lang)


def _save(path: Path, catalog) -> None:
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=False, no_location=True, width=100)


def missing(lang: str) -> list[str]:
    _, catalog = _load(lang)
    result = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(strings):
            result.append(message.id if isinstance(message.id, str) else message.id[0])
    return result


def main(argv: list[str]) -> int:
    path, english = _load("en")
    for message in english:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if message.fuzzy or not all(message.string or ()):
                message.string = tuple(message.id)
        elif not message.string or message.fuzzy:
            message.string = message.id
        message.flags.discard("fuzzy")
    _save(path, english)
    path, german = _load("de")
    if len(argv) > 2 and argv[1] == "--set-de":
        updates = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
        for message in german:
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in updates:
                value = updates[key]
                message.string = tuple(value) if isinstance(value, list) else value
                message.flags.discard("fuzzy")
        _save(path, german)
    todo = missing("de")
    for msgid in todo:
        print(f"untranslated (de): {msgid!r}")
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
