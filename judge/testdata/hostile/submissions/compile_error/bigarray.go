// A few hundred bytes of source, a 100 MiB executable: an initialised array.
package main

import "fmt"

var big = [25 << 20]int32{1}

func main() { fmt.Println(big[0]) }
