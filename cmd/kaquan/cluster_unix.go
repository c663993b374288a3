//go:build unix && !linux

package main

import "syscall"

// nodeProcAttr puts a node started by cluster up in a process group of its own, so that a
// terminal's Ctrl-C reaches cluster up alone (which then stops each node once, gracefully).
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
