"""The console's source, read and run outside a browser: nothing that parses markup or evaluates
text, tokens only in the tab's sessionStorage, both languages complete, money and time formatting
exact (node runs the real modules)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "console" / "src"
SOURCES = {p.relative_to(SRC).as_posix(): p.read_text(encoding="utf-8") for p in SRC.rglob("*.js")}


def node(script: str) -> object:
    out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=SRC, check=True,
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


@pytest.mark.parametrize("sink", ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                                  "new Function", "setAttribute(\"style\"", "srcdoc"])
def test_no_source_turns_text_into_code_or_markup(sink: str) -> None:
    assert [name for name, text in SOURCES.items() if sink in text] == []


def test_the_token_lives_in_session_storage_only() -> None:
    assert [n for n, text in SOURCES.items() if "sessionStorage" in text] == ["api.js"]
    # localStorage holds the language choice, nothing else
    assert [n for n, text in SOURCES.items() if "localStorage" in text] == ["i18n.js"]
    assert re.findall(r"localStorage\.setItem\(([^,]+),", SOURCES["i18n.js"]) == ["KEY"]


def test_both_languages_have_every_key_the_pages_use() -> None:
    keys = node("import { KEYS } from './i18n.js'; console.log(JSON.stringify(KEYS));")
    assert isinstance(keys, dict)
    assert sorted(keys["zh"]) == sorted(keys["en"])
    used = {k for text in SOURCES.values() for k in re.findall(r'\bt\("([a-z0-9_.]+)"', text)}
    assert used, "the pattern finds the keys"
    assert sorted(used - set(keys["zh"])) == []


def test_money_is_yuan_with_two_decimals_from_integer_fen() -> None:
    got = node("import { yuan, parseYuan } from './format.js'; console.log(JSON.stringify({"
               "y: [0, 5, 100, 123456, -5, 1000000001].map(yuan),"
               "p: ['30', '30.5', '0.05', '1.234', '-1', 'abc', '1e3', ' 12.30 '].map(parseYuan)}));")
    assert got == {"y": ["¥0.00", "¥0.05", "¥1.00", "¥1,234.56", "-¥0.05", "¥10,000,000.01"],
                   "p": [3000, 3050, 5, None, None, None, None, 1230]}


def test_times_are_read_on_the_deployment_time_zone() -> None:
    got = node("import { zonedIso, setTimeZone, today, addDays } from './format.js';"
               "const a = zonedIso('2026-12-01T09:30'); setTimeZone('America/New_York');"
               "console.log(JSON.stringify([a, zonedIso('2026-07-01T09:30'), zonedIso('2026-12-01T09:30'),"
               "today(new Date('2026-12-01T03:00:00Z')), addDays('2026-03-01', -1), zonedIso('bad')]));")
    assert got == ["2026-12-01T09:30:00+08:00", "2026-07-01T09:30:00-04:00", "2026-12-01T09:30:00-05:00",
                   "2026-11-30", "2026-02-28", None]
