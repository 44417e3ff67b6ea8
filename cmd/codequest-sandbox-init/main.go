// Command codequest-sandbox-init is the first process of every sandboxed
// run: the judge executes it in the run's new namespaces, and it builds the
// run's root, sets its limits, starts the program and reports how it
// ended (see package sandbox). It links nothing but the sandbox, so it
// starts in about a millisecond; codequest and judge find it next to
// themselves. It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/codequest-dev/codequest/sandbox"
)

func main() {
	sandbox.Main()
	fmt.Fprintln(os.Stderr, "codequest-sandbox-init: the judge runs this as a sandboxed run's init; it does nothing on its own")
	os.Exit(2)
}
