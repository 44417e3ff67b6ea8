package sandbox_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/codequest-dev/codequest/sandbox"
	"github.com/codequest-dev/codequest/sandbox/sandboxtest"
)

// The dedicated init runs programs like the re-executed test binary does,
// and refuses a judge built from other sources.
func TestDedicatedInit(t *testing.T) {
	init := sandboxtest.BuildInit(t)
	s, err := sandbox.New(context.Background(), sandbox.Config{InitPath: init})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo hi"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("run: %v %q %q", err, res.Stdout, res.Stderr)
	}

	// A judge of another protocol: the init reports why and runs nothing.
	cfgR, cfgW, _ := os.Pipe()
	repR, repW, _ := os.Pipe()
	cmd := &exec.Cmd{Path: init, Args: []string{"codequest-sandbox-init"}, Env: []string{"CODEQUEST_SANDBOX_INIT=0"},
		ExtraFiles: []*os.File{cfgR, repW}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cfgR.Close()
	repW.Close()
	cfgW.WriteString(`{"args":["/bin/touch","/tmp/ran"]}`)
	cfgW.Close()
	rep, _ := io.ReadAll(repR)
	if err := cmd.Wait(); err == nil {
		t.Error("init of another protocol exited 0")
	}
	if !strings.Contains(string(rep), "built from other sources") {
		t.Errorf("report %q, want the protocol refusal", rep)
	}

	// Run by hand it says what it is for.
	out, err := exec.Command(init).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sandboxed run's init") {
		t.Errorf("run by hand: %v %q", err, out)
	}
}
