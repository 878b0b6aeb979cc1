#!/usr/bin/env python3
"""Checks the deployment files CI can check without a container engine: every YAML file
parses, the Kubernetes objects have what the service relies on, and the configuration
variables the manifests set are ones the service reads."""
import pathlib
import re
import sys

import yaml

here = pathlib.Path(__file__).resolve().parent
root = here.parent
known = set(re.findall(r'"([A-Z_]+)",', (root / "src/config/mod.rs").read_text()))
problems = []

docs = {}
for path in sorted(here.rglob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            docs.setdefault(doc.get("kind", path.name), []).append((path.name, doc))

deployment = docs["Deployment"][0][1]
spec = deployment["spec"]
if spec["replicas"] < 2:
    problems.append("the Deployment runs fewer than two replicas")
container = spec["template"]["spec"]["containers"][0]
if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
    problems.append("readinessProbe is not /readyz")
if container["livenessProbe"]["httpGet"]["path"] != "/healthz":
    problems.append("livenessProbe is not /healthz")
if not spec["template"]["spec"]["securityContext"].get("runAsNonRoot"):
    problems.append("the pod may run as root")
for kind in ("ConfigMap", "Secret"):
    for name, doc in docs[kind]:
        data = doc.get("data") or doc.get("stringData") or {}
        for key in data:
            if key not in known:
                problems.append(f"{name}: {key} is not a configuration variable the service reads")
compose = docs.get("compose.yaml") or [(n, d) for n, d in sum(docs.values(), []) if "services" in d]
for name, doc in compose:
    for key in doc["services"]["trusthub-hooks"]["environment"]:
        if key not in known:
            problems.append(f"{name}: {key} is not a configuration variable the service reads")
unit = (here / "trusthub-hooks.service").read_text()
for needed in ("ExecStart=/usr/local/bin/trusthub-hooks serve", "NoNewPrivileges=yes", "ProtectSystem=strict"):
    if needed not in unit:
        problems.append(f"trusthub-hooks.service lacks {needed}")

for problem in problems:
    print(f"deploy: {problem}", file=sys.stderr)
print(f"deploy: {sum(len(v) for v in docs.values())} YAML documents checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
