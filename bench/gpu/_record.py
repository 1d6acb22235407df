"""Bookkeeping of run_all.sh (standard library only, so it works whatever else is broken).

    python _record.py step NAME STATUS RC SECONDS LOG [--reason TEXT] [--junit XML]
                           [--sanitizer memcheck|racecheck] [--command TEXT] [--timeout S]
    python _record.py bundle      # $OUT/gpu_all.json, gpu_summary.txt, gpu_logs.tar.gz
    python _record.py summary     # gpu_summary.json + the table on stdout (and bundle)

``step`` (exit status 1 when the step's final status is neither ok nor skipped) adds a ``step`` entry (status, exit code, seconds, timeout, reason, the log's tail, the
pytest counts from a JUnit file, the sanitizer's error / hazard counts) to
``$FASTGAN_GPU_RESULTS/gpu_<NAME>.json``, keeping what the step's driver wrote there, and
appends NAME to the run's list (``$FASTGAN_GPU_WORK/steps.txt``). ``bundle`` gathers the steps of
this run into ``$OUT`` when that variable is set: three files, inside the device runner's limit
of eight.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

BENCH = Path(__file__).resolve().parents[1]
LOG_TAIL_LINES = 30
LOG_BUNDLE_BYTES = 2 << 20


def results_dir() -> Path:
    d = Path(os.environ.get("FASTGAN_GPU_RESULTS") or (BENCH / "results"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def work_dir() -> Path:
    d = Path(os.environ.get("FASTGAN_GPU_WORK") or "/tmp/fastgan-gpu")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {"data": data}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln[:400] for ln in text.splitlines()[-lines:]]


def junit_counts(path: Path) -> Optional[dict[str, Any]]:
    """tests / passed / failed / errors / skipped / seconds and the failed tests (first line of the
    message) from a pytest JUnit XML file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "seconds": 0.0}
    for s in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            tot[key] += int(s.get(key, 0) or 0)
        tot["seconds"] += float(s.get("time", 0) or 0)
    failed = []
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                msg = (el.get("message") or el.text or "").strip().splitlines()
                failed.append(f"{case.get('classname')}::{case.get('name')}: {msg[0][:300] if msg else tag}")
    tot["passed"] = tot["tests"] - tot["failures"] - tot["errors"] - tot["skipped"]
    tot["failed_tests"] = failed[:50]
    return tot


