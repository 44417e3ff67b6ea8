// A user namespace through the unshare tool, from TypeScript (Node's
// modules reached without @types/node, as the judge compiles).
declare const require: any;
const { spawnSync } = require("child_process");
const { readFileSync } = require("fs");

const r = spawnSync("unshare", ["-Ur", "id", "-u"]);
if (r.status === 0 && String(r.stdout).trim() === "0") {
  console.log("LEAK user namespace by unshare -Ur");
} else {
  const lines: string[] = readFileSync(0, "utf8").trim().split("\n");
  const t = Number(lines[0]);
  const out: string[] = [];
  for (let i = 1; i <= t; i++) {
    const [a, b] = lines[i].split(" ").map((x: string) => BigInt(x));
    out.push(String(a + b));
  }
  console.log(out.join("\n"));
}
