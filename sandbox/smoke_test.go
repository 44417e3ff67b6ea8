package sandbox

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	s := newTestSandbox(t, Config{})
	res, err := s.Run(context.Background(), Spec{Args: []string{"/bin/sh", "-c", "echo hi; id; hostname; ls /; cat /proc/1/cmdline; ls /proc"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v\nout=%s\nerr=%s", res, res.Stdout, res.Stderr)
	t.Logf("%+v", s.Layers())
}
