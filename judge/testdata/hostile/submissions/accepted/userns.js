// A user namespace through the unshare tool (uid 0 inside with -r).
const { spawnSync } = require("child_process");
const r = spawnSync("unshare", ["-Ur", "id", "-u"]);
if (r.status === 0 && String(r.stdout).trim() === "0") {
  console.log("LEAK user namespace by unshare -Ur");
} else {
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n");
  const t = Number(lines[0]);
  const out = [];
  for (let i = 1; i <= t; i++) {
    const [a, b] = lines[i].split(" ").map(BigInt);
    out.push(String(a + b));
  }
  console.log(out.join("\n"));
}
