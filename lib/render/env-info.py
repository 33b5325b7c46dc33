# Rendered by hpcdk: records and prints where packages came from and what they require.
import importlib.metadata as metadata
import json
import os
import re
import sys

SOURCES = os.path.join(sys.prefix, "hpcdk-sources.json")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def load_sources():
    try:
        with open(SOURCES) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def record(report_path):
    sources = load_sources()
    with open(report_path) as f:
        report = json.load(f)
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        url = item.get("download_info", {}).get("url", "unknown")
        sources[normalise(meta.get("name", ""))] = {"version": meta.get("version", ""), "url": url}
    with open(SOURCES, "w") as f:
        json.dump(sources, f, indent=1, sort_keys=True)


def lock():
    sources = load_sources()
    lines = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        deps = set()
        for requirement in dist.requires or []:
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if match:
                deps.add(normalise(match.group(1)))
        lines.add("# requires " + normalise(name) + ": " + " ".join(sorted(deps)))
        source = sources.get(normalise(name))
        if source and source["version"] == dist.version:
            lines.add("# source " + normalise(name) + "==" + dist.version + ": " + source["url"])
    for line in sorted(lines):
        print(line)


if sys.argv[1:2] == ["record"]:
    record(sys.argv[2])
else:
    lock()
