package localsvc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const redisInstall = "install Redis: apt-get install redis-server"

// RedisSpec is what Redis is started with.
type RedisSpec struct {
	Spec
	// Databases is how many logical databases the server has; 0 is Redis's
	// default, 16.
	Databases int
}

// Redis is a running Redis server, without authentication.
type Redis struct {
	// Addr is the server's host:port.
	Addr string
	proc *process
}

// URL returns the redis:// URL of logical database db.
func (r *Redis) URL(db int) string {
	return fmt.Sprintf("redis://%s/%d", r.Addr, db)
}

// Stop shuts the server down (saving the append-only file, if any).
func (r *Redis) Stop(ctx context.Context) error {
	if err := r.proc.stop(ctx); err != nil {
		return fmt.Errorf("stop redis: %w", err)
	}
	return nil
}

// StartRedis starts redis-server in spec.Dir. With Persist it keeps an
// append-only file there (fsync every second) and reloads it on the next
// start; without, data lives in memory only.
func StartRedis(ctx context.Context, spec RedisSpec) (*Redis, error) {
	path, err := lookPath("redis-server", redisInstall)
	if err != nil {
		return nil, err
	}
	if err := makeDir("redis", spec.Dir); err != nil {
		return nil, err
	}
	databases := spec.Databases
	if databases == 0 {
		databases = 16
	}
	args := []string{"--bind", spec.host(), "--dir", spec.Dir, "--save", "",
		"--databases", strconv.Itoa(databases), "--loglevel", "warning"}
	if spec.host() != "127.0.0.1" {
		args = append(args, "--protected-mode", "no") // clients beyond loopback, no password
	}
	if spec.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	r := &Redis{}
	err = onPorts(ctx, "redis", []int{spec.Port}, func(ports []int) error {
		proc, err := startProcess(procSpec{
			name: "redis", path: path, dir: spec.Dir, stopSig: syscall.SIGTERM,
			args: append([]string{"--port", strconv.Itoa(ports[0])}, args...),
		})
		if err != nil {
			return err
		}
		r.Addr = net.JoinHostPort(spec.host(), strconv.Itoa(ports[0]))
		if err := proc.waitReady(ctx, r.ping); err != nil {
			_ = proc.stop(context.WithoutCancel(ctx))
			return err
		}
		r.proc = proc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ping sends PING over a connection of its own and wants PONG, which Redis
// answers only once it has loaded its data. (A client library would retry
// and log every refused connection while the server starts.)
func (r *Redis) ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Second))
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING: %s", line)
	}
	return nil
}
