// Package harness starts the real services CodeQuest's integration tests run
// against (PostgreSQL 15, Redis, MinIO and the mailpit SMTP sink) and gives
// every test its own isolated share of them.
//
// Wire it into a test binary once, in TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// then ask for what a test needs; it is safe in parallel tests:
//
//	func TestStore(t *testing.T) {
//		t.Parallel()
//		db := harness.Postgres(t)  // a fresh, migrated database
//		rdb := harness.Redis(t)    // a logical Redis DB of its own
//		obj := harness.MinIO(t)    // an empty bucket of its own
//		mb := harness.Mail(t)      // SMTP address + mailpit API
//		...
//		msg, err := mb.WaitFor(ctx, "alice-7f3a@example.test")
//	}
//
// or harness.NewEnv(t) for all four at once (their servers start
// concurrently).
//
// # Lifecycle
//
// Each server starts lazily, on the first test that needs it, at most once per
// test binary (package localsvc runs it, as it does for `codequest dev`), and Main stops it and removes its temporary folder after the
// tests ran. Servers run in their own process group with a parent-death
// signal, so they die with the test binary even when it is killed. A test
// never uses a server that was running before the binary started, and nothing
// is skipped: when a binary is missing the test fails and says what to install
// (`make test` installs everything). Startup times are printed to stderr.
//
// # Isolation
//
//   - Postgres: each test gets a database created with
//     CREATE DATABASE ... TEMPLATE codequest_template, where the template was
//     migrated once per binary with package migrations; it is dropped (FORCE)
//     when the test ends. EmptyPostgresURL gives an unmigrated one.
//   - Redis: each test claims a logical database (1..N-1; the claims live in
//     DB 0) and flushes and releases it when it ends. Tests must not FLUSHALL.
//   - MinIO: each test gets a fresh bucket, emptied and removed at the end.
//   - Mail: one mailpit serves every test; use unique recipient addresses,
//     the Mailbox helpers filter by recipient.
//
// # Bringing your own servers
//
// These environment variables replace a started server with an existing one:
//
//	TEST_DATABASE_URL   postgres://user:pass@host:5432/postgres (a role that may
//	                    CREATE DATABASE; each binary makes its own template)
//	TEST_REDIS_URL      redis://host:6379/0 (DB 0 holds the claims; the other
//	                    databases are handed out to tests)
//	TEST_S3_ENDPOINT    host:port or http(s)://host:port, with
//	TEST_S3_ACCESS_KEY and TEST_S3_SECRET_KEY
//	TEST_SMTP_ADDR      host:port of a mailpit SMTP listener, with
//	TEST_MAILPIT_URL    http://host:port of the same mailpit's web API
//
// # Requirements
//
// postgresql-15 (binaries in /usr/lib/postgresql/15/bin; as root the servers
// run as the "postgres" user it creates) and redis-server from Debian; minio
// and mailpit are built from the Go module proxy by hack/tools.sh into
// ~/.cache/codequest on first use.
package harness
