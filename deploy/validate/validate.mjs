// Validates Kubernetes objects in YAML files against the Kubernetes API schemas, with the
// kubernetes-models package (JSON schemas generated from the Kubernetes OpenAPI spec, checked
// with ajv). Usage: node validate.mjs FILE.yaml...   Exit 0 when every object is valid.
//
// What it checks: each object's kind exists in its apiVersion; field types, enums, formats
// (int32, quantities are strings, ...) and required fields. What it does not: unknown fields
// (the schemas allow additional properties, so a misspelled optional field passes), semantic
// rules the API server applies (e.g. selector matching the template labels, name syntax beyond
// the schema), admission policies, and anything a real cluster would say about the node.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelsDir = process.env.KUBERNETES_MODELS_DIR ||
  path.join(here, "node_modules", "kubernetes-models");
const yaml = (await import(pathToFileURL(
  path.join(modelsDir, "..", "js-yaml", "index.js")).href)).default;

async function modelFor(apiVersion, kind) {
  // "v1" is the core group; "apps/v1" -> apps/v1; "rbac.authorization.k8s.io/v1" likewise.
  const file = path.join(modelsDir, ...apiVersion.split("/"), kind + ".js");
  if (!fs.existsSync(file)) return null;
  const module = await import(pathToFileURL(file).href);
  return module[kind];
}

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null);
  if (docs.length === 0) {
    console.error(`${file}: no objects`);
    failures++;
  }
  for (const obj of docs) {
    const where = `${file}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
    if (!obj.apiVersion || !obj.kind || !obj.metadata || !obj.metadata.name) {
      console.error(`${where}: apiVersion, kind and metadata.name are required`);
      failures++;
      continue;
    }
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      console.error(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
      checked++;
    } catch (e) {
      console.error(`${where}: ${e.message}`);
      failures++;
    }
  }
}
console.log(`${checked} object(s) valid, ${failures} problem(s)`);
process.exit(failures === 0 ? 0 : 1);
