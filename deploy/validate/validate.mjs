// Validates Kubernetes objects in YAML files against the Kubernetes API schemas, with the
// kubernetes-models package (JSON schemas generated from the Kubernetes OpenAPI spec, checked
// with ajv). Usage: node validate.mjs FILE.yaml...   Exit 0 when every object is valid.
//
// What it checks: each object's kind exists in its apiVersion; field types, enums, formats
// (int32, quantities are strings, ...) and required fields (kubernetes-models' JSON schemas); and
// unknown fields, like `kubectl --validate=strict`: the JSON schemas allow additional properties,
// so the field names are taken from the package's TypeScript declarations (one interface per API
// type, generated from the same OpenAPI spec) and every field of the object must be declared.
// What it does not check: semantic rules the API server applies (e.g. selector matching the
// template labels, name syntax beyond the schema), admission policies, and anything a real
// cluster would say about the node.

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

// Field names of the interface declared in a .d.ts file, with the file that declares each
// field's object type (null for scalars, type aliases and free-form maps), and whether the field
// is a list of that type or a map of it.
const interfaces = new Map();
function declaredFields(dtsFile) {
  if (interfaces.has(dtsFile)) return interfaces.get(dtsFile);
  const text = fs.readFileSync(dtsFile, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2].replace(/\.js$/, "");
    const file = spec.startsWith(".")
      ? path.join(path.dirname(dtsFile), spec + ".d.ts")
      : path.join(modelsDir, "..", spec + ".d.ts");
    imports.set(m[1], file);
  }
  const start = text.search(/^export interface \w+ (extends [\w<>, ]+ )?\{$/m);
  if (start < 0) {
    interfaces.set(dtsFile, null);  // a type alias (Quantity, IntOrString, Time): a leaf
    return null;
  }
  const body = text.slice(start, text.indexOf("\n}\n", start));
  const fields = new Map();
  const lines = body.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^    "([^"]+)"\??: (.*)$/);
    if (!m) continue;
    let type = m[2];
    let shape = "one";
    if (type === "{") {  // { [key: string]: T; }
      type = (lines[i + 1].match(/\]: (.*);$/) || [, ""])[1];
      shape = "map";
    }
    type = type.replace(/;$/, "");
    const list = type.match(/^Array<(\w+)>$/);
    if (list) {
      type = list[1];
      shape = shape === "map" ? "map" : "list";
    }
    const file = imports.get(type);
    fields.set(m[1], { file: file && fs.existsSync(file) ? file : null, shape });
  }
  interfaces.set(dtsFile, fields);
  return fields;
}

function unknownFields(value, dtsFile, where, out) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const fields = declaredFields(dtsFile);
  if (!fields) return;
  for (const [key, child] of Object.entries(value)) {
    const field = fields.get(key);
    if (!field) {
      out.push(`${where}.${key}: unknown field`);
      continue;
    }
    if (!field.file) continue;
    if (field.shape === "list" && Array.isArray(child)) {
      child.forEach((c, i) => unknownFields(c, field.file, `${where}.${key}[${i}]`, out));
    } else if (field.shape === "map" && child && typeof child === "object") {
      for (const [k, c] of Object.entries(child)) {
        unknownFields(c, field.file, `${where}.${key}.${k}`, out);
      }
    } else {
      unknownFields(child, field.file, `${where}.${key}`, out);
    }
  }
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
    const problems = [];
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(e.message);
    }
    const dts = path.join(modelsDir, ...obj.apiVersion.split("/"), obj.kind + ".d.ts");
    unknownFields(obj, dts, "data", problems);
    for (const p of problems) console.error(`${where}: ${p}`);
    if (problems.length === 0) checked++;
    failures += problems.length;
  }
}
console.log(`${checked} object(s) valid, ${failures} problem(s)`);
process.exit(failures === 0 ? 0 : 1);
