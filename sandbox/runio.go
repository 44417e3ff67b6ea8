package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// runIO is a run's standard input, output and error as the init gets them,
// and what is captured of them.
type runIO struct {
	stdin, stdout, stderr *os.File
	// closeAfterStart are the judge's copies of the run's ends.
	closeAfterStart []*os.File
	closeAtEnd      []*os.File
	spec            Spec
	wg              sync.WaitGroup
	outBuf, errBuf  bytes.Buffer
	outOver         bool
	over            chan struct{} // gets a value when stdout overflows
}

// openIO prepares the run's descriptors. A regular file given as stdin is
// handed over as a private, sealed copy (privateInput): the file's own
// descriptor would show its host path (the test's name) in
// /proc/self/fd/0.
func openIO(spec Spec, lim Limits) (*runIO, error) {
	r := &runIO{spec: spec, over: make(chan struct{}, 1)}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	switch in := spec.Stdin; {
	case in == nil:
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		r.stdin = f
		r.closeAtEnd = append(r.closeAtEnd, f)
	default:
		fi, err := in.Stat()
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		if !fi.Mode().IsRegular() {
			r.stdin = in
			break
		}
		f, err := privateInput(in)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		r.stdin = f
		r.closeAtEnd = append(r.closeAtEnd, f)
	}
	r.stdout = spec.Stdout
	if r.stdout == nil {
		rd, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		r.stdout = w
		r.closeAfterStart = append(r.closeAfterStart, w)
		r.closeAtEnd = append(r.closeAtEnd, rd)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if capture(rd, &r.outBuf, lim.Output) {
				r.outOver = true
				r.over <- struct{}{}
			}
		}()
	}
	r.stderr = spec.Stderr
	if r.stderr == nil {
		rd, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		r.stderr = w
		r.closeAfterStart = append(r.closeAfterStart, w)
		r.closeAtEnd = append(r.closeAtEnd, rd)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			capture(rd, &r.errBuf, lim.Stderr)
			io.Copy(io.Discard, rd)
		}()
	}
	ok = true
	return r, nil
}

// started closes the judge's copies of the run's ends once the init has
// them (and, with closeFiles, the caller's pipes: Spec.CloseFiles).
func (r *runIO) started(closeFiles bool) {
	for _, f := range r.closeAfterStart {
		f.Close()
	}
	r.closeAfterStart = nil
	if closeFiles {
		for _, f := range []*os.File{r.spec.Stdin, r.spec.Stdout, r.spec.Stderr} {
			if f != nil {
				f.Close()
			}
		}
	}
}

// output waits for the captures to end (the run's ends are closed) and
// returns them.
func (r *runIO) output() (stdout, stderr []byte, overflow bool) {
	r.wg.Wait()
	return r.outBuf.Bytes(), r.errBuf.Bytes(), r.outOver
}

func (r *runIO) close() {
	for _, f := range r.closeAfterStart {
		f.Close()
	}
	for _, f := range r.closeAtEnd {
		f.Close()
	}
	r.wg.Wait()
}

// privateInput copies the regular file in into a sealed memfd named
// "stdin": the run reads, seeks and maps it as it would the file, but its
// descriptor names no host path and it cannot be written.
func privateInput(in *os.File) (*os.File, error) {
	fd, err := unix.MemfdCreate("stdin", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "stdin")
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy input: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal input: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// capture copies r into buf up to limit bytes and reports whether more
// than limit bytes were offered.
func capture(r io.Reader, buf *bytes.Buffer, limit int64) bool {
	n, _ := io.Copy(buf, io.LimitReader(r, limit))
	if n < limit {
		return false
	}
	var one [1]byte
	m, _ := r.Read(one[:])
	return m > 0
}
