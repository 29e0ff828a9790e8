// Validates Gateway API objects (TLSRoute, ...) in rendered manifests against the CRD schemas
// (@kubernetes-models/gateway-api). Usage: node validate-gateway.js <node_modules> <file>
const path = require("path");
const fs = require("fs");
const modules = process.argv[2];
const yaml = require(path.join(modules, "js-yaml"));
const docs = yaml.loadAll(fs.readFileSync(process.argv[3], "utf8")).filter(Boolean);
let checked = 0;
for (const doc of docs) {
  const [group, version] = (doc.apiVersion || "").split("/");
  if (group !== "gateway.networking.k8s.io") continue;
  const Model = require(path.join(modules, "@kubernetes-models/gateway-api", group, version, doc.kind)).default
    || require(path.join(modules, "@kubernetes-models/gateway-api", group, version, doc.kind))[doc.kind];
  new Model(doc).validate();
  checked += 1;
  console.log(`valid ${doc.kind} ${doc.metadata.name}`);
}
console.log(`checked ${checked}`);
