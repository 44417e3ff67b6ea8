// Reaches Node's process object through globalThis, so it compiles with
// or without @types/node.
const proc: any = (globalThis as any).process;
let input = "";
proc.stdin.setEncoding("utf8");
proc.stdin.on("data", (chunk: string) => (input += chunk));
proc.stdin.on("end", () => {
  const n: bigint = BigInt(input.trim());
  proc.stdout.write((2n * n).toString() + "\n");
});
