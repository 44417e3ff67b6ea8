// fs.watch (inotify) on a read-only toolchain folder.
const fs = require("fs");
let leaked = false;
try {
  const w = fs.watch("/usr/bin");
  w.close();
  leaked = true;
} catch (e) {
  // blocked
}
if (leaked) {
  console.log("LEAK inotify watch");
} else {
  const lines = fs.readFileSync(0, "utf8").trim().split("\n");
  const out = [];
  for (let i = 1; i <= Number(lines[0]); i++) {
    const [a, b] = lines[i].split(" ").map(BigInt);
    out.push(String(a + b));
  }
  console.log(out.join("\n"));
}
