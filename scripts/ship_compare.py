"""Ship a `stablex compare` result as the measured effect of a protocol departure, for the report.

    python scripts/ship_compare.py KEY COMPARE_JSON --command "stablex compare RUN_A RUN_B --method lrp"

The report's "Not the study's protocol" note (report/protocol.py) quotes an effect only from
studies/compare/measured/<KEY>.json. This writes that file from a compare record: the record
itself (checked by its reader), plus the departure's key, the command that made it, both runs'
config hashes and study names (from their manifest.json), the CPU and the date. KEY is one of the
departures protocol.py names (freeze_layers, max_tokens, epochs, batch_size, seeds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from results import cpu_line  # noqa: E402

from stablex.records import ComparisonRecord  # noqa: E402

KEYS = ("freeze_layers", "max_tokens", "epochs", "batch_size", "seeds")


def _run_identity(run: Path) -> dict:
    manifest = json.loads((run / "manifest.json").read_text())
    study = tomllib.loads((run / "study.toml").read_text()).get("name")
    return {"path": run.name, "config_hash": manifest["config_hash"], "study": study}


def ship(key: str, compare_json: Path, command: str, folder: Path | None = None) -> Path:
    if key not in KEYS:
        raise SystemExit(f"KEY {key!r}: one of {', '.join(KEYS)}")
    found = ComparisonRecord.read(compare_json)
    if found is None:
        raise SystemExit(f"{compare_json}: no such compare record; run `{ComparisonRecord.REBUILD}` first")
    record = found.to_dict()
    if not record.get("conclusive"):
        print(f"note: {compare_json} is not conclusive (too few seeds per run); shipped as it is", file=sys.stderr)
    runs = {"a": _run_identity(Path(record["run_a"])), "b": _run_identity(Path(record["run_b"]))}
    out = {
        **record,
        "protocol_key": key,
        "command": command,
        "runs": runs,
        "cpu": cpu_line(),
        "date": dt.date.today().isoformat(),
    }
    folder = folder or ROOT / "studies" / "compare" / "measured"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("key", choices=KEYS)
    ap.add_argument("compare_json", type=Path)
    ap.add_argument("--command", required=True, help="The stablex compare command that made COMPARE_JSON")
    ap.add_argument("--folder", type=Path, default=None, help="Default: studies/compare/measured")
    a = ap.parse_args()
    print(ship(a.key, a.compare_json, a.command, a.folder))


if __name__ == "__main__":
    main()
