const lines = require("fs").readFileSync(0, "utf8").trim().split(/\s+/);
console.log((2n * BigInt(lines[0])).toString());
