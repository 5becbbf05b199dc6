"""Validates custom resources against the OpenAPI schemas of their CRDs, as an API server with
strict field validation does: every field must be declared by the schema (unless the schema
preserves unknown fields there), and types, enums, patterns, required fields and bounds must
hold (JSON Schema over the CRD's openAPIV3Schema; CEL rules are not evaluated).

Usage: validate_crs.py CRD_DIR... -- FILE...
Documents of kinds no CRD defines (built-in kinds, kustomize's kustomization.yaml) are
skipped and counted. Prints one line per problem; exit 1 when there is any, 2 when a document
names a CRD group but a kind or version the CRDs lack.
"""

import os
import sys

import jsonschema
import yaml


def load_crds(dirs):
    crds = {}
    groups = set()
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if not name.endswith((".yaml", ".yml")):
                continue
            with open(os.path.join(d, name)) as f:
                for doc in yaml.safe_load_all(f):
                    if not doc or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    spec = doc["spec"]
                    groups.add(spec["group"])
                    for v in spec["versions"]:
                        schema = (v.get("schema") or {}).get("openAPIV3Schema")
                        crds[(spec["group"], v["name"], spec["names"]["kind"])] = schema
    return crds, groups


def unknown_fields(schema, value, path, out):
    if not isinstance(schema, dict):
        return
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if props is not None and k in props:
                unknown_fields(props[k], v, path + "." + k, out)
            elif isinstance(extra, dict):
                unknown_fields(extra, v, path + "." + k, out)
            elif props is not None or extra is False:
                out.append("%s.%s: unknown field" % (path, k))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            unknown_fields(schema["items"], v, "%s[%d]" % (path, i), out)


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    crds, groups = load_crds(args[:sep])
    problems = []
    checked = skipped = 0
    for path in args[sep + 1:]:
        with open(path) as f:
            docs = list(yaml.safe_load_all(f))
        for doc in docs:
            if not doc:
                continue
            api = doc.get("apiVersion", "")
            group, _, version = api.rpartition("/")
            key = (group, version, doc.get("kind"))
            if key not in crds:
                if group in groups:
                    problems.append("%s: %s %s is not served by the CRDs" % (path, api, doc.get("kind")))
                skipped += 1
                continue
            schema = crds[key]
            where = "%s: %s %s" % (path, doc.get("kind"), (doc.get("metadata") or {}).get("name"))
            found = []
            unknown_fields(schema, doc, "", found)
            for e in jsonschema.Draft4Validator(schema).iter_errors(doc):
                found.append("%s: %s" % ("." + ".".join(str(p) for p in e.absolute_path), e.message))
            problems.extend("%s: %s" % (where, p) for p in found)
            checked += 1
    for p in problems:
        print(p)
    print("checked %d custom resources, skipped %d other documents" % (checked, skipped))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
