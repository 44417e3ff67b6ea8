// Package localsvc runs the servers CodeQuest depends on as local child
// processes: PostgreSQL 15, Redis, MinIO and the mailpit SMTP sink. The test
// harness (package harness) starts them in temporary folders on free ports;
// `codequest dev` starts them on fixed ports with their data under .dev/.
//
// Each service is started from a Spec: the folder that holds its data and
// log, a port (0 picks a free one, and the start is retried if another
// process takes it first), and whether its data must persist. Start
// functions return once the server answers, or fail with the end of its log;
// Stop asks it to shut down cleanly and kills it after a grace period.
//
// Servers run in their own process group (a terminal's Ctrl-C reaches only
// the parent, which stops them in order) with a parent-death signal, so they
// die with the parent even when it is killed.
//
// # Requirements
//
// postgresql-15 (binaries in /usr/lib/postgresql/15/bin; as root the server
// runs as the "postgres" user the package creates) and redis-server from
// Debian; minio and mailpit are built from the Go module proxy by
// hack/tools.sh into ~/.cache/codequest (Tools.Path). `make deps` installs
// all of them.
package localsvc
