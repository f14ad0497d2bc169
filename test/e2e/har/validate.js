// Validates a HAR file against the HAR 1.2 JSON schema (npm har-validator).
// Usage: node validate.js FILE.har   (exit 0 valid, 1 invalid, with the schema's complaints)
const fs = require("fs");
const validator = require("har-validator");

const har = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
validator
  .har(har)
  .then(() => {
    console.log("valid HAR " + har.log.version + ": " + har.log.entries.length + " entries");
  })
  .catch((error) => {
    console.error("invalid HAR: " + JSON.stringify(error.errors || error.message, null, 1));
    process.exit(1);
  });