def sanitizer_counts(log: Path) -> dict[str, Any]:
    """The compute-sanitizer summary lines of a log: memcheck's ``ERROR SUMMARY: N errors``,
    racecheck's ``RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)``."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {"found_summary": False}
    out: dict[str, Any] = {"found_summary": False}
    m = re.findall(r"ERROR SUMMARY:\s*(\d+)\s+error", text)
    if m:
        out.update(found_summary=True, errors=int(m[-1]))
    m2 = re.findall(
        r"RACECHECK SUMMARY:\s*(\d+)\s+hazards? displayed\s*\((\d+)\s+errors?,\s*(\d+)\s+warnings?\)", text
    )
    if m2:
        out.update(found_summary=True, hazards=int(m2[-1][0]), errors=int(m2[-1][1]), warnings=int(m2[-1][2]))
    out["first_reports"] = [
        ln.strip()[:300]
        for ln in text.splitlines()
        if ln.startswith("========= ") and ("Invalid" in ln or "hazard" in ln.lower() or "Error" in ln)
    ][:20]
    return out


def cmd_step(args: list[str]) -> None:
    name, status, rc, seconds, log = args[:5]
    opts = dict(zip(args[5::2], args[6::2]))
    path = results_dir() / f"gpu_{name}.json"
    data = _load(path)
    step: dict[str, Any] = {
        "status": status,
        "rc": int(rc),
        "seconds": round(float(seconds), 2),
        "log": Path(log).name,
        "log_tail": _tail(Path(log)),
    }
    if opts.get("--timeout"):
        step["timeout_s"] = int(opts["--timeout"])
    if opts.get("--command"):
        step["command"] = opts["--command"]
    reason = opts.get("--reason") or data.get("skipped")
    if reason:
        step["reason"] = reason
    if opts.get("--junit"):
        counts = junit_counts(Path(opts["--junit"]))
        if counts is not None:
            step["pytest"] = counts
    if opts.get("--sanitizer"):
        step["sanitizer"] = {"tool": opts["--sanitizer"], **sanitizer_counts(Path(log))}
        if status == "ok" and not step["sanitizer"]["found_summary"]:
            step["status"] = "failed"
            step["reason"] = "no sanitizer summary in the log"
    data.setdefault("name", name)
    data["step"] = step
    _write(path, data)
    with open(work_dir() / "steps.txt", "a") as f:
        f.write(name + "\n")
    print(
        f"[run_all] {name}: {step['status']} ({step['seconds']:.0f} s)"
        + (f" - {step['reason']}" if step.get("reason") else ""),
        flush=True,
    )
    if step["status"] not in ("ok", "skipped"):
        sys.exit(1)


def _steps() -> list[str]:
    try:
        names = (work_dir() / "steps.txt").read_text().split()
    except OSError:
        return []
    return list(dict.fromkeys(names))


def _detail(data: dict[str, Any]) -> str:
    step = data.get("step", {})
    bits = []
    if "pytest" in step:
        p = step["pytest"]
        bits.append(f"{p['passed']} passed, {p['failures'] + p['errors']} failed, {p['skipped']} skipped")
    if "sanitizer" in step:
        s = step["sanitizer"]
        if s.get("found_summary"):
            bits.append(
                f"{s.get('errors', '?')} sanitizer errors"
                + (f", {s['hazards']} hazards" if "hazards" in s else "")
            )
    if data.get("headline"):
        bits.append(str(data["headline"]))
    if step.get("reason"):
        bits.append(str(step["reason"]))
    if step.get("status") not in ("ok", "skipped") and not step.get("reason") and step.get("log_tail"):
        bits.append("log: " + step["log_tail"][-1])
    return "; ".join(bits)


def summary_lines() -> list[str]:
    lines = [f"{'step':<12} {'status':<8} {'seconds':>7}  detail"]
    for name in _steps():
        data = _load(results_dir() / f"gpu_{name}.json")
        step = data.get("step", {})
        lines.append(
            f"{name:<12} {step.get('status', '?'):<8} {step.get('seconds', 0):>7.0f}  {_detail(data)[:400]}"
        )
    return lines


def cmd_bundle(final: bool = False) -> None:
    names = _steps()
    allres = {n: _load(results_dir() / f"gpu_{n}.json") for n in names}
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "final": final,
        "machine": allres.get("env", {}).get("machine"),
        "steps": {
            n: {k: v for k, v in d.get("step", {}).items() if k != "log_tail"} for n, d in allres.items()
        },
    }
    if final:
        _write(results_dir() / "gpu_summary.json", summary)
    out = os.environ.get("OUT")
    if not out:
        return
    o = Path(out)
    o.mkdir(parents=True, exist_ok=True)
    _write(o / "gpu_all.json", {"summary": summary, "results": allres})
    (o / "gpu_summary.txt").write_text("\n".join(summary_lines()) + "\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for n in names:
            p = results_dir() / f"gpu_{n}.json"
            if p.exists():
                tar.add(str(p), arcname=f"results/{p.name}")
        if final and (results_dir() / "gpu_summary.json").exists():
            tar.add(str(results_dir() / "gpu_summary.json"), arcname="results/gpu_summary.json")
        for log in sorted((work_dir() / "logs").glob("*.log")):
            data = log.read_bytes()[-LOG_BUNDLE_BYTES:]
            info = tarfile.TarInfo(f"logs/{log.name}")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    tmp = o / ".gpu_logs.tmp"
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, o / "gpu_logs.tar.gz")


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "step":
        cmd_step(args)
    elif cmd == "bundle":
        cmd_bundle()
    elif cmd == "summary":
        cmd_bundle(final=True)
        print("\n".join(summary_lines()))
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
