package agent

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a small child process (no shell scripts): the
// command after render, the program started by `agent exec`.
const helperEnv = "VAULTKUBE_AGENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	if _, err := os.Stat(vaultBinary()); err != nil {
		fmt.Fprintf(os.Stderr, "\n*** agent: the integration tests and benchmarks are SKIPPED: no Vault binary at %s; "+
			"run `make deps` to build it (or set VAULTKUBE_VAULT_BIN) ***\n\n", vaultBinary())
	}
	code := m.Run()
	stopSharedVault()
	os.Exit(code)
}

// helperMain runs one helper action:
//
//	exit N            exit with status N
//	touch PATH        create PATH (a command after render)
//	printenv NAME...  print NAME=value lines (value "<unset>" when missing)
//	trap FILE         write "ready" to FILE, then wait: SIGTERM → print "got SIGTERM", exit 42;
//	                  SIGUSR1 → print "got SIGUSR1" and keep waiting; 30 s → exit 3
//	sleep             sleep 30 s without handling signals
func helperMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no action")
		return 2
	}
	switch args[0] {
	case "exit":
		var n int
		fmt.Sscanf(args[1], "%d", &n)
		return n
	case "touch":
		if err := os.WriteFile(args[1], []byte("touched\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "printenv":
		for _, name := range args[1:] {
			v, ok := os.LookupEnv(name)
			if !ok {
				v = "<unset>"
			}
			fmt.Printf("%s=%s\n", name, v)
		}
		return 0
	case "trap":
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1)
		if err := os.WriteFile(args[1], []byte("ready"), 0o644); err != nil {
			return 1
		}
		timeout := time.After(30 * time.Second)
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					fmt.Println("got SIGUSR1")
					continue
				}
				fmt.Println("got SIGTERM")
				return 42
			case <-timeout:
				return 3
			}
		}
	case "sleep":
		time.Sleep(30 * time.Second)
		return 0
	case "sleep-ms":
		var ms int
		fmt.Sscanf(args[1], "%d", &ms)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return 0
	case "fork-and-exit":
		// Start a grandchild that outlives us by a little, print its pid, exit without
		// waiting: the grandchild is orphaned.
		self, _ := os.Executable()
		c := exec.Command(self, "sleep-ms", "200")
		c.Env = os.Environ()
		if err := c.Start(); err != nil {
			return 1
		}
		fmt.Println(c.Process.Pid)
		return 0
	case "orphan-check":
		// Orphan a process, wait until it has exited, then report whether it was reaped
		// (gone from /proc) or is a zombie.
		self, _ := os.Executable()
		c := exec.Command(self, "fork-and-exit")
		c.Env = os.Environ()
		out, err := c.Output()
		if err != nil {
			return 1
		}
		var pid int
		fmt.Sscanf(string(out), "%d", &pid)
		time.Sleep(time.Second)
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		switch {
		case err != nil:
			fmt.Println("orphan reaped")
		case strings.Contains(string(stat), ") Z "):
			fmt.Println("orphan is a zombie")
		default:
			fmt.Println("orphan still running")
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown action", args[0])
	return 2
}

// helperArgv returns argv running the test binary as helper; the caller sets helperEnv.
func helperArgv(t testing.TB, args ...string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{self}, args...)
}
